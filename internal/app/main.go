package app

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

// Main is the body of every function's main: build the App once per cold
// start and serve function ("create", "execute", "status", "delete") to the
// Lambda runtime. A configuration error stops the function at init with a
// message naming the variable (Lambda shows it as an init error).
func Main(function string) {
	a, err := New(context.Background(), Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandstep %s: %v\n", function, err)
		os.Exit(1)
	}
	a.Logger.Info("cold start", "function", function, "config", a.Config)
	// aws-lambda-go prints every function error with the standard log
	// package: a plain-text line outside the JSON logger and its
	// redaction, repeating what the edge already logged with its
	// requestId (panics included, with their stack). Nothing else in
	// sandstep uses the standard logger.
	log.SetOutput(io.Discard)
	lambda.Start(a.API.Handler(function))
}
