// Package app wires sandstep's pieces together once per cold start. An Env
// holds what every function shares (configuration, logger, AWS
// configuration) and builds the rest (store, Daytona client, service, API)
// on first use, so each function builds, and its bootstrap links, only what
// its actions use. A Function names a handler and how to wire it; every
// function's main.go is one call of Main, and the local stack wires the
// same Functions.
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/config"
	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/dynamo"
	"github.com/sandstep/sandstep/internal/logging"
)

// Options say where configuration comes from and where logs go.
type Options struct {
	// Getenv is the configuration source; nil means os.Getenv.
	Getenv func(string) string
	// LogWriter receives the logs; nil means os.Stdout.
	LogWriter io.Writer
	// MetricsWriter receives the metrics' EMF lines; nil means os.Stdout,
	// where CloudWatch Logs reads them in Lambda.
	MetricsWriter io.Writer
	// HTTPClient is used for Daytona; nil means the client's default.
	HTTPClient *http.Client
	// DrainMaxAge is how long an instance trusts its read of the drain
	// switch (drain.Options.MaxAge): 0, and at most, drain.MaxAge;
	// negative: every call reads (the local stack's tests).
	DrainMaxAge time.Duration
}

// Env is one process's worth of sandstep: what every function shares, and
// the clients built from it on first use. It is safe for concurrent use
// (clients are built through once, under e.mu).
type Env struct {
	Config   config.Config
	Logger   *slog.Logger
	Redactor *logging.Redactor
	// Metrics is where each invocation's metrics go.
	Metrics api.MetricsOptions
	// AWS is the AWS configuration the Lambda runtime provides.
	AWS aws.Config

	getenv      func(string) string
	httpClient  *http.Client
	drainMaxAge time.Duration
	mu          sync.Mutex
	built       map[string]any // by what: "store", "daytona", ...
	// pricesFailed is the last failure to read the price table, and when.
	pricesFailed struct {
		err error
		at  time.Time
	}
	now func() time.Time // time.Now when nil
}

// NewEnv reads the configuration and builds the logger and the AWS
// configuration; it calls no service. An error names what is wrong (a
// variable) and never carries a secret value.
func NewEnv(opts Options) (*Env, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	w := opts.LogWriter
	if w == nil {
		w = os.Stdout
	}
	mw := opts.MetricsWriter
	if mw == nil {
		mw = os.Stdout
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration:\n%w", err)
	}
	awsCfg, err := loadAWS(cfg, getenv)
	if err != nil {
		return nil, err
	}
	redactor := logging.NewRedactor()
	return &Env{
		Config:      cfg,
		Logger:      logging.New(w, logging.Options{Level: cfg.LogLevel, Format: cfg.LogFormat, Redactor: redactor}),
		Redactor:    redactor,
		Metrics:     api.MetricsOptions{Namespace: cfg.MetricsNamespace, Writer: mw},
		AWS:         awsCfg,
		getenv:      getenv,
		httpClient:  opts.HTTPClient,
		drainMaxAge: opts.DrainMaxAge,
		built:       map[string]any{},
	}, nil
}

// once returns what build made for key the first time it was asked for.
// build runs unlocked (one build calls others through once); two callers
// racing for the same key may both build, and the first result stays.
func once[T any](e *Env, key string, build func() (T, error)) (T, error) {
	e.mu.Lock()
	v, ok := e.built[key]
	e.mu.Unlock()
	if ok {
		return v.(T), nil
	}
	made, err := build()
	if err != nil {
		var zero T
		return zero, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if v, ok := e.built[key]; ok {
		return v.(T), nil
	}
	e.built[key] = made
	return made, nil
}

// built returns what was built for key, if it was.
func built[T any](e *Env, key string) (T, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.built[key].(T)
	return v, ok
}

// warm opens, in the background, the connections a function's first
// answer uses, to DynamoDB and to Daytona's API (whichever its wiring
// built), while the runtime fetches the first event: in AWS each is a DNS
// lookup and a TLS handshake off the first request's path. It returns at
// once; each warm-up gives up after warmTimeout.
func (e *Env) warm() {
	var warmers []func(context.Context)
	if db, ok := built[*dynamo.Client](e, "dynamodb"); ok {
		warmers = append(warmers, db.Warm)
	}
	if dc, ok := built[*daytona.Client](e, "daytona"); ok {
		warmers = append(warmers, dc.Warm)
	}
	for _, w := range warmers {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), warmTimeout)
			defer cancel()
			w(ctx)
		}()
	}
}

// warmTimeout bounds a connection's warm-up.
const warmTimeout = 10 * time.Second

// Endpoint returns the endpoint override for an AWS service, as the AWS
// SDKs read it: AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL, else
// none ("").
func (e *Env) Endpoint(service string) string {
	return cmp.Or(e.getenv("AWS_ENDPOINT_URL_"+service), e.getenv("AWS_ENDPOINT_URL"))
}

// loadAWS builds the AWS configuration from the environment the way the
// Lambda runtime provides it: AWS_REGION and the function role's
// credentials in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN. It does not use config.LoadDefaultConfig, whose
// shared-config, SSO and STS providers a function never needs and which
// cost each bootstrap over a megabyte. Locally, dummy credentials and
// us-east-1 stand in when none are set.
func loadAWS(cfg config.Config, getenv func(string) string) (aws.Config, error) {
	region := getenv("AWS_REGION")
	if region == "" {
		region = getenv("AWS_DEFAULT_REGION")
	}
	if region == "" && cfg.Local() {
		region = "us-east-1"
	}
	if region == "" {
		return aws.Config{}, errors.New("AWS_REGION: required (Lambda sets it)")
	}
	id, secret, token := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SESSION_TOKEN")
	if (id == "" || secret == "") && cfg.Local() {
		id, secret, token = "local", "local", ""
	}
	if id == "" || secret == "" {
		return aws.Config{}, errors.New("AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: required (Lambda sets them from the function's role)")
	}
	return aws.Config{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, token)),
	}, nil
}
