package githubapp

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Access is a permission's level in a token.
type Access string

// The levels a token may ask for.
const (
	Read  Access = "read"
	Write Access = "write"
)

// Permissions are what a token may do: exactly these, nothing else (GitHub
// always adds metadata: read). The zero Permissions is refused, because
// GitHub reads a request without permissions as "all the installation's".
type Permissions struct {
	Contents     Access
	PullRequests Access
	Issues       Access
	// Metadata is only ever Read; alone, it is the least a token can be.
	Metadata Access
}

// The scopes sandstep's steps use. The agent reads attacker-written issue
// text, so it only ever gets ReadContents.
var (
	ReadContents       = Permissions{Contents: Read}                       // the agent's clone
	PushAndPullRequest = Permissions{Contents: Write, PullRequests: Write} // sandstep's push and pull request
	WriteIssues        = Permissions{Issues: Write}                        // the issue comment
	ReadMetadata       = Permissions{Metadata: Read}                       // default branch, collaborator permission
)

func (p Permissions) String() string {
	var parts []string
	for _, kv := range p.pairs() {
		parts = append(parts, kv[0]+":"+kv[1])
	}
	return strings.Join(parts, ",")
}

// pairs lists the asked permissions by GitHub's names.
func (p Permissions) pairs() [][2]string {
	var out [][2]string
	for _, kv := range [][2]string{
		{"contents", string(p.Contents)}, {"pull_requests", string(p.PullRequests)},
		{"issues", string(p.Issues)}, {"metadata", string(p.Metadata)},
	} {
		if kv[1] != "" {
			out = append(out, kv)
		}
	}
	return out
}

func (p Permissions) validate() error {
	if p == (Permissions{}) {
		return sandstep.Invalid("perms", "a token must ask for at least one permission (none would mean all the installation's)")
	}
	for _, kv := range p.pairs() {
		if kv[1] != string(Read) && kv[1] != string(Write) {
			return sandstep.Invalid("perms", "%s must be read or write, not %q", kv[0], sandstep.Clip(kv[1], 32))
		}
	}
	if p.Metadata == Write {
		return sandstep.Invalid("perms", "metadata can only be read")
	}
	return nil
}

// Token is an installation token. Value is a credential: String,
// GoString, LogValue and JSON never show it.
type Token struct {
	Value     string `json:"-"`
	ExpiresAt time.Time
	// minted is when GitHub's answer handed it over: GitHub may refuse it
	// for a moment after (replicationLag). It was created at some moment
	// before; counted from the request, a slow answer would spend the
	// window before its first use.
	minted time.Time
}

// Settled is when GitHub knows t everywhere: until then it may refuse it
// for a moment (replicationLag), and a call it refuses goes again.
func (t Token) Settled() time.Time { return t.minted.Add(replicationLag) }

func (t Token) String() string {
	return fmt.Sprintf("githubapp.Token{Value:[REDACTED] ExpiresAt:%s}", t.ExpiresAt.Format(time.RFC3339))
}

// GoString redacts the value under %#v too.
func (t Token) GoString() string { return t.String() }

// LogValue redacts the value in slog output.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// MinTokenLife is the least life a cached token must have left to be
// handed out again: enough for a clone or a push that starts now.
const MinTokenLife = 10 * time.Minute

// scope is what a token was minted for, the cache's key.
type scope struct {
	installation int64
	repo         string // lower case: GitHub's names ignore case
	perms        Permissions
}

// Token returns an installation token of installationID that can reach
// only repo ("owner/name") with exactly perms. An earlier token of the same
// scope with at least MinTokenLife left is returned again.
//
// Errors: EINVALID for bad arguments or permissions the installation has
// not granted (GitHub's 422); ENOTFOUND when the installation does not
// exist; EINTERNAL when GitHub refuses the App's JWT (a wrong App id or
// key) or answers a token broader than asked.
func (c *Client) Token(ctx context.Context, installationID int64, repo string, perms Permissions) (*Token, error) {
	return c.token(ctx, installationID, repo, perms, true)
}

// OwnToken is Token never shared: a new token each call, kept by no
// cache. A token handed to one holder (a sandbox) and revoked when that
// holder is done must be its own, or the revocation ends another's too.
func (c *Client) OwnToken(ctx context.Context, installationID int64, repo string, perms Permissions) (*Token, error) {
	return c.token(ctx, installationID, repo, perms, false)
}

func (c *Client) token(ctx context.Context, installationID int64, repo string, perms Permissions, shared bool) (*Token, error) {
	_, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	if err := checkInstallation(installationID); err != nil {
		return nil, err
	}
	if err := perms.validate(); err != nil {
		return nil, err
	}
	key := scope{installationID, strings.ToLower(repo), perms}
	if t, ok := c.cached(key); ok && shared {
		return &t, nil
	}

	op := fmt.Sprintf("minting a token for %s (%s) of installation %d", repo, perms, installationID)
	asked := map[string]string{}
	for _, kv := range perms.pairs() {
		asked[kv[0]] = kv[1]
	}
	in := struct {
		Repositories []string          `json:"repositories"`
		Permissions  map[string]string `json:"permissions"`
	}{[]string{name}, asked}
	var it installationToken
	if err := c.doAsApp(ctx, op, http.MethodPost, "app/installations/"+itoa(installationID)+"/access_tokens", in, &it); err != nil {
		return nil, err
	}
	if it.Token == "" || it.ExpiresAt.IsZero() {
		return nil, sandstep.Errorf(sandstep.EINTERNAL, "%s: GitHub answered no token or no expiry", op)
	}
	// The token may reach a sandbox: one broader than asked must not.
	if err := checkGranted(&it, name, perms); err != nil {
		return nil, sandstep.Wrap(err, sandstep.EINTERNAL, "%s: GitHub answered a token broader than asked", op)
	}
	t := Token{Value: it.Token, ExpiresAt: it.ExpiresAt, minted: c.now()}
	if shared {
		c.store(key, t)
	}
	return &t, nil
}

// installationToken is GitHub's answer to a token's minting.
type installationToken struct {
	Token        string            `json:"token"`
	ExpiresAt    time.Time         `json:"expires_at"`
	Permissions  map[string]string `json:"permissions"`
	Repositories []struct {
		Name string `json:"name"`
	} `json:"repositories"`
}

// checkGranted compares what GitHub says a new token can do with what was
// asked. A field GitHub leaves out is not checked.
func checkGranted(it *installationToken, name string, perms Permissions) error {
	if it.Repositories != nil {
		if len(it.Repositories) != 1 || !strings.EqualFold(it.Repositories[0].Name, name) {
			var got []string
			for _, r := range it.Repositories {
				got = append(got, r.Name)
			}
			return fmt.Errorf("repositories %q, asked [%s]", got, name)
		}
	}
	want := map[string]string{"metadata": "read"} // GitHub adds it to every token
	for _, kv := range perms.pairs() {
		want[kv[0]] = kv[1]
	}
	for k, v := range it.Permissions {
		if want[k] != v {
			return fmt.Errorf("permission %s: %s, asked %q", k, v, want[k])
		}
	}
	return nil
}

func (c *Client) cached(key scope) (Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.cache[key]
	if !ok || t.ExpiresAt.Sub(c.now()) < MinTokenLife {
		return Token{}, false
	}
	return t, true
}

// store keeps t and forgets tokens too old to hand out, so the cache holds
// at most the scopes used in the last hour.
func (c *Client) store(key scope, t Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for k, old := range c.cache {
		if old.ExpiresAt.Sub(now) < MinTokenLife {
			delete(c.cache, k)
		}
	}
	c.cache[key] = t
}

// forget drops a token GitHub refused (revoked, or the App reinstalled),
// so the next call mints a new one.
func (c *Client) forget(value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, t := range c.cache {
		if t.Value == value {
			delete(c.cache, k)
		}
	}
}

// installationCall returns ctx carrying a token of scope perms on repo,
// and the token's value for classify.
func (c *Client) installationCall(ctx context.Context, installationID int64, repo string, perms Permissions) (context.Context, string, error) {
	t, err := c.Token(ctx, installationID, repo, perms)
	if err != nil {
		return nil, "", err
	}
	return context.WithValue(withCredential(ctx, t.Value), mintedKey{}, t.minted), t.Value, nil
}

// Revoke ends a token before it expires (GitHub's DELETE
// /installation/token, made with the token itself) and forgets it, so a
// token handed out for one step does not outlive the step. A token GitHub
// still does not know after the replication lag's pauses counts as
// revoked.
func (c *Client) Revoke(ctx context.Context, value string) error {
	if value == "" {
		return sandstep.Invalid("token", "is empty")
	}
	c.forget(value)
	// Every caller revokes a token minted moments before, which GitHub may
	// not know yet (replicationLag): its 401 is asked again as a new
	// token's call is, and only then taken for a token already gone.
	ctx = context.WithValue(withCredential(ctx, value), mintedKey{}, c.now())
	err := c.do(ctx, http.MethodDelete, "installation/token", nil, nil)
	if err == nil || isStatus(err, http.StatusUnauthorized) {
		return nil
	}
	return classify(err, "revoking a token", value, false)
}
