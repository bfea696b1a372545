package app

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/daytonaprovider"
	"github.com/sandstep/sandstep/internal/service"
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
	e, err := NewEnv(Options{})
	var h lambda.Handler
	if err == nil {
		h, err = f.Wire(context.Background(), e)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandstep %s: %v\n", f.Name, err)
		os.Exit(1)
	}
	e.Logger.Info("cold start", "function", f.Name, "config", e.Config)
	// aws-lambda-go prints every function error with the standard log
	// package: a plain-text line outside the JSON logger and its
	// redaction, repeating what the edge already logged with its requestId
	// (panics included, with their stack). Nothing else in sandstep uses
	// the standard logger.
	log.SetOutput(io.Discard)
	lambda.Start(h)
}

// Lifecycle is one of the four lifecycle functions (api.Functions): the
// API edge over the service, serving its HTTP routes and direct actions.
func Lifecycle(name string) Function {
	return Function{Name: name, Wire: func(ctx context.Context, e *Env) (lambda.Handler, error) {
		a, err := e.API(ctx)
		if err != nil {
			return nil, err
		}
		return a.Handler(name), nil
	}}
}

// Service returns the sandbox service over Daytona and the store.
func (e *Env) Service(ctx context.Context) (*service.Service, error) {
	return once(e, "service", func() (*service.Service, error) {
		st, err := e.Store()
		if err != nil {
			return nil, err
		}
		dc, err := e.Daytona(ctx)
		if err != nil {
			return nil, err
		}
		callerSecrets, err := e.CallerSecrets()
		if err != nil {
			return nil, err
		}
		deployment, err := e.Deployment(ctx)
		if err != nil {
			return nil, err
		}
		cfg := e.Config
		provider := daytonaprovider.New(dc, daytonaprovider.Options{Target: cfg.DaytonaTarget})
		return service.New(service.Deps{
			Provider:    provider,
			Sandboxes:   st,
			Quota:       st,
			Idempotency: st,
			Audit:       st,
			Secrets:     callerSecrets.Strings(),
			Inventory:   st,
			Catalog:     provider,
		}, service.Options{
			Limits: service.Limits{
				DefaultAutoStopMinutes: cfg.DefaultAutoStopMinutes,
				DefaultTTLMinutes:      cfg.DefaultTTLMinutes,
				MaxTTLMinutes:          cfg.MaxTTLMinutes,
				DefaultExecTimeout:     cfg.DefaultExecTimeout,
				MaxExecTimeout:         cfg.MaxExecTimeout,
				ExecTimeoutMargin:      cfg.ExecTimeoutMargin,
				MaxOutputBytes:         cfg.MaxOutputBytes,
			},
			Deployment: deployment,
			Logger:     e.Logger,
		})
	})
}

// API returns the Lambda edge over the service.
func (e *Env) API(ctx context.Context) (*api.API, error) {
	return once(e, "api", func() (*api.API, error) {
		svc, err := e.Service(ctx)
		if err != nil {
			return nil, err
		}
		return api.New(svc, api.Options{MaxBodyBytes: e.Config.MaxBodyBytes, Logger: e.Logger}), nil
	})
}
