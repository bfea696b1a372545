package githublocal

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v88/github"
)

// TestRESTAuthorization runs each endpoint with tokens that do and do
// not cover it: what the token's repositories and permissions do not
// cover is refused as GitHub refuses it.
func TestRESTAuthorization(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	issue, err := f.srv.CreateIssue("acme/widgets", "Fix it", "please", "alice")
	must(t, err)
	openIssue, err := f.srv.CreateIssue("acme/open", "Public", "", "alice")
	must(t, err)
	seed, _, err := f.client(f.token(TokenOptions{})).Issues.CreateComment(ctx(), testOrg, "widgets", issue, &github.IssueComment{Body: github.Ptr("seed")})
	must(t, err)
	f.pushBranch("acme/widgets", "feature")

	expired := f.token(TokenOptions{})
	f.clock.advance(TokenLifetime + time.Second)
	full := f.token(TokenOptions{})
	tokens := map[string]string{
		"full":          full,
		"expired":       expired,
		"unknown":       "ghs_" + strings.Repeat("x", 36),
		"anonymous":     "",
		"gadgets only":  f.token(TokenOptions{Repositories: []string{"gadgets"}}),
		"contents read": f.token(TokenOptions{Permissions: map[string]string{"contents": "read"}}),
		"issues read":   f.token(TokenOptions{Permissions: map[string]string{"issues": "read"}}),
		"issues write":  f.token(TokenOptions{Permissions: map[string]string{"issues": "write"}}),
		"pulls write":   f.token(TokenOptions{Permissions: map[string]string{"pull_requests": "write"}}),
	}

	type call func(c *github.Client) (*github.Response, error)
	getRepo := func(repo string) call {
		return func(c *github.Client) (*github.Response, error) {
			_, r, err := c.Repositories.Get(ctx(), testOrg, repo)
			return r, err
		}
	}
	permission := func(c *github.Client) (*github.Response, error) {
		_, r, err := c.Repositories.GetPermissionLevel(ctx(), testOrg, "widgets", "alice")
		return r, err
	}
	comment := func(repo string, n int) call {
		return func(c *github.Client) (*github.Response, error) {
			_, r, err := c.Issues.CreateComment(ctx(), testOrg, repo, n, &github.IssueComment{Body: github.Ptr("hi")})
			return r, err
		}
	}
	listComments := func(c *github.Client) (*github.Response, error) {
		_, r, err := c.Issues.ListComments(ctx(), testOrg, "widgets", issue, nil)
		return r, err
	}
	getComment := func(c *github.Client) (*github.Response, error) {
		_, r, err := c.Issues.GetComment(ctx(), testOrg, "widgets", seed.GetID())
		return r, err
	}
	editComment := func(c *github.Client) (*github.Response, error) {
		_, r, err := c.Issues.EditComment(ctx(), testOrg, "widgets", seed.GetID(), &github.IssueComment{Body: github.Ptr("edited")})
		return r, err
	}
	listPulls := func(c *github.Client) (*github.Response, error) {
		_, r, err := c.PullRequests.List(ctx(), testOrg, "widgets", nil)
		return r, err
	}
	createPull := func(c *github.Client) (*github.Response, error) {
		// The head does not exist: past the permission check this is 422.
		_, r, err := c.PullRequests.Create(ctx(), testOrg, "widgets", &github.NewPullRequest{Title: github.Ptr("t"), Head: github.Ptr("nope"), Base: github.Ptr("main")})
		return r, err
	}
	getBranch := func(repo string) call {
		return func(c *github.Client) (*github.Response, error) {
			_, r, err := c.Repositories.GetBranch(ctx(), testOrg, repo, "main", 0)
			return r, err
		}
	}

	cases := []struct {
		name  string
		token string
		call  call
		want  int
	}{
		{"get repo", "full", getRepo("widgets"), http.StatusOK},
		{"get repo: any permission reads metadata", "issues read", getRepo("widgets"), http.StatusOK},
		{"get repo: expired token", "expired", getRepo("widgets"), http.StatusUnauthorized},
		{"get repo: unknown token", "unknown", getRepo("widgets"), http.StatusUnauthorized},
		{"get repo: private, anonymous", "anonymous", getRepo("widgets"), http.StatusNotFound},
		{"get repo: private, outside the token", "gadgets only", getRepo("widgets"), http.StatusNotFound},
		{"get repo: public, anonymous", "anonymous", getRepo("open"), http.StatusOK},
		{"get repo: another account's", "full", func(c *github.Client) (*github.Response, error) {
			_, r, err := c.Repositories.Get(ctx(), "umbrella", "secret")
			return r, err
		}, http.StatusNotFound},
		{"get repo: none such", "full", getRepo("nothing"), http.StatusNotFound},
		{"permission", "contents read", permission, http.StatusOK},
		{"permission: outside the token", "gadgets only", permission, http.StatusNotFound},
		{"comment", "issues write", comment("widgets", issue), http.StatusCreated},
		{"comment: read only", "issues read", comment("widgets", issue), http.StatusForbidden},
		{"comment: contents only", "contents read", comment("widgets", issue), http.StatusForbidden},
		{"comment: pull requests write is not issues write", "pulls write", comment("widgets", issue), http.StatusForbidden},
		{"comment: outside the token", "gadgets only", comment("widgets", issue), http.StatusNotFound},
		{"comment: no such issue", "full", comment("widgets", 99), http.StatusNotFound},
		{"comment: public, anonymous", "anonymous", comment("open", openIssue), http.StatusUnauthorized},
		{"comment: public, outside the token", "gadgets only", comment("open", openIssue), http.StatusForbidden},
		{"comment: expired", "expired", comment("widgets", issue), http.StatusUnauthorized},
		{"list comments", "issues read", listComments, http.StatusOK},
		{"list comments: no issues permission", "contents read", listComments, http.StatusForbidden},
		{"get comment", "issues read", getComment, http.StatusOK},
		{"get comment: no issues permission", "pulls write", getComment, http.StatusForbidden},
		{"edit comment", "issues write", editComment, http.StatusOK},
		{"edit comment: read only", "issues read", editComment, http.StatusForbidden},
		{"edit comment: outside the token", "gadgets only", editComment, http.StatusNotFound},
		{"list pulls", "pulls write", listPulls, http.StatusOK},
		{"list pulls: no pulls permission", "issues write", listPulls, http.StatusForbidden},
		{"create pull: no pulls permission", "contents read", createPull, http.StatusForbidden},
		{"create pull: past the permission check", "pulls write", createPull, http.StatusUnprocessableEntity},
		{"branch", "contents read", getBranch("widgets"), http.StatusOK},
		{"branch: no contents permission", "issues write", getBranch("widgets"), http.StatusForbidden},
		{"branch: public, anonymous", "anonymous", getBranch("open"), http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok, ok := tokens[c.token]
			if !ok {
				t.Fatalf("no token %q", c.token)
			}
			res, err := c.call(f.client(tok))
			if got := status(res, err); got != c.want {
				t.Fatalf("status %d, want %d (%v)", got, c.want, err)
			}
			if c.want >= 400 {
				ge, ok := err.(*github.ErrorResponse)
				if !ok && strings.HasPrefix(c.name, "branch") {
					// go-github's GetBranch reports a status without the body.
					return
				}
				if !ok || ge.Message == "" || ge.DocumentationURL == "" {
					t.Fatalf("error %T %v, want GitHub's {message, documentation_url}", err, err)
				}
				if c.want == http.StatusForbidden && ge.Message != "Resource not accessible by integration" {
					t.Errorf("403 message %q", ge.Message)
				}
			}
		})
	}
}

func TestRepositoryAndPermission(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	must(t, f.srv.SetCollaborator("acme/widgets", "Alice", "admin"))
	must(t, f.srv.SetCollaborator("acme/widgets", "mona", "maintain"))
	must(t, f.srv.SetCollaborator("acme/widgets", "tri", "triage"))
	must(t, f.srv.SetCollaborator("acme/open", "bob", "write"))
	c := f.client(f.token(TokenOptions{}))

	repo, _, err := c.Repositories.Get(ctx(), "Acme", "WIDGETS")
	must(t, err)
	if repo.GetFullName() != "acme/widgets" || repo.GetDefaultBranch() != "main" || !repo.GetPrivate() ||
		repo.GetOwner().GetLogin() != testOrg || repo.GetOwner().GetType() != "Organization" ||
		repo.GetCloneURL() != f.http.URL+"/acme/widgets.git" || repo.GetVisibility() != "private" {
		t.Errorf("repository %s", github.Stringify(repo))
	}

	cases := []struct {
		repo, user, perm, role string
	}{
		{"widgets", "alice", "admin", "admin"},
		{"widgets", "mona", "write", "maintain"},
		{"widgets", "tri", "read", "triage"},
		{"widgets", "stranger", "none", "none"},
		{"open", "bob", "write", "write"},
		{"open", "stranger", "read", "read"},
	}
	for _, cs := range cases {
		t.Run(cs.repo+"/"+cs.user, func(t *testing.T) {
			p, _, err := c.Repositories.GetPermissionLevel(ctx(), testOrg, cs.repo, cs.user)
			must(t, err)
			if p.GetPermission() != cs.perm || p.GetRoleName() != cs.role || p.GetUser().GetLogin() != cs.user {
				t.Errorf("got %s, want permission %s role %s", github.Stringify(p), cs.perm, cs.role)
			}
		})
	}

	t.Run("removing a collaborator", func(t *testing.T) {
		must(t, f.srv.SetCollaborator("acme/widgets", "mona", ""))
		p, _, err := c.Repositories.GetPermissionLevel(ctx(), testOrg, "widgets", "mona")
		must(t, err)
		if p.GetPermission() != "none" {
			t.Errorf("permission %s after removal", p.GetPermission())
		}
	})
	t.Run("not a role", func(t *testing.T) {
		if err := f.srv.SetCollaborator("acme/widgets", "x", "owner"); err == nil {
			t.Error("role owner accepted")
		}
	})
}

func TestIssueComments(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	n, err := f.srv.CreateIssue("acme/widgets", "Fix it", "", "alice")
	must(t, err)
	c := f.client(f.token(TokenOptions{Permissions: map[string]string{"issues": "write"}}))

	created, res, err := c.Issues.CreateComment(ctx(), testOrg, "widgets", n, &github.IssueComment{Body: github.Ptr("Task started")})
	must(t, err)
	if res.StatusCode != http.StatusCreated || created.GetBody() != "Task started" || created.GetUser().GetLogin() != testBot ||
		created.GetUser().GetType() != "Bot" || created.GetID() == 0 || created.GetCreatedAt().IsZero() ||
		!strings.HasSuffix(created.GetIssueURL(), "/repos/acme/widgets/issues/1") {
		t.Errorf("created %s", github.Stringify(created))
	}
	if loc := res.Header.Get("Location"); loc != created.GetURL() {
		t.Errorf("Location %q, want %q", loc, created.GetURL())
	}

	f.clock.advance(time.Minute)
	edited, _, err := c.Issues.EditComment(ctx(), testOrg, "widgets", created.GetID(), &github.IssueComment{Body: github.Ptr("Task succeeded")})
	must(t, err)
	if edited.GetBody() != "Task succeeded" || !edited.GetUpdatedAt().After(edited.GetCreatedAt().Time) {
		t.Errorf("edited %s", github.Stringify(edited))
	}
	got, _, err := c.Issues.GetComment(ctx(), testOrg, "widgets", created.GetID())
	must(t, err)
	if got.GetBody() != "Task succeeded" {
		t.Errorf("read back %q", got.GetBody())
	}

	t.Run("no body is 422", func(t *testing.T) {
		_, res, err := c.Issues.CreateComment(ctx(), testOrg, "widgets", n, &github.IssueComment{})
		if status(res, err) != http.StatusUnprocessableEntity {
			t.Errorf("status %d, want 422", status(res, err))
		}
		_, res, err = c.Issues.EditComment(ctx(), testOrg, "widgets", created.GetID(), &github.IssueComment{Body: github.Ptr("")})
		if status(res, err) != http.StatusUnprocessableEntity {
			t.Errorf("edit: status %d, want 422", status(res, err))
		}
	})
	t.Run("bad JSON is 400", func(t *testing.T) {
		res := f.do(http.MethodPost, "/repos/acme/widgets/issues/1/comments", "token "+f.token(TokenOptions{}), "{")
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 400", res.StatusCode)
		}
	})
	t.Run("a comment of another repository is not found", func(t *testing.T) {
		_, res, err := c.Issues.GetComment(ctx(), testOrg, "gadgets", created.GetID())
		if status(res, err) != http.StatusNotFound {
			t.Errorf("status %d, want 404", status(res, err))
		}
	})

	t.Run("pages", func(t *testing.T) {
		for i := range 4 {
			_, _, err := c.Issues.CreateComment(ctx(), testOrg, "widgets", n, &github.IssueComment{Body: github.Ptr(strings.Repeat("x", i+1))})
			must(t, err)
		}
		var bodies []string
		opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 2}}
		for pages := 0; ; pages++ {
			list, res, err := c.Issues.ListComments(ctx(), testOrg, "widgets", n, opts)
			must(t, err)
			for _, cm := range list {
				bodies = append(bodies, cm.GetBody())
			}
			if res.NextPage == 0 {
				if pages != 2 {
					t.Errorf("%d pages, want 3", pages+1)
				}
				break
			}
			opts.Page = res.NextPage
		}
		if want := "Task succeeded,x,xx,xxx,xxxx"; strings.Join(bodies, ",") != want {
			t.Errorf("comments %v, want %s", bodies, want)
		}
		all, err := f.srv.Comments("acme/widgets", n)
		must(t, err)
		if len(all) != 5 || all[0].Body != "Task succeeded" || all[0].User != testBot {
			t.Errorf("Comments = %+v", all)
		}
	})

	t.Run("a pull request's comments take pull_requests:write too", func(t *testing.T) {
		f.pushBranch("acme/widgets", "feature")
		pr, _, err := f.client(f.token(TokenOptions{})).PullRequests.Create(ctx(), testOrg, "widgets",
			&github.NewPullRequest{Title: github.Ptr("t"), Head: github.Ptr("feature"), Base: github.Ptr("main")})
		must(t, err)
		pc := f.client(f.token(TokenOptions{Permissions: map[string]string{"pull_requests": "write"}}))
		if _, _, err := pc.Issues.CreateComment(ctx(), testOrg, "widgets", pr.GetNumber(), &github.IssueComment{Body: github.Ptr("on the PR")}); err != nil {
			t.Errorf("comment on a pull request with pull_requests:write: %v", err)
		}
	})
}

func TestPullRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.pushBranch("acme/widgets", "sandstep/tsk_1")
	f.pushBranch("acme/widgets", "other")
	dir, err := f.srv.RepoDir("acme/widgets")
	must(t, err)
	// A branch with nothing main lacks.
	if out, err := runGit(t, dir, "branch", "same", "main"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	c := f.client(f.token(TokenOptions{Permissions: map[string]string{"pull_requests": "write"}}))
	pull := func(title, head, base string) *github.NewPullRequest {
		return &github.NewPullRequest{Title: github.Ptr(title), Head: github.Ptr(head), Base: github.Ptr(base), Body: github.Ptr("Closes #1")}
	}

	cases := []struct {
		name      string
		pr        *github.NewPullRequest
		want      int
		wantField string // the field of a 422, or "" for a custom one
	}{
		{"head does not exist", pull("t", "nope", "main"), http.StatusUnprocessableEntity, "head"},
		{"base does not exist", pull("t", "sandstep/tsk_1", "nope"), http.StatusUnprocessableEntity, "base"},
		{"no title", &github.NewPullRequest{Head: github.Ptr("sandstep/tsk_1"), Base: github.Ptr("main")}, http.StatusUnprocessableEntity, "title"},
		{"a fork's head", pull("t", "someone:sandstep/tsk_1", "main"), http.StatusUnprocessableEntity, "head"},
		{"no commits between", pull("t", "same", "main"), http.StatusUnprocessableEntity, ""},
		{"opened", pull("Task tsk_1", "sandstep/tsk_1", "main"), http.StatusCreated, ""},
		{"again", pull("Task tsk_1", "sandstep/tsk_1", "main"), http.StatusUnprocessableEntity, ""},
		{"head as owner:branch", pull("Other", "acme:other", "main"), http.StatusCreated, ""},
	}
	for _, cs := range cases {
		t.Run(cs.name, func(t *testing.T) {
			pr, res, err := c.PullRequests.Create(ctx(), testOrg, "widgets", cs.pr)
			if got := status(res, err); got != cs.want {
				t.Fatalf("status %d, want %d (%v)", got, cs.want, err)
			}
			if cs.want == http.StatusUnprocessableEntity {
				ge := err.(*github.ErrorResponse)
				if ge.Message != "Validation Failed" || len(ge.Errors) != 1 || ge.Errors[0].Field != cs.wantField {
					t.Errorf("422 %s %+v, want one error on %q", ge.Message, ge.Errors, cs.wantField)
				}
				return
			}
			if pr.GetState() != "open" || pr.GetUser().GetLogin() != testBot || pr.GetBase().GetRef() != "main" ||
				pr.GetHead().GetSHA() == "" || pr.GetBase().GetSHA() == "" || pr.GetHead().GetRepo().GetFullName() != "acme/widgets" ||
				pr.GetNumber() == 0 || !strings.HasSuffix(pr.GetHTMLURL(), "/acme/widgets/pull/"+strconv.Itoa(pr.GetNumber())) {
				t.Errorf("pull %s", github.Stringify(pr))
			}
		})
	}

	t.Run("numbers follow the issues'", func(t *testing.T) {
		n, err := f.srv.CreateIssue("acme/widgets", "later", "", "alice")
		must(t, err)
		if n != 3 {
			t.Errorf("issue number %d after two pulls, want 3", n)
		}
	})

	t.Run("list and filters", func(t *testing.T) {
		cases := []struct {
			opts *github.PullRequestListOptions
			want string
		}{
			{nil, "Other,Task tsk_1"},
			{&github.PullRequestListOptions{State: "all"}, "Other,Task tsk_1"},
			{&github.PullRequestListOptions{State: "closed"}, ""},
			{&github.PullRequestListOptions{Head: "acme:sandstep/tsk_1"}, "Task tsk_1"},
			{&github.PullRequestListOptions{Head: "someone:sandstep/tsk_1"}, ""},
			{&github.PullRequestListOptions{Base: "main"}, "Other,Task tsk_1"},
			{&github.PullRequestListOptions{Base: "other"}, ""},
		}
		for _, cs := range cases {
			list, _, err := c.PullRequests.List(ctx(), testOrg, "widgets", cs.opts)
			must(t, err)
			var titles []string
			for _, p := range list {
				titles = append(titles, p.GetTitle())
			}
			if got := strings.Join(titles, ","); got != cs.want {
				t.Errorf("list %+v = %q, want %q", cs.opts, got, cs.want)
			}
		}
		pulls, err := f.srv.Pulls("acme/widgets")
		must(t, err)
		if len(pulls) != 2 || pulls[0].Head != "sandstep/tsk_1" || pulls[0].Body != "Closes #1" || pulls[0].User != testBot {
			t.Errorf("Pulls = %+v", pulls)
		}
	})
}

func TestBranches(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.pushBranch("acme/widgets", "sandstep/tsk_2")
	must(t, f.srv.ProtectBranch("acme/widgets", "main", true))
	c := f.client(f.token(TokenOptions{Permissions: map[string]string{"contents": "read"}}))

	b, _, err := c.Repositories.GetBranch(ctx(), testOrg, "widgets", "sandstep/tsk_2", 0)
	must(t, err)
	if b.GetName() != "sandstep/tsk_2" || b.GetCommit().GetSHA() == "" || b.GetProtected() ||
		b.GetCommit().GetCommit().GetMessage() != "change sandstep-tsk_2.txt" || b.GetCommit().GetCommit().GetAuthor().GetName() != "agent" ||
		len(b.GetCommit().Parents) != 1 {
		t.Errorf("branch %s", github.Stringify(b))
	}
	main, _, err := c.Repositories.GetBranch(ctx(), testOrg, "widgets", "main", 0)
	must(t, err)
	if !main.GetProtected() || main.GetCommit().GetCommit().GetMessage() != "Initial commit" || len(main.GetCommit().Parents) != 0 {
		t.Errorf("main %s", github.Stringify(main))
	}
	if _, res, err := c.Repositories.GetBranch(ctx(), testOrg, "widgets", "nope", 0); status(res, err) != http.StatusNotFound {
		t.Errorf("a missing branch: %d, want 404", status(res, err))
	}
	branches, err := f.srv.Branches("acme/widgets")
	must(t, err)
	if len(branches) != 2 || branches[0].Name != "main" || branches[1].Name != "sandstep/tsk_2" || branches[1].SHA != b.GetCommit().GetSHA() {
		t.Errorf("Branches = %+v", branches)
	}
}

func TestEnterprisePrefixAndUnknownRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c, err := github.NewClient(github.WithEnterpriseURLs(f.http.URL, f.http.URL), github.WithAuthToken(f.token(TokenOptions{})))
	must(t, err)
	if _, _, err := c.Repositories.Get(ctx(), testOrg, "widgets"); err != nil {
		t.Errorf("under /api/v3/: %v", err)
	}
	for _, path := range []string{"/nothing", "/repos/acme/widgets/issues/1/events", "/acme/widgets.git/HEAD"} {
		if res := f.do(http.MethodGet, path, "", ""); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
}
