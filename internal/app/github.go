package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/githubapp"
	"github.com/sandstep/sandstep/internal/repos"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/secrets"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/webhook"
)

// GitHubOptions are the webhook's: its secret, read on first use (a
// function without the route never reads it), and the triggers.
func (e *Env) GitHubOptions() api.GitHubOptions {
	cfg := e.Config
	if cfg.GitHubWebhookSecretRef.IsZero() && cfg.GitHubWebhookSecret == "" {
		return api.GitHubOptions{}
	}
	s, _ := once(e, "webhookSecret", func() (*webhookSecret, error) {
		return &webhookSecret{e: e, again: newRereader(e, "GITHUB_WEBHOOK_SECRET_REF", cfg.GitHubWebhookSecretRef,
			"the webhook secret was not read again after a signature that did not match")}, nil
	})
	opts := api.GitHubOptions{
		Secret:   s.get,
		Triggers: webhook.Triggers{Label: cfg.GitHubTriggerLabel, Command: cfg.GitHubTriggerCommand},
	}
	if cfg.GitHubWebhookSecret == "" {
		// make local's plain secret never changes while it runs.
		opts.Reread = s.reread
	}
	return opts
}

// webhookSecret is the webhook's secret as an instance last read it. mu
// is held only to swap the value, never over a read: a delivery whose
// signature verifies is not held behind another's slow read of SSM.
type webhookSecret struct {
	e     *Env
	again *rereader
	mu    sync.Mutex
	value []byte
}

// get is the secret, read on first use (a failed read is not kept).
func (s *webhookSecret) get(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	v := s.value
	s.mu.Unlock()
	if v != nil {
		return v, nil
	}
	cfg := s.e.Config
	read, err := s.e.deploymentSecret(ctx, "GITHUB_WEBHOOK_SECRET_REF", cfg.GitHubWebhookSecret.Reveal(), cfg.GitHubWebhookSecretRef)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.value == nil { // a reread meanwhile is newer
		s.value = []byte(read)
	}
	return s.value, nil
}

// reread is the secret as the rereader has it (read again at most once
// every secretRetry), now the one held; nil when it read nothing (a
// failed read is logged by the rereader).
func (s *webhookSecret) reread(ctx context.Context) []byte {
	v, err := s.again.reread(ctx)
	if err != nil || v == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.value = []byte(v)
	return s.value
}

// Repositories is the policy of which repositories' issues run tasks:
// GITHUB_CONFIG_REF's document; without one, every repository locally and
// nil in AWS (gitHubDeps then ignores every delivery).
func (e *Env) Repositories(ctx context.Context) (*repos.Policy, error) {
	return once(e, "repositories", func() (*repos.Policy, error) {
		cfg := e.Config
		if cfg.GitHubConfigRef.IsZero() {
			if cfg.Local() {
				return repos.AllowAll(), nil
			}
			return nil, nil
		}
		doc, err := e.deploymentSecret(ctx, "GITHUB_CONFIG_REF", "", cfg.GitHubConfigRef)
		if err != nil {
			return nil, err
		}
		p, err := repos.Parse([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("GITHUB_CONFIG_REF: %s", sandstep.ErrorText(err))
		}
		return p, nil
	})
}

// GitHubApp is the client of the GitHub App sandstep acts as, its key read
// on first use; nil without GITHUB_APP_ID.
func (e *Env) GitHubApp(ctx context.Context) (*githubapp.Client, error) {
	return once(e, "githubApp", func() (*githubapp.Client, error) {
		cfg := e.Config
		if cfg.GitHubAppID == 0 {
			return nil, nil
		}
		key, err := e.deploymentSecret(ctx, "GITHUB_APP_KEY_REF", "", cfg.GitHubAppKeyRef)
		if err != nil {
			return nil, err
		}
		// A key the operator rotates is read again after GitHub refuses the
		// one held, at most once every secretRetry.
		again := newRereader(e, "GITHUB_APP_KEY_REF", cfg.GitHubAppKeyRef,
			"the GitHub App's key was not read again after GitHub refused the one held")
		reread := func(ctx context.Context) ([]byte, error) {
			key, err := again.reread(ctx)
			if err != nil || key == "" {
				return nil, err
			}
			return []byte(key), nil
		}
		c, err := githubapp.New(githubapp.Config{BaseURL: cfg.GitHubAPIURL, AppID: int64(cfg.GitHubAppID), PrivateKey: []byte(key), HTTPClient: e.httpClient, RereadKey: reread})
		if err != nil {
			return nil, fmt.Errorf("GITHUB_APP_KEY_REF, GITHUB_API_URL: %s", sandstep.ErrorMessage(err))
		}
		return c, nil
	})
}

// collaborators asks the App who may start tasks on a repository.
type collaborators struct{ app *githubapp.Client }

func (c collaborators) CanTrigger(ctx context.Context, installationID int64, repo, login string) (bool, error) {
	perm, err := c.app.Permission(ctx, installationID, repo, login)
	if sandstep.ErrorCode(err) == sandstep.ENOTFOUND {
		return false, nil
	}
	return githubapp.CanTrigger(perm), err
}

// repoAccess is the App acting on an issue's repository for its task.
type repoAccess struct{ app *githubapp.Client }

func (r repoAccess) ReadToken(ctx context.Context, installationID int64, repo string) (service.RepoToken, error) {
	return r.token(ctx, installationID, repo, githubapp.ReadContents)
}

func (r repoAccess) PushToken(ctx context.Context, installationID int64, repo string) (service.RepoToken, error) {
	return r.token(ctx, installationID, repo, githubapp.PushAndPullRequest)
}

func (r repoAccess) token(ctx context.Context, installationID int64, repo string, perms githubapp.Permissions) (service.RepoToken, error) {
	// Each goes into one sandbox and may be revoked when it is done there:
	// never one another task holds.
	t, err := r.app.OwnToken(ctx, installationID, repo, perms)
	if err != nil {
		return service.RepoToken{}, err
	}
	return service.RepoToken{Value: t.Value, ExpiresAt: t.ExpiresAt, Settled: t.Settled()}, nil
}

func (r repoAccess) Revoke(ctx context.Context, token string) error { return r.app.Revoke(ctx, token) }

func (r repoAccess) OpenPullRequest(ctx context.Context, installationID int64, repo, head, base, title, body string) (string, error) {
	_, url, err := r.app.OpenPullRequest(ctx, installationID, repo, head, base, title, body)
	return url, err
}

// gitHubDeps adds the GitHub App to deps where this deployment has one:
// issues are told how their tasks go and, with a webhook and a
// repositories policy, start them.
func (e *Env) gitHubDeps(ctx context.Context, deps *service.Deps) error {
	app, err := e.GitHubApp(ctx)
	if err != nil || app == nil {
		return err
	}
	deps.Comments, deps.RepoAccess = app, repoAccess{app}
	if e.GitHubOptions().Secret == nil {
		return nil
	}
	var policy service.Repositories
	p, err := e.Repositories(ctx)
	switch {
	case secrets.NotFound(err):
		// A document not (yet) there answers each delivery ignored, with
		// why: a failed delivery is only sent again, never acted on.
		e.Logger.WarnContext(ctx, "GitHub deliveries are ignored until the repositories document is found", "err", err)
		policy, err = &awaitedRepos{e: e, readAt: e.clock()()}, nil
	case err == nil && p == nil:
		policy = repos.None("this deployment has no repositories document (GITHUB_CONFIG_REF)")
	case err == nil:
		policy = p
	}
	if err != nil {
		return err
	}
	deps.Repositories, deps.Collaborators = policy, collaborators{app}
	return nil
}

// docRetry is how often an instance reads again a repositories document
// it did not find: one put after the deployment takes effect within it,
// without a read per delivery.
const docRetry = time.Minute

// awaitedRepos is the policy while the repositories document is not
// found: every delivery is ignored, saying why, and the document is read
// again at most every docRetry (Env.Repositories keeps only what it
// found).
type awaitedRepos struct {
	e      *Env
	mu     sync.Mutex
	readAt time.Time
	found  *repos.Policy
	// check is the service's check of a repository's task (CheckTasks),
	// run on the document once found.
	check func(repo string, t service.TaskInput) error
}

// CheckTasks keeps check for the document once it is found: none is yet.
func (a *awaitedRepos) CheckTasks(check func(repo string, t service.TaskInput) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.check = check
	return nil
}

var missingDocument = repos.None("this deployment's repositories document (GITHUB_CONFIG_REF) is not found")

func (a *awaitedRepos) Task(ctx context.Context, repo string, installationID int64) (service.TaskInput, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now := a.e.clock()(); a.found == nil && now.Sub(a.readAt) >= docRetry {
		a.readAt = now
		p, err := a.e.Repositories(ctx)
		switch {
		case err == nil:
			// Kept, as the document is: a fixed one is read at the next
			// cold start.
			a.found = p
			if a.check == nil {
				break // no service checks it (gitHubDeps alone, in tests)
			}
			if err := p.CheckTasks(a.check); err != nil {
				a.e.Logger.WarnContext(ctx, "the repositories document found names a task no issue could start; deliveries are ignored", "err", err)
				a.found = repos.None(fmt.Sprintf("this deployment's repositories document (GITHUB_CONFIG_REF): %s", sandstep.ErrorText(err)))
			}
		case !secrets.NotFound(err):
			a.e.Logger.WarnContext(ctx, "the repositories document was not read", "err", err)
		}
	}
	if a.found != nil {
		return a.found.Task(ctx, repo, installationID)
	}
	return missingDocument.Task(ctx, repo, installationID)
}
