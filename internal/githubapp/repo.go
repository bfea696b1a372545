package githubapp

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Installation returns the id of the App's installation on repo
// ("owner/name"), asked as the App. ENOTFOUND: the App is not installed
// there (or the repository does not exist).
func (c *Client) Installation(ctx context.Context, repo string) (int64, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return 0, err
	}
	op := "finding the App's installation on " + repo
	var inst struct {
		ID int64 `json:"id"`
	}
	if err := c.doAsApp(ctx, op, http.MethodGet, repoPath(owner, name)+"/installation", nil, &inst); err != nil {
		return 0, err
	}
	if inst.ID <= 0 {
		return 0, sandstep.Errorf(sandstep.EINTERNAL, "%s: GitHub answered no installation id", op)
	}
	return inst.ID, nil
}

// DefaultBranch returns repo's default branch.
func (c *Client) DefaultBranch(ctx context.Context, installationID int64, repo string) (string, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", err
	}
	ctx, tok, err := c.installationCall(ctx, installationID, repo, ReadMetadata)
	if err != nil {
		return "", err
	}
	op := "reading " + repo
	var r struct {
		DefaultBranch string `json:"default_branch"`
	}
	if err := c.do(ctx, http.MethodGet, repoPath(owner, name), nil, &r); err != nil {
		return "", c.fail(err, op, tok)
	}
	if r.DefaultBranch == "" {
		return "", sandstep.Errorf(sandstep.EINTERNAL, "%s: GitHub answered no default branch", op)
	}
	return r.DefaultBranch, nil
}

// The permissions a person can have on a repository, lowest first.
const (
	PermNone     = "none"
	PermRead     = "read"
	PermTriage   = "triage"
	PermWrite    = "write"
	PermMaintain = "maintain"
	PermAdmin    = "admin"
)

// Permission returns login's permission on repo, one of PermNone,
// PermRead, PermTriage, PermWrite, PermMaintain, PermAdmin, from GitHub's
// collaborator-permission endpoint (never from a webhook's
// author_association, which counts every organisation member). ENOTFOUND:
// GitHub knows no such user or repository; either way, not allowed.
func (c *Client) Permission(ctx context.Context, installationID int64, repo, login string) (string, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", err
	}
	if err := checkLogin(login); err != nil {
		return "", err
	}
	ctx, tok, err := c.installationCall(ctx, installationID, repo, ReadMetadata)
	if err != nil {
		return "", err
	}
	var lvl struct {
		Permission string `json:"permission"`
		RoleName   string `json:"role_name"`
	}
	if err := c.do(ctx, http.MethodGet, repoPath(owner, name)+"/collaborators/"+url.PathEscape(login)+"/permission", nil, &lvl); err != nil {
		return "", c.fail(err, fmt.Sprintf("reading %s's permission on %s", login, repo), tok)
	}
	return permissionOf(lvl.RoleName, lvl.Permission), nil
}

// legacy is the "permission" GitHub reports beside each built-in role:
// the old three levels, with maintain as write and triage as read.
var legacy = map[string]string{
	PermAdmin: PermAdmin, PermMaintain: PermWrite, PermWrite: PermWrite,
	PermTriage: PermRead, PermRead: PermRead,
}

// permissionOf prefers the role (it tells maintain and triage apart) when
// it is a built-in one that agrees with the legacy permission; a custom
// role, or one that disagrees, falls back to the permission, and anything
// unknown is none: a surprise never grants more.
func permissionOf(role, perm string) string {
	if l, ok := legacy[role]; ok && l == perm {
		return role
	}
	switch perm {
	case PermAdmin, PermWrite, PermRead:
		return perm
	}
	return PermNone
}

// CanTrigger reports whether a person with perm may start or cancel a task,
// by the label or by a comment: write, maintain or admin.
func CanTrigger(perm string) bool {
	return perm == PermWrite || perm == PermMaintain || perm == PermAdmin
}

// fail classifies the error of a call made with an installation token; a
// token GitHub refused is dropped from the cache.
func (c *Client) fail(err error, op, token string) error {
	if isStatus(err, http.StatusUnauthorized) {
		c.forget(token)
	}
	return classify(err, op, token, false)
}

// splitRepo checks "owner/name". go-github puts both into URL paths
// unescaped, so only GitHub's own characters pass.
func splitRepo(repo string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || !isName(owner, 39, false) || !isName(name, 100, true) || name == "." || name == ".." {
		return "", "", sandstep.Invalid("repo", "%q is not a GitHub repository's owner/name", sandstep.Clip(repo, 200))
	}
	return owner, name, nil
}

// checkLogin accepts a GitHub login, a bot's "name[bot]" included.
func checkLogin(login string) error {
	if !isName(strings.TrimSuffix(login, "[bot]"), 39, false) {
		return sandstep.Invalid("login", "%q is not a GitHub login", sandstep.Clip(login, 64))
	}
	return nil
}

func checkInstallation(id int64) error {
	if id <= 0 {
		return sandstep.Invalid("installationID", "an installation id is a positive number, not %d", id)
	}
	return nil
}

// isName: 1 to n of letters, digits, '-', '_' (and '.' when dots).
func isName(s string, n int, dots bool) bool {
	if s == "" || len(s) > n {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || (dots && r == '.')
		if !ok {
			return false
		}
	}
	return true
}

// repoPath is the API path of owner/name's repository.
func repoPath(owner, name string) string {
	return "repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name)
}
