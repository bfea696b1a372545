package local

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-github/v88/github"

	"github.com/sandstep/sandstep/internal/githubapp"
	"github.com/sandstep/sandstep/internal/githublocal"
)

// gitIn runs git in dir, away from the user's configuration.
func gitIn(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=agent", "GIT_AUTHOR_EMAIL=agent@example.com", "GIT_COMMITTER_NAME=agent", "GIT_COMMITTER_EMAIL=agent@example.com"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// demoToken mints a token of the demo installation with the key the
// stack wrote, as sandstep's functions do.
func demoToken(t *testing.T, s *testStack, perms githubapp.Permissions) string {
	t.Helper()
	key, err := os.ReadFile(s.GitHubDemo.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	app, err := githubapp.New(githubapp.Config{BaseURL: s.GitHubURL, AppID: s.GitHubDemo.AppID, PrivateKey: key})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := app.Token(context.Background(), s.GitHubDemo.InstallationID, DemoGitHubRepo, perms)
	if err != nil {
		t.Fatalf("mint a token of the demo App: %v", err)
	}
	return tok.Value
}

// The stack serves the GitHub stand-in with a demo App, points the
// functions at it, and keeps it across a restart.
func TestGitHubStandIn(t *testing.T) {
	dir := t.TempDir()
	s := startOn(t, dir)
	if got := s.env.Getenv("GITHUB_API_URL"); got != s.GitHubURL || s.GitHubURL == "" {
		t.Fatalf("the functions' GITHUB_API_URL is %q, want %q", got, s.GitHubURL)
	}
	if s.GitHubDemo == nil {
		t.Fatal("no demo App on a new data directory")
	}
	info, err := os.Stat(s.GitHubDemo.KeyPath)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the App's key: %v %v", info, err)
	}

	base := s.GitHubURL + "/"
	anon, err := github.NewClient(github.WithURLs(&base, &base))
	if err != nil {
		t.Fatal(err)
	}
	repo, _, err := anon.Repositories.Get(context.Background(), DemoGitHubOwner, "hello")
	if err != nil || repo.GetPrivate() || repo.GetDefaultBranch() != "main" {
		t.Fatalf("the demo repository, anonymously: %v %v", repo, err)
	}
	perm, _, err := anon.Repositories.GetPermissionLevel(context.Background(), DemoGitHubOwner, "hello", DemoGitHubCollaborator)
	if err != nil || perm.GetPermission() != "write" {
		t.Errorf("%s's permission: %v %v", DemoGitHubCollaborator, perm, err)
	}

	// The agent's read-only token clones and cannot push; a write token
	// pushes a branch.
	readTok := demoToken(t, s, githubapp.ReadContents)
	host := strings.TrimPrefix(s.GitHubURL, "http://")
	work := filepath.Join(t.TempDir(), "hello")
	if out, err := gitIn(t, t.TempDir(), "clone", "http://x-access-token:"+readTok+"@"+host+"/"+DemoGitHubRepo+".git", work); err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	if out, err := gitIn(t, work, "checkout", "-b", "sandstep/tsk_demo"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(work, "hello.sh"), []byte("#!/bin/sh\necho bonjour\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := gitIn(t, work, "commit", "-qam", "bonjour"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := gitIn(t, work, "push", "origin", "sandstep/tsk_demo"); err == nil || !strings.Contains(out, "403") {
		t.Errorf("the read-only token pushed (%v):\n%s", err, out)
	}
	writeTok := demoToken(t, s, githubapp.Permissions{Contents: githubapp.Write})
	if out, err := gitIn(t, work, "push", "http://x-access-token:"+writeTok+"@"+host+"/"+DemoGitHubRepo+".git", "sandstep/tsk_demo"); err != nil {
		t.Fatalf("push with a write token: %v\n%s", err, out)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Started again: the same App (its key still signs), the branch kept.
	again := startOn(t, dir)
	if again.GitHubDemo == nil || again.GitHubDemo.KeyPath != s.GitHubDemo.KeyPath {
		t.Fatalf("the demo after a restart: %+v", again.GitHubDemo)
	}
	tok := demoToken(t, again, githubapp.ReadContents)
	base = again.GitHubURL + "/"
	c, err := github.NewClient(github.WithURLs(&base, &base), github.WithAuthToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := c.Repositories.GetBranch(context.Background(), DemoGitHubOwner, "hello", "sandstep/tsk_demo", 0)
	if err != nil || b.GetCommit().GetCommit().GetMessage() != "bonjour" {
		t.Errorf("the pushed branch after a restart: %v %v", b, err)
	}
	if apps := again.github.Apps(); len(apps) != 1 {
		t.Errorf("the stand-in has %d Apps after a restart, want the one demo App", len(apps))
	}
}

// The demo is made in steps, each saved at once; a start killed between
// two left a data directory that every later start refused ("repository
// sandstep-demo/hello exists"), or, with the App made but not installed,
// one without a working demo. The next start finishes it, keeping what
// is there (one issue, the key the App was given).
func TestDemoIsFinishedAfterACrashWhileSeeding(t *testing.T) {
	key, pub, err := githublocal.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	// What the first start did, in order, until it was killed.
	steps := []func(gh *githublocal.Server, dir string) error{
		func(_ *githublocal.Server, dir string) error {
			return os.WriteFile(filepath.Join(dir, githubKeyFile), key, 0o600)
		},
		func(gh *githublocal.Server, _ string) error {
			_, err := gh.CreateRepository(githublocal.Repository{Owner: DemoGitHubOwner, Name: "hello"})
			return err
		},
		func(gh *githublocal.Server, _ string) error {
			_, err := gh.CreateIssue(DemoGitHubRepo, "Say hello in French", "hello.sh should say bonjour.", DemoGitHubCollaborator)
			return err
		},
		func(gh *githublocal.Server, _ string) error {
			return gh.SetCollaborator(DemoGitHubRepo, DemoGitHubCollaborator, "write")
		},
		func(gh *githublocal.Server, _ string) error {
			return gh.AddApp(githublocal.App{ID: DemoGitHubAppID, Slug: DemoGitHubAppSlug, PublicKey: pub})
		},
	}
	cases := []struct {
		name string
		done int // steps done before the kill
	}{
		{"killed after writing the key", 1},
		{"killed after making the repository", 2},
		{"killed after opening the issue", 3},
		{"killed after adding the collaborator", 4},
		{"killed after adding the App, before installing it", 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			gh, err := githublocal.New(githublocal.Options{Dir: filepath.Join(dir, "github")})
			if err != nil {
				t.Fatal(err)
			}
			for _, step := range steps[:c.done] {
				if err := step(gh, dir); err != nil {
					t.Fatal(err)
				}
			}
			if err := gh.Close(); err != nil {
				t.Fatal(err)
			}

			s := startOn(t, dir) // fails the test if refused
			if s.GitHubDemo == nil {
				t.Fatal("no demo App after the start")
			}
			if ins := s.github.Installations(); len(ins) != 1 || ins[0].ID != DemoGitHubInstallation || ins[0].AppID != DemoGitHubAppID {
				t.Errorf("installations %+v, want the demo's", ins)
			}
			if issues, err := s.github.Issues(DemoGitHubRepo); err != nil || len(issues) != 1 || issues[0].Number != s.GitHubDemo.Issue {
				t.Errorf("issues %+v %v, want the one demo issue", issues, err)
			}
			demoToken(t, s, githubapp.ReadContents) // the key on disk is the App's
		})
	}
}

// takeNumberOne makes sandstep-demo/hello in the stand-in on dir with its
// number 1 gone to a pull request (issues and pulls share one sequence):
// its next issue would be number 2.
func takeNumberOne(t *testing.T, dir string) {
	t.Helper()
	gh, err := githublocal.New(githublocal.Options{Dir: filepath.Join(dir, "github")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gh.CreateRepository(githublocal.Repository{Owner: DemoGitHubOwner, Name: "hello"}); err != nil {
		t.Fatal(err)
	}
	if err := gh.Close(); err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(dir, "github", "state.json")
	b, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	st["repos"].(map[string]any)[DemoGitHubRepo].(map[string]any)["nextNumber"] = 2
	if b, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(statePath, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A start that finds the demo cannot be made writes nothing: seeding
// opened an issue in an existing sandstep-demo/hello before it found the
// new number was not 1, and left the demo uninstalled, so every start
// opened one more.
func TestDemoConflictOpensNoIssue(t *testing.T) {
	needRunner(t)
	dir := t.TempDir()
	takeNumberOne(t, dir)
	var counts []int
	for range 3 {
		// Whether the start succeeds is another test's
		// (TestDemoConflictLeavesTheStackWithoutADemo); what it did to
		// the repository is this one's.
		s, err := Start(context.Background(), Options{Getenv: envMap(nil), LogWriter: &logBuffer{}, TemplatePath: templatePath, DataDir: dir})
		if err == nil {
			_ = s.Close()
		}
		gh, err := githublocal.New(githublocal.Options{Dir: filepath.Join(dir, "github")})
		if err != nil {
			t.Fatal(err)
		}
		issues, err := gh.Issues(DemoGitHubRepo)
		_ = gh.Close()
		if err != nil {
			t.Fatal(err)
		}
		counts = append(counts, len(issues))
	}
	if !slices.Equal(counts, []int{0, 0, 0}) {
		t.Errorf("issues in %s after each of three starts: %v, want none", DemoGitHubRepo, counts)
	}
}

// A data directory on which the demo cannot be made starts without it,
// the functions without a GitHub App, as a deployment without one: the
// demo's GITHUB_APP_KEY_REF named a key the local SSM never got, and
// wiring the functions failed with ParameterNotFound.
func TestDemoConflictLeavesTheStackWithoutADemo(t *testing.T) {
	_, pub, err := githublocal.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _, err := githublocal.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	addApp := func(t *testing.T, dir string) {
		gh, err := githublocal.New(githublocal.Options{Dir: filepath.Join(dir, "github")})
		if err != nil {
			t.Fatal(err)
		}
		// The user's own App 1.
		if err := gh.AddApp(githublocal.App{ID: DemoGitHubAppID, Slug: "mine", PublicKey: pub}); err != nil {
			t.Fatal(err)
		}
		if err := gh.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name     string
		setUp    func(t *testing.T, dir string)
		conflict string // in the warning
		apps     int    // the user's App stays as it was
	}{
		{"an App 1 whose key the stack never had", addApp, "App 1 exists but its key", 1},
		{"an App 1 of another key than the key file", func(t *testing.T, dir string) {
			addApp(t, dir)
			if err := os.WriteFile(filepath.Join(dir, githubKeyFile), otherKey, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "App 1 holds another key", 1},
		{"the repository's number 1 is a pull request", takeNumberOne, "has no issue 1", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.setUp(t, dir)
			s := startOn(t, dir) // fails the test if refused
			if s.GitHubDemo != nil {
				t.Errorf("GitHubDemo %+v, want none", s.GitHubDemo)
			}
			for _, v := range []string{"GITHUB_APP_ID", "GITHUB_APP_KEY_REF"} {
				if got := s.env.Getenv(v); got != "" {
					t.Errorf("the functions' %s is %q, want it unset", v, got)
				}
			}
			if s.Config.GitHubAppID != 0 || !s.Config.GitHubAppKeyRef.IsZero() {
				t.Errorf("the functions' configuration has App %d (%v), want none", s.Config.GitHubAppID, s.Config.GitHubAppKeyRef)
			}
			var banner strings.Builder
			if err := s.WriteBanner(&banner); err != nil || !strings.Contains(banner.String(), "no GitHub App") {
				t.Errorf("the banner does not say there is no GitHub App (%v):\n%s", err, banner.String())
			}
			if !strings.Contains(s.logs.String(), c.conflict) {
				t.Errorf("the log does not name the conflict %q:\n%s", c.conflict, s.logs.String())
			}
			if apps := s.github.Apps(); len(apps) != c.apps || c.apps == 1 && !apps[0].PublicKey.Equal(pub) {
				t.Errorf("the user's Apps were changed: %+v", apps)
			}
		})
	}
}
