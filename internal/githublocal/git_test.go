package githublocal

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v88/github"
)

// TestGitOverHTTP clones and pushes with the real git binary: what the
// token reaches and may do decides, as on GitHub.
func TestGitOverHTTP(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	must(t, f.srv.ProtectBranch("acme/widgets", "main", true))
	expired := f.token(TokenOptions{})
	f.clock.advance(TokenLifetime)
	write := f.token(TokenOptions{})
	read := f.token(TokenOptions{Permissions: map[string]string{"contents": "read"}})
	issuesOnly := f.token(TokenOptions{Permissions: map[string]string{"issues": "write"}})
	gadgets := f.token(TokenOptions{Repositories: []string{"gadgets"}})

	t.Run("clone", func(t *testing.T) {
		cases := []struct {
			name, repo, token string
			ok                bool
			say               string // in git's output when refused
		}{
			{"private, contents:read", "acme/widgets", read, true, ""},
			{"private, contents:write", "acme/widgets", write, true, ""},
			{"any case", "ACME/Widgets", read, true, ""},
			{"private, anonymous", "acme/widgets", "", false, "could not read Username"},
			{"private, no contents permission", "acme/widgets", issuesOnly, false, "403"},
			{"private, outside the token", "acme/widgets", gadgets, false, "not found"},
			{"expired token", "acme/widgets", expired, false, "Authentication failed"},
			{"unknown token", "acme/widgets", "ghs_" + strings.Repeat("y", 36), false, "Authentication failed"},
			{"another account's", "umbrella/secret", write, false, "not found"},
			{"none such", "acme/nothing", write, false, "not found"},
			{"public, anonymous", "acme/open", "", true, ""},
			{"public, outside the token", "acme/open", gadgets, true, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				dir, out, err := f.clone(c.repo, c.token)
				if c.ok != (err == nil) {
					t.Fatalf("clone ok = %v, want %v\n%s", err == nil, c.ok, out)
				}
				if !c.ok {
					if !strings.Contains(out, c.say) {
						t.Errorf("git says %q, want it to say %q", out, c.say)
					}
					return
				}
				if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
					t.Errorf("the clone lacks the initial commit: %v", err)
				}
			})
		}
	})

	// A clone to push from, made with a token that may read.
	work, out, err := f.clone("acme/widgets", read)
	if err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}
	openWork, out, err := f.clone("acme/open", "")
	if err != nil {
		t.Fatalf("clone: %v\n%s", err, out)
	}

	t.Run("push", func(t *testing.T) {
		cases := []struct {
			name, dir, repo, token, branch string
			ok                             bool
			say                            string
		}{
			{"contents:read", work, "acme/widgets", read, "sandstep/tsk_a", false, "403"},
			{"contents:write, a new branch", work, "acme/widgets", write, "sandstep/tsk_b", true, ""},
			{"contents:write, the protected default branch", work, "acme/widgets", write, "main", false, "GH006: Protected branch update failed for refs/heads/main"},
			{"no contents permission", work, "acme/widgets", issuesOnly, "sandstep/tsk_c", false, "403"},
			{"outside the token", work, "acme/widgets", gadgets, "sandstep/tsk_d", false, "not found"},
			{"expired", work, "acme/widgets", expired, "sandstep/tsk_e", false, "Authentication failed"},
			{"public, anonymous", openWork, "acme/open", "", "x", false, "could not read Username"},
			{"public, outside the token", openWork, "acme/open", gadgets, "x", false, "403"},
			{"public, contents:write, its unprotected default branch", openWork, "acme/open", write, "main", true, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				commit(t, c.dir, c.branch, "work.txt", c.name+"\n")
				out, err := runGit(t, c.dir, "push", f.remote(c.repo, c.token), c.branch)
				if c.ok != (err == nil) {
					t.Fatalf("push ok = %v, want %v\n%s", err == nil, c.ok, out)
				}
				branches, berr := f.srv.Branches(c.repo)
				must(t, berr)
				local, _ := runGit(t, c.dir, "rev-parse", "HEAD")
				pushed := false
				for _, b := range branches {
					pushed = pushed || (b.Name == c.branch && b.SHA == strings.TrimSpace(local))
				}
				if pushed != c.ok {
					t.Errorf("the branch is pushed: %v, want %v (%v)", pushed, c.ok, branches)
				}
				if !c.ok && !strings.Contains(out, c.say) {
					t.Errorf("git says %q, want it to say %q", out, c.say)
				}
			})
		}
	})

	t.Run("a push larger than git's post buffer (a chunked request)", func(t *testing.T) {
		big := make([]byte, 3<<20)
		_, _ = rand.Read(big)
		must(t, os.WriteFile(filepath.Join(work, "big.bin"), big, 0o600))
		if out, err := runGit(t, work, "checkout", "--quiet", "-B", "sandstep/big"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if out, err := runGit(t, work, "add", "big.bin"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if out, err := runGit(t, work, "commit", "--quiet", "-m", "big"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if out, err := runGit(t, work, "push", f.remote("acme/widgets", write), "sandstep/big"); err != nil {
			t.Fatalf("push: %v\n%s", err, out)
		}
		dir, out, err := f.clone("acme/widgets", read)
		if err != nil {
			t.Fatalf("clone: %v\n%s", err, out)
		}
		if out, err := runGit(t, dir, "checkout", "--quiet", "sandstep/big"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if got, err := os.ReadFile(filepath.Join(dir, "big.bin")); err != nil || string(got) != string(big) {
			t.Errorf("the big file came back different (%v)", err)
		}
	})

	t.Run("unprotected, the default branch takes a push", func(t *testing.T) {
		must(t, f.srv.ProtectBranch("acme/widgets", "main", false))
		commit(t, work, "main", "work.txt", "now allowed\n")
		if out, err := runGit(t, work, "push", f.remote("acme/widgets", write), "main"); err != nil {
			t.Errorf("push: %v\n%s", err, out)
		}
	})
}

func TestStateSurvivesARestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	must(t, f.srv.SetCollaborator("acme/widgets", "alice", "write"))
	must(t, f.srv.ProtectBranch("acme/widgets", "main", true))
	n, err := f.srv.CreateIssue("acme/widgets", "Fix it", "", "alice")
	must(t, err)
	tok := f.token(TokenOptions{})
	c := f.client(tok)
	cm, _, err := c.Issues.CreateComment(ctx(), testOrg, "widgets", n, &github.IssueComment{Body: github.Ptr("kept")})
	must(t, err)
	f.pushBranch("acme/widgets", "sandstep/tsk_k")
	pr, _, err := c.PullRequests.Create(ctx(), testOrg, "widgets", &github.NewPullRequest{Title: github.Ptr("kept"), Head: github.Ptr("sandstep/tsk_k"), Base: github.Ptr("main")})
	must(t, err)

	t.Run("one server per directory", func(t *testing.T) {
		if _, err := New(Options{Dir: f.dir}); err == nil || !strings.Contains(err.Error(), "in use") {
			t.Errorf("a second server on the directory: %v", err)
		}
	})

	f.restart()
	c = f.client(tok)
	got, _, err := c.Issues.GetComment(ctx(), testOrg, "widgets", cm.GetID())
	if err != nil || got.GetBody() != "kept" {
		t.Errorf("the comment after a restart: %v %v", got, err)
	}
	p, _, err := c.Repositories.GetPermissionLevel(ctx(), testOrg, "widgets", "alice")
	if err != nil || p.GetRoleName() != "write" {
		t.Errorf("the collaborator after a restart: %v %v", p, err)
	}
	pulls, _, err := c.PullRequests.List(ctx(), testOrg, "widgets", nil)
	if err != nil || len(pulls) != 1 || pulls[0].GetNumber() != pr.GetNumber() {
		t.Errorf("the pulls after a restart: %v %v", pulls, err)
	}
	if n2, err := f.srv.CreateIssue("acme/widgets", "next", "", "alice"); err != nil || n2 != pr.GetNumber()+1 {
		t.Errorf("the next number after a restart: %d %v", n2, err)
	}
	work, out, err := f.clone("acme/widgets", tok)
	if err != nil {
		t.Fatalf("clone with the token after a restart: %v\n%s", err, out)
	}
	commit(t, work, "main", "x.txt", "x\n")
	if out, err := runGit(t, work, "push", "origin", "main"); err == nil || !strings.Contains(out, "GH006") {
		t.Errorf("the protection after a restart: %v\n%s", err, out)
	}

	t.Run("tokens are kept hashed, expired ones dropped", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(f.dir, "state.json"))
		must(t, err)
		if strings.Contains(string(b), tok) {
			t.Error("state.json holds a token")
		}
		f.clock.advance(TokenLifetime + time.Second)
		must(t, f.srv.SetCollaborator("acme/widgets", "bob", "read")) // any save
		b, err = os.ReadFile(filepath.Join(f.dir, "state.json"))
		must(t, err)
		if strings.Contains(string(b), tokenKey(tok)) {
			t.Error("state.json keeps an expired token")
		}
	})
}
