package app

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/daytonaprovider"
	"github.com/sandstep/sandstep/internal/notify"
	"github.com/sandstep/sandstep/internal/service"
)

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
		drained, err := e.Drain()
		if err != nil {
			return nil, err
		}
		cfg := e.Config
		provider := daytonaprovider.New(dc, daytonaprovider.Options{Target: cfg.DaytonaTarget})
		deps := service.Deps{
			Provider:    provider,
			Sandboxes:   st,
			Quota:       st,
			Idempotency: st,
			Audit:       st,
			Secrets:     callerSecrets.Strings(),
			Inventory:   st,
			Catalog:     provider,
			AuditLog:    st,
			Quotas:      st,
			Drain:       drained,
		}
		bucket, err := e.Objects()
		if err != nil {
			return nil, err
		}
		machine, err := e.Machine()
		if err != nil {
			return nil, err
		}
		// Tasks need the bucket and the state machine; a deployment
		// without them serves sandboxes only.
		if bucket != nil && machine != nil {
			deps.Tasks, deps.Objects, deps.Machine, deps.Sessions, deps.Files = st, bucket, machine, provider, provider
			deps.Notifier = notify.NewSender(notify.Options{Local: cfg.Local()})
		}
		if err := e.gitHubDeps(ctx, &deps); err != nil {
			return nil, err
		}
		e.readerDeps(&deps)
		return service.New(deps, service.Options{
			Limits: service.Limits{
				DefaultAutoStopMinutes: cfg.DefaultAutoStopMinutes,
				DefaultTTLMinutes:      cfg.DefaultTTLMinutes,
				MaxTTLMinutes:          cfg.MaxTTLMinutes,
				DefaultExecTimeout:     cfg.DefaultExecTimeout,
				MaxExecTimeout:         cfg.MaxExecTimeout,
				ExecTimeoutMargin:      cfg.ExecTimeoutMargin,
				MaxOutputBytes:         cfg.MaxOutputBytes,
				MaxTaskDuration:        cfg.MaxTaskDuration,
				CapacityWait:           cfg.CapacityWait,
				QueueTimeout:           cfg.GitHubQueueTimeout,
				TaskBackstop:           cfg.TaskBackstop,
				MaxTaskLogBytes:        int64(cfg.MaxTaskLogBytes),
				NetworkCeiling:         cfg.NetworkPolicy,
			},
			NudgeURL:       cfg.APIURL,
			NotifyRetryFor: cfg.NotifyRetryFor,
			Deployment:     e.Deployment,
			Prices:         e.Prices,
			Logger:         e.Logger,
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
		return api.New(svc, api.Options{MaxBodyBytes: e.Config.MaxBodyBytes, Logger: e.Logger, APIURL: e.Config.APIURL, GitHub: e.GitHubOptions(),
			Admin: api.AdminOptions{Claim: e.Config.AdminClaim, Group: e.Config.AdminGroup}, Metrics: e.Metrics}), nil
	})
}
