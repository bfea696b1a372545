// Package app wires sandstep's pieces together once per cold start: it
// loads the configuration, builds the logger, the AWS clients, the store,
// the secret resolvers, the Daytona client, the service and the API
// adapter. Every function's main.go and the local stack call New; nothing
// else constructs these.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/config"
	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/daytonaprovider"
	"github.com/sandstep/sandstep/internal/logging"
	"github.com/sandstep/sandstep/internal/secrets"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/store"
)

// Options say where configuration comes from and where logs go.
type Options struct {
	// Getenv is the configuration source; nil means os.Getenv.
	Getenv func(string) string
	// LogWriter receives the logs; nil means os.Stdout.
	LogWriter io.Writer
	// HTTPClient is used for Daytona; nil means the client's default.
	HTTPClient *http.Client
}

// App is one process's worth of sandstep.
type App struct {
	API      *api.API
	Service  *service.Service
	Store    *store.Store
	Daytona  *daytona.Client
	Config   config.Config
	Logger   *slog.Logger
	Redactor *logging.Redactor
}

// New builds the application. An error names what is wrong (a variable,
// an unreadable key) and never carries a secret value.
func New(ctx context.Context, opts Options) (*App, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	w := opts.LogWriter
	if w == nil {
		w = os.Stdout
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration:\n%w", err)
	}
	redactor := logging.NewRedactor()
	logger := logging.New(w, logging.Options{Level: cfg.LogLevel, Format: cfg.LogFormat, Redactor: redactor})

	awsCfg, err := loadAWS(cfg, getenv)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = endpoint(getenv, "DYNAMODB")
		if cfg.DynamoDBEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.DynamoDBEndpoint)
			// An endpoint override is a local stand-in (minidyn), which
			// sends no CRC32 header.
			o.DisableValidateResponseChecksum = true
		}
	})
	st, err := store.New(db, cfg.TableName, store.Options{DefaultQuota: cfg.DefaultUserQuota})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}

	ssmClient := ssm.NewFromConfig(awsCfg, func(o *ssm.Options) { o.BaseEndpoint = endpoint(getenv, "SSM") })
	smClient := secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) { o.BaseEndpoint = endpoint(getenv, "SECRETS_MANAGER") })
	apiKey := cfg.DaytonaAPIKey.Reveal()
	if apiKey == "" {
		keys := secrets.NewResolver(ssmClient, smClient)
		if apiKey, err = keys.Resolve(ctx, cfg.DaytonaAPIKeyRef); err != nil {
			return nil, fmt.Errorf("DAYTONA_API_KEY_REF: %w", err)
		}
	}
	redactor.Add(apiKey)
	// Callers name their own secret references; they may only name those
	// under the deployment's prefixes.
	callerSecrets := secrets.NewResolver(ssmClient, smClient,
		secrets.WithOnResolve(redactor.Add),
		secrets.WithAllowedPrefixes("ssm:"+cfg.SecretsSSMPrefix, "secretsmanager:"+cfg.SecretsManagerPrefix))

	dc, err := daytona.New(daytona.Config{
		APIKey:         apiKey,
		APIURL:         cfg.DaytonaAPIURL,
		Target:         cfg.DaytonaTarget,
		HTTPClient:     opts.HTTPClient,
		MaxOutputBytes: int64(cfg.MaxOutputBytes),
		// The client's own delete of a sandbox that never started must fit
		// in the service's cleanup reserve (12 s), beside the service's.
		CleanupTimeout: 5 * time.Second,
		Logger:         logger,
	})
	if err != nil {
		return nil, fmt.Errorf("daytona client: %w", err)
	}
	svc := service.New(daytonaprovider.New(dc, daytonaprovider.Options{Target: cfg.DaytonaTarget}), st, callerSecrets.Strings(), service.Options{
		DefaultAutoStopMinutes: cfg.DefaultAutoStopMinutes,
		DefaultTTLMinutes:      cfg.DefaultTTLMinutes,
		MaxTTLMinutes:          cfg.MaxTTLMinutes,
		DefaultExecTimeout:     cfg.DefaultExecTimeout,
		MaxExecTimeout:         cfg.MaxExecTimeout,
		ExecTimeoutMargin:      cfg.ExecTimeoutMargin,
		MaxOutputBytes:         cfg.MaxOutputBytes,
		IdempotencyTTL:         cfg.IdempotencyTTL,
		Logger:                 logger,
	})
	return &App{
		API:      api.New(svc, api.Options{MaxBodyBytes: cfg.MaxBodyBytes, Logger: logger}),
		Service:  svc,
		Store:    st,
		Daytona:  dc,
		Config:   cfg,
		Logger:   logger,
		Redactor: redactor,
	}, nil
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

// endpoint returns the endpoint override for a service, as the AWS SDKs
// read it: AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL, else none.
func endpoint(getenv func(string) string, service string) *string {
	for _, name := range []string{"AWS_ENDPOINT_URL_" + service, "AWS_ENDPOINT_URL"} {
		if v := getenv(name); v != "" {
			return aws.String(v)
		}
	}
	return nil
}
