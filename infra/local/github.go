package local

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/sandstep/sandstep/internal/appjwt"
	"github.com/sandstep/sandstep/internal/atomicfile"
	"github.com/sandstep/sandstep/internal/awslocal"
	"github.com/sandstep/sandstep/internal/githublocal"
	"github.com/sandstep/sandstep/internal/secrets"
)

// The demo GitHub the stack makes when its GitHub stand-in lacks it:
// one App, installed on one account that owns one public repository with
// an open issue, so the flow from an issue to a pull request can be tried
// by hand. Public, so that its comments and pulls can be read with a bare
// curl; pushing still takes a token with contents:write.
const (
	DemoGitHubAppID        = 1
	DemoGitHubAppSlug      = "sandstep-local"
	DemoGitHubInstallation = 1
	DemoGitHubOwner        = "sandstep-demo"
	DemoGitHubRepo         = DemoGitHubOwner + "/hello"
	// DemoGitHubCollaborator may trigger tasks by comment (write).
	DemoGitHubCollaborator = "alice"
)

// GitHubDemo is what a person needs to act as the demo App.
type GitHubDemo struct {
	AppID, InstallationID int64
	// KeyPath is the App's private key (PEM), what GITHUB_APP_KEY_REF
	// names in AWS.
	KeyPath string
	// Repo is owner/name; Issue an open issue of it.
	Repo  string
	Issue int
}

// githubKeyFile is where the stack keeps the demo App's private key,
// beside the stand-in's directory: the stand-in holds public keys only.
const githubKeyFile = "github-app-key.pem"

// startGitHub opens the GitHub stand-in on the data directory and, while
// it lacks the demo installation, makes the demo or finishes it.
func (s *Stack) startGitHub(edge *awslocal.Server) error {
	gh, err := githublocal.New(githublocal.Options{Dir: filepath.Join(s.DataDir, "github"), Logger: s.log.With("component", "github")})
	if err != nil {
		return err
	}
	s.github = gh
	keyPath := filepath.Join(s.DataDir, githubKeyFile)
	demo := true
	if !slices.ContainsFunc(gh.Installations(), func(in githublocal.Installation) bool { return in.ID == DemoGitHubInstallation }) {
		var conflict *demoConflict
		switch err := seedGitHub(gh, keyPath); {
		case errors.As(err, &conflict):
			s.log.Warn("github: no demo App, and the functions have no GitHub App (issues cannot start tasks): "+conflict.Error(),
				"app", DemoGitHubAppID, "repo", DemoGitHubRepo, "key", keyPath)
			demo = false
		case err != nil:
			return fmt.Errorf("make the demo GitHub App: %w", err)
		default:
			s.log.Info("github: made the demo App, installation and repository", "app", DemoGitHubAppID, "repo", DemoGitHubRepo, "key", keyPath)
		}
	}
	// The demo is there unless someone removed it from the data directory.
	var key []byte
	var keyErr error
	if demo {
		key, keyErr = os.ReadFile(keyPath)
		if keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist) {
			return keyErr
		}
	}
	switch {
	case demo && keyErr == nil:
		if dir, err := gh.RepoDir(DemoGitHubRepo); err == nil && dir != "" {
			s.GitHubDemo = &GitHubDemo{AppID: DemoGitHubAppID, InstallationID: DemoGitHubInstallation, KeyPath: keyPath, Repo: DemoGitHubRepo, Issue: 1}
		}
		// The functions read the App's key as in AWS: from SSM.
		if err := edge.PutSecureParameter(LocalGitHubAppKeyParameter, string(key)); err != nil {
			return fmt.Errorf("keep the demo App's key in the local SSM: %w", err)
		}
	case demo:
		s.log.Warn("github: the demo App's key file is gone; the functions have no GitHub App (issues cannot start tasks)",
			"app", DemoGitHubAppID, "key", keyPath, "error", keyErr)
		fallthrough
	default:
		// Without the key in the local SSM, GITHUB_APP_KEY_REF would name
		// nothing and every function would fail to start: they run as a
		// deployment without an App.
		s.withoutGitHubApp()
	}
	s.srvGitHub = s.serve(&s.lnGitHub, gh)
	return nil
}

// withoutGitHubApp leaves the functions' GITHUB_APP_ID and
// GITHUB_APP_KEY_REF unset, in their environment and in the
// configuration read from it, before any function is wired.
func (s *Stack) withoutGitHubApp() {
	s.env.withoutGitHubApp()
	s.appEnv.Config.GitHubAppID, s.appEnv.Config.GitHubAppKeyRef = 0, secrets.Ref{}
	s.Config = s.appEnv.Config
}

// demoConflict is what keeps the demo from being made: something of the
// demo's name that is not the demo's.
type demoConflict struct{ msg string }

func (e *demoConflict) Error() string { return e.msg }

// seedGitHub makes the demo in steps, each saved at once: a crash or a
// kill -9 of an earlier start may have ended it between two, so each step
// keeps what is there (the key, the repository, its issue, the
// collaborator, the App) and makes what is missing, the installation
// last. What is there but is not the demo's (an App of the demo's id with
// another key or without its key file, a repository whose issue 1 cannot
// be the demo's) is a *demoConflict, found before anything is written: a
// start that will not make the demo changes nothing, and the next start
// finds the same.
func seedGitHub(gh *githublocal.Server, keyPath string) error {
	// Read what is there.
	var app *githublocal.App
	for _, a := range gh.Apps() {
		if a.ID == DemoGitHubAppID {
			app = &a
		}
	}
	pub, err := demoKey(keyPath)
	if err != nil {
		return err
	}
	switch {
	case app != nil && pub == nil:
		return &demoConflict{fmt.Sprintf("App %d exists but its key %s does not", DemoGitHubAppID, keyPath)}
	case app != nil && !app.PublicKey.Equal(pub):
		return &demoConflict{fmt.Sprintf("App %d holds another key than %s", DemoGitHubAppID, keyPath)}
	}
	_, err = gh.RepoDir(DemoGitHubRepo)
	haveRepo, haveIssue := err == nil, false
	if haveRepo {
		issues, err := gh.Issues(DemoGitHubRepo)
		if err != nil {
			return err
		}
		haveIssue = slices.ContainsFunc(issues, func(is githublocal.Issue) bool { return is.Number == 1 })
		if !haveIssue {
			// Issues and pull requests share one sequence: with number 1
			// gone to a pull request, a new issue would not be the demo's.
			next, err := gh.NextNumber(DemoGitHubRepo)
			if err != nil {
				return err
			}
			if next != 1 {
				return &demoConflict{fmt.Sprintf("%s has no issue 1 (a new one would be %d)", DemoGitHubRepo, next)}
			}
		}
	}

	// Make what is missing.
	if pub == nil {
		if pub, err = newDemoKey(keyPath); err != nil {
			return err
		}
	}
	if !haveRepo {
		if _, err := gh.CreateRepository(githublocal.Repository{Owner: DemoGitHubOwner, Name: "hello", Files: map[string]string{
			"README.md": "# hello\n\nThe local stack's demo repository.\n",
			"hello.sh":  "#!/bin/sh\necho hello\n",
		}}); err != nil {
			return err
		}
	}
	if !haveIssue {
		// Number 1: the repository is new, or its next number is 1.
		if _, err := gh.CreateIssue(DemoGitHubRepo, "Say hello in French", "hello.sh should say bonjour.", DemoGitHubCollaborator); err != nil {
			return err
		}
	}
	if err := gh.SetCollaborator(DemoGitHubRepo, DemoGitHubCollaborator, "write"); err != nil {
		return err
	}
	if app == nil {
		if err := gh.AddApp(githublocal.App{ID: DemoGitHubAppID, Slug: DemoGitHubAppSlug, Name: "sandstep (local)", PublicKey: pub}); err != nil {
			return err
		}
	}
	return gh.AddInstallation(githublocal.Installation{ID: DemoGitHubInstallation, AppID: DemoGitHubAppID, Account: DemoGitHubOwner})
}

// demoKey returns the public half of the demo App's key at keyPath,
// which an earlier start may have written; nil without one (or with a
// file a crash cut short).
func demoKey(keyPath string) (*rsa.PublicKey, error) {
	b, err := os.ReadFile(keyPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if k, perr := appjwt.ParseKey(b); perr == nil {
		return &k.PublicKey, nil
	}
	return nil, nil
}

// newDemoKey writes a new key for the demo App at keyPath and returns its
// public half.
func newDemoKey(keyPath string) (*rsa.PublicKey, error) {
	key, pub, err := githublocal.GenerateAppKey()
	if err != nil {
		return nil, err
	}
	// Whole or not at all: a start killed meanwhile finds the old file or
	// the new one (mode 0600 either way).
	if err := atomicfile.Write(keyPath, key); err != nil {
		return nil, err
	}
	return pub, nil
}
