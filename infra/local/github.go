package local

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sandstep/sandstep/internal/awslocal"
	"github.com/sandstep/sandstep/internal/githublocal"
)

// The demo GitHub the stack makes when its GitHub stand-in holds nothing:
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

// startGitHub opens the GitHub stand-in on the data directory and, when
// it holds no App yet, makes the demo one.
func (s *Stack) startGitHub(edge *awslocal.Server) error {
	gh, err := githublocal.New(githublocal.Options{Dir: filepath.Join(s.DataDir, "github"), Logger: s.log.With("component", "github")})
	if err != nil {
		return err
	}
	s.github = gh
	keyPath := filepath.Join(s.DataDir, githubKeyFile)
	if len(gh.Apps()) == 0 {
		if err := seedGitHub(gh, keyPath); err != nil {
			return fmt.Errorf("make the demo GitHub App: %w", err)
		}
		s.log.Info("github: made the demo App, installation and repository", "app", DemoGitHubAppID, "repo", DemoGitHubRepo, "key", keyPath)
	}
	// The demo is there unless someone removed it from the data directory.
	if _, err := os.Stat(keyPath); err == nil {
		if dir, err := gh.RepoDir(DemoGitHubRepo); err == nil && dir != "" {
			s.GitHubDemo = &GitHubDemo{AppID: DemoGitHubAppID, InstallationID: DemoGitHubInstallation, KeyPath: keyPath, Repo: DemoGitHubRepo, Issue: 1}
		}
		// The functions read the App's key as in AWS: from SSM.
		key, err := os.ReadFile(keyPath)
		if err != nil {
			return err
		}
		if err := edge.PutSecureParameter(LocalGitHubAppKeyParameter, string(key)); err != nil {
			return fmt.Errorf("keep the demo App's key in the local SSM: %w", err)
		}
	}
	s.srvGitHub = s.serve(&s.lnGitHub, gh)
	return nil
}

func seedGitHub(gh *githublocal.Server, keyPath string) error {
	key, pub, err := githublocal.GenerateAppKey()
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, key, 0o600); err != nil {
		return err
	}
	if _, err := gh.CreateRepository(githublocal.Repository{Owner: DemoGitHubOwner, Name: "hello", Files: map[string]string{
		"README.md": "# hello\n\nThe local stack's demo repository.\n",
		"hello.sh":  "#!/bin/sh\necho hello\n",
	}}); err != nil {
		return err
	}
	if _, err := gh.CreateIssue(DemoGitHubRepo, "Say hello in French", "hello.sh should say bonjour.", DemoGitHubCollaborator); err != nil {
		return err
	}
	if err := gh.SetCollaborator(DemoGitHubRepo, DemoGitHubCollaborator, "write"); err != nil {
		return err
	}
	if err := gh.AddApp(githublocal.App{ID: DemoGitHubAppID, Slug: DemoGitHubAppSlug, Name: "sandstep (local)", PublicKey: pub}); err != nil {
		return err
	}
	return gh.AddInstallation(githublocal.Installation{ID: DemoGitHubInstallation, AppID: DemoGitHubAppID, Account: DemoGitHubOwner})
}
