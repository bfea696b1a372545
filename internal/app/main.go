package app

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
)

// Function is one Lambda function: its name (the last element of its
// CodeUri in template.yaml) and how to build its handler from an Env. A
// new kind of function (a scheduled job, a webhook) is a Function whose
// Wire builds what it needs from the Env, in a package of its own, so that
// only its bootstrap links its clients.
type Function struct {
	Name string
	Wire func(ctx context.Context, e *Env) (lambda.Handler, error)
}

// Main is the body of every function's main: build f once per cold start
// and serve it to the Lambda runtime. A configuration error stops the
// function at init with a message naming the variable (Lambda shows it as
// an init error).
func Main(f Function) {
	if limit, ok := memoryLimit(os.Getenv); ok {
		debug.SetMemoryLimit(limit)
	}
	e, err := NewEnv(Options{})
	var h lambda.Handler
	if err == nil {
		h, err = f.Wire(context.Background(), e)
	}
	if err != nil {
		// Each line is a log event of its own in Lambda: every one names
		// the function, so a search for it finds the variables' lines too.
		for line := range strings.SplitSeq(err.Error(), "\n") {
			fmt.Fprintf(os.Stderr, "sandstep %s: %s\n", f.Name, line)
		}
		os.Exit(1)
	}
	e.Logger.Info("cold start", "function", f.Name, "config", e.Config)
	// aws-lambda-go prints every function error with the standard log
	// package: a plain-text line outside the JSON logger and its
	// redaction, repeating what the edge already logged with its requestId
	// (panics included, with their stack). Nothing else in sandstep uses
	// the standard logger.
	log.SetOutput(io.Discard)
	// Last: the warm-ups' dials would take the CPU from the lines above;
	// here they overlap the runtime's fetch of the first event.
	e.warm()
	lambda.Start(runtimeHandler(h))
}

// memoryLimit is the Go runtime's soft memory limit in a function of
// AWS_LAMBDA_FUNCTION_MEMORY_SIZE megabytes: 90% of it, so that the
// collector works harder before Lambda kills the process for its memory
// (a task's collect dies with its artifacts). None when GOMEMLIMIT says
// otherwise or the size is unknown.
func memoryLimit(getenv func(string) string) (int64, bool) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	mb, err := strconv.ParseInt(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), 10, 64)
	if err != nil || mb <= 0 {
		return 0, false
	}
	return mb << 20 / 10 * 9, true
}

// runtimeHandler is what the Lambda runtime is handed for h: what h says
// (api.Handler.Runtime: the function itself, for JSON answers), else h.
func runtimeHandler(h lambda.Handler) any {
	if r, ok := h.(interface{ Runtime() any }); ok {
		return r.Runtime()
	}
	return h
}
