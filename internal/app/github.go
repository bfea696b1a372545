package app

import (
	"context"
	"fmt"

	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/repos"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/secrets"
	"github.com/sandstep/sandstep/internal/webhook"
)

// deploymentSecret resolves one of the deployment's own secrets (never a
// caller's: these references lie outside the prefixes callers may name),
// teaching its value to the redactor.
func (e *Env) deploymentSecret(ctx context.Context, name string, ref secrets.Ref) (string, error) {
	c, err := e.secretClients()
	if err != nil {
		return "", err
	}
	v, err := secrets.NewResolver(c.ssm, c.sm).Resolve(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	e.Redactor.Add(v)
	return v, nil
}

// GitHubOptions are the webhook's: its secret, read on first use (a
// function without the route never reads it), and the triggers.
func (e *Env) GitHubOptions() api.GitHubOptions {
	cfg := e.Config
	if cfg.GitHubWebhookSecretRef.IsZero() && cfg.GitHubWebhookSecret == "" {
		return api.GitHubOptions{}
	}
	return api.GitHubOptions{
		Secret: func(ctx context.Context) ([]byte, error) {
			v, err := once(e, "webhookSecret", func() (string, error) {
				if s := cfg.GitHubWebhookSecret.Reveal(); s != "" {
					e.Redactor.Add(s)
					return s, nil
				}
				return e.deploymentSecret(ctx, "GITHUB_WEBHOOK_SECRET_REF", cfg.GitHubWebhookSecretRef)
			})
			return []byte(v), err
		},
		Triggers: webhook.Triggers{Label: cfg.GitHubTriggerLabel, Command: cfg.GitHubTriggerCommand},
	}
}

// Repositories is the policy of which repositories' issues run tasks:
// GITHUB_CONFIG_REF's document; without one, every repository locally and
// none in AWS.
func (e *Env) Repositories(ctx context.Context) (*repos.Policy, error) {
	return once(e, "repositories", func() (*repos.Policy, error) {
		cfg := e.Config
		if cfg.GitHubConfigRef.IsZero() {
			if cfg.Local() {
				e.Logger.Info("GITHUB_CONFIG_REF is not set: every repository's issues run the default task")
				return repos.AllowAll(), nil
			}
			return nil, nil
		}
		doc, err := e.deploymentSecret(ctx, "GITHUB_CONFIG_REF", cfg.GitHubConfigRef)
		if err != nil {
			return nil, err
		}
		p, err := repos.Parse([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("GITHUB_CONFIG_REF: %s", sandstep.ErrorMessage(err))
		}
		return p, nil
	})
}
