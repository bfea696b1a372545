package app

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/sandstep/sandstep/internal/awsjson"
	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/drain"
	"github.com/sandstep/sandstep/internal/dynamo"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/secrets"
	"github.com/sandstep/sandstep/internal/store"
)

// dynamoDB returns the store's DynamoDB client.
func (e *Env) dynamoDB() (*dynamo.Client, error) {
	return once(e, "dynamodb", func() (*dynamo.Client, error) {
		opts := dynamo.Options{Count: countDynamoDB}
		opts.Endpoint = cmp.Or(e.Config.DynamoDBEndpoint, e.Endpoint("DYNAMODB"))
		db, err := dynamo.New(e.AWS, opts)
		if err != nil {
			return nil, fmt.Errorf("dynamodb client: %w", err)
		}
		return db, nil
	})
}

// Store returns the DynamoDB store.
func (e *Env) Store() (*store.Store, error) {
	return once(e, "store", func() (*store.Store, error) {
		cfg := e.Config
		db, err := e.dynamoDB()
		if err != nil {
			return nil, err
		}
		st, err := store.New(db, cfg.TableName, store.Options{
			DefaultQuota: cfg.DefaultUserQuota, RepoQuota: cfg.GitHubRepoQuota, IdempotencyTTL: cfg.IdempotencyTTL,
			CreateRate:    cfg.DaytonaCreateRate,
			TaskRetention: time.Duration(cfg.TaskRetentionDays) * 24 * time.Hour,
		})
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		return st, nil
	})
}

// secretClients are the SSM and Secrets Manager clients the resolvers
// use: awsjson's, not the SDK's, whose generated clients would cost each
// bootstrap most of a megabyte for the one operation of each it calls.
type secretClients struct {
	ssm *awsjson.SSM
	sm  *awsjson.SecretsManager
}

func (e *Env) secretClients() (secretClients, error) {
	return once(e, "secretClients", func() (secretClients, error) {
		ssm, err := awsjson.NewSSM(e.AWS, awsjson.Options{Endpoint: e.Endpoint("SSM")})
		if err != nil {
			return secretClients{}, fmt.Errorf("ssm client: %w", err)
		}
		sm, err := awsjson.NewSecretsManager(e.AWS, awsjson.Options{Endpoint: e.Endpoint("SECRETS_MANAGER")})
		if err != nil {
			return secretClients{}, fmt.Errorf("secrets manager client: %w", err)
		}
		return secretClients{ssm: ssm, sm: sm}, nil
	})
}

// CallerSecrets returns the resolver of the secret references callers
// name (secretEnv, git.tokenSecret): only those in the caller's own tree
// below the deployment's prefixes and the shared ones (secrets.Scopes),
// and every value resolved is taught to the logger's redactor. Nothing is
// cached: a caller's secret is read each time it is asked for, so a
// rotated one is used rotated and a deleted one fails at once (README: a
// task's notify.secretRef is read at every attempt). The deployment's own
// secrets (deploymentSecret) are read once per cold start, and the
// Daytona key, the App's key and the webhook secret again (at most once
// every secretRetry) after they were refused.
func (e *Env) CallerSecrets() (*secrets.Resolver, error) {
	return once(e, "callerSecrets", func() (*secrets.Resolver, error) {
		c, err := e.secretClients()
		if err != nil {
			return nil, err
		}
		scopes, err := e.Config.SecretScopes()
		if err != nil {
			return nil, fmt.Errorf("secret scopes: %w", err)
		}
		return secrets.NewResolver(c.ssm, c.sm, secrets.WithOnResolve(e.Redactor.Add), secrets.WithScopes(scopes)), nil
	})
}

// Drain returns the drain switch (DRAIN_PARAMETER), read with the SSM
// client the secrets use.
func (e *Env) Drain() (*drain.Switch, error) {
	return once(e, "drain", func() (*drain.Switch, error) {
		c, err := e.secretClients()
		if err != nil {
			return nil, err
		}
		return drain.New(c.ssm, e.Config.DrainParameter, drain.Options{MaxAge: e.drainMaxAge, Logger: e.Logger}), nil
	})
}

// deploymentSecret is one of the deployment's own secrets (never a
// caller's: these references lie outside the prefixes callers may name):
// the plain value make local gives, else what ref names. Either way the
// redactor learns it.
func (e *Env) deploymentSecret(ctx context.Context, name, plain string, ref secrets.Ref) (string, error) {
	if plain != "" {
		e.Redactor.Add(plain)
		return plain, nil
	}
	c, err := e.secretClients()
	if err != nil {
		return "", err
	}
	v, err := secrets.NewResolver(c.ssm, c.sm).Resolve(ctx, ref)
	switch code := sandstep.ErrorCode(err); {
	case err == nil:
	case code == sandstep.ETRANSIENT || code == sandstep.ETIMEOUT:
		// The caller may try again, but the resolver's message names the
		// parameter, the deployment's own: it stays in the cause, logged.
		return "", sandstep.Wrap(err, code, "%s is temporarily unavailable; try again", name)
	default:
		// The resolver answers a caller's reference not found or not
		// readable as the caller's mistake (invalid_input, naming it); the
		// deployment's own is the deployment's: a 500 and a fault, its
		// cause logged, never a 400 that names the parameter to a caller
		// (the webhook's has no JWT).
		return "", sandstep.Wrap(err, sandstep.EINTERNAL, "%s could not be read", name)
	}
	e.Redactor.Add(v)
	return v, nil
}

// Daytona returns the Daytona client, reading its API key (at cold start,
// from the reference DAYTONA_API_KEY_REF names, or locally the plain key).
func (e *Env) Daytona(ctx context.Context) (*daytona.Client, error) {
	return once(e, "daytona", func() (*daytona.Client, error) {
		cfg := e.Config
		apiKey, err := e.deploymentSecret(ctx, "DAYTONA_API_KEY_REF", cfg.DaytonaAPIKey.Reveal(), cfg.DaytonaAPIKeyRef)
		if err != nil {
			return nil, err
		}
		dc, err := daytona.New(daytona.Config{
			APIKey:         apiKey,
			APIURL:         cfg.DaytonaAPIURL,
			Target:         cfg.DaytonaTarget,
			HTTPClient:     e.httpClient,
			MaxOutputBytes: int64(cfg.MaxOutputBytes),
			// The client's own delete of a sandbox that never started must
			// fit in the service's cleanup reserve (12 s), beside the
			// service's.
			CleanupTimeout: 5 * time.Second,
			Logger:         e.Logger,
			RereadKey:      e.rereadDaytonaKey(),
		})
		if err != nil {
			return nil, fmt.Errorf("daytona client: %w", err)
		}
		return dc, nil
	})
}

// rereadDaytonaKey reads DAYTONA_API_KEY_REF again after Daytona refused
// the key held, at most once every secretRetry: a key the operator put in
// the parameter before revoking the old one is taken up by a warm
// instance. make local's plain key is never read again.
func (e *Env) rereadDaytonaKey() func(ctx context.Context) (string, error) {
	cfg := e.Config
	if cfg.DaytonaAPIKey != "" {
		return nil
	}
	return newRereader(e, "DAYTONA_API_KEY_REF", cfg.DaytonaAPIKeyRef,
		"the Daytona API key was not read again after Daytona refused the one held").reread
}

// Deployment returns the deployment's id, the label of every sandbox it
// creates: STACK_NAME and a suffix kept in the table, read on an
// instance's first create or reap (status, exec and delete never need it).
func (e *Env) Deployment(ctx context.Context) (string, error) {
	return once(e, "deployment", func() (string, error) {
		st, err := e.Store()
		if err != nil {
			return "", err
		}
		id, err := st.Deployment(ctx, e.Config.StackName)
		if err != nil {
			return "", fmt.Errorf("deployment id: %w", err)
		}
		return id, nil
	})
}
