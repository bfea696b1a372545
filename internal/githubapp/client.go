package githubapp

import (
	"context"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sandstep/sandstep/internal/appjwt"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// DefaultBaseURL is GitHub's REST API (GITHUB_API_URL's default).
const DefaultBaseURL = "https://api.github.com"

// DefaultTimeout bounds a call when Config.HTTPClient is nil.
const DefaultTimeout = 30 * time.Second

// Config is what New needs. Its String, GoString and LogValue methods
// never show PrivateKey.
type Config struct {
	// BaseURL is the REST API's base URL, e.g. https://api.github.com,
	// https://ghe.example.com/api/v3 or the local stand-in's
	// http://127.0.0.1:3005. Empty means DefaultBaseURL. Plain http is
	// accepted only for a loopback host: tokens travel in its headers.
	BaseURL string
	// AppID is the App's id, the JWT's issuer.
	AppID int64
	// PrivateKey is the App's private key, PEM (PKCS#1 as GitHub issues
	// it, or PKCS#8).
	PrivateKey []byte
	// HTTPClient sends every call. Nil means a client with DefaultTimeout.
	HTTPClient *http.Client
	// RereadKey, when set, reads the App's private key again after GitHub
	// refused the App's JWT: a key the operator rotated (the old one
	// deleted at GitHub) is taken up by a running process. It bounds how
	// often and how long it reads: within its bound it answers the key
	// its last good read found (a call refused beside the one that read
	// gets that key), or nil.
	RereadKey func(ctx context.Context) ([]byte, error)
}

func (c Config) String() string {
	key := "[REDACTED]"
	if len(c.PrivateKey) == 0 {
		key = "[none]"
	}
	return fmt.Sprintf("githubapp.Config{BaseURL:%q AppID:%d PrivateKey:%s}", c.BaseURL, c.AppID, key)
}

// GoString redacts the key under %#v too.
func (c Config) GoString() string { return c.String() }

// LogValue redacts the key in slog output.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Client calls GitHub as one App. It is safe for concurrent use; one per
// process, so that its token cache serves every call.
type Client struct {
	http   *http.Client // adds the context's credential for the API's host
	base   *url.URL
	appID  int64
	key    *rsa.PrivateKey // under keyMu
	keyMu  sync.Mutex
	reread func(ctx context.Context) ([]byte, error) // Config.RereadKey
	now    func() time.Time
	mu     sync.Mutex
	cache  map[scope]Token
	// replicationWait is the first pause before a call on a new token
	// GitHub refused is sent again (do).
	replicationWait time.Duration
}

// New checks cfg and returns a Client. A bad field is EINVALID naming it.
func New(cfg Config) (*Client, error) {
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, sandstep.Invalid("BaseURL", "the GitHub API URL %q is not an http(s) URL with a host and nothing after its path", sandstep.Clip(base, 200))
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, sandstep.Invalid("BaseURL", "the GitHub API URL %q is plain http to a host other than loopback; tokens would travel in the clear", sandstep.Clip(base, 200))
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if cfg.AppID <= 0 {
		return nil, sandstep.Invalid("AppID", "the GitHub App id must be a positive number, not %d", cfg.AppID)
	}
	if len(cfg.PrivateKey) == 0 {
		return nil, sandstep.Invalid("PrivateKey", "the GitHub App's private key is empty")
	}
	key, err := appjwt.ParseKey(cfg.PrivateKey)
	if err != nil {
		return nil, &sandstep.Error{Code: sandstep.EINVALID, Field: "PrivateKey", Message: "the GitHub App's private key is not an RSA key in PEM", Err: err}
	}

	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	withAuth := *hc
	inner := hc.Transport
	if inner == nil {
		inner = http.DefaultTransport
	}
	withAuth.Transport = &authTransport{inner: inner, scheme: u.Scheme, host: u.Host}
	return &Client{http: &withAuth, base: u, appID: cfg.AppID, key: key, reread: cfg.RereadKey, now: time.Now, cache: map[scope]Token{},
		replicationWait: time.Second}, nil
}

// String shows where the client calls and as which App, never the key.
func (c *Client) String() string {
	return fmt.Sprintf("githubapp.Client{BaseURL:%q AppID:%d}", c.base.String(), c.appID)
}

// GoString redacts the key under %#v too.
func (c *Client) GoString() string { return c.String() }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// signedJWT signs the App's JWT (appjwt.ForApp), and returns it with the
// key it was signed with.
func (c *Client) signedJWT() (string, *rsa.PrivateKey, error) {
	c.keyMu.Lock()
	key := c.key
	c.keyMu.Unlock()
	s, err := appjwt.ForApp(key, c.appID, c.now())
	if err != nil {
		return "", nil, sandstep.Wrap(err, sandstep.EINTERNAL, "githubapp: signing the App's JWT")
	}
	return s, key, nil
}

// doAsApp makes a call as the App, its JWT the credential. A JWT GitHub
// refuses (401) is signed again once, with the key read again, when that
// read finds another key; op names the call in its error.
func (c *Client) doAsApp(ctx context.Context, op, method, path string, in, out any) error {
	for again := true; ; again = false {
		jwtStr, signer, err := c.signedJWT()
		if err != nil {
			return err
		}
		err = c.do(withCredential(ctx, jwtStr), method, path, in, out)
		if err == nil {
			return nil
		}
		if again && isStatus(err, http.StatusUnauthorized) && c.newKey(ctx, signer) {
			continue
		}
		return classify(err, op, jwtStr, true)
	}
}

// newKey reports whether a JWT GitHub refused, signed with signer, may
// be signed again with another key: the key held is no longer signer (a
// call beside it read the key), or the App's key read again
// (Config.RereadKey) is another key, now the one signed with. A read that
// fails or finds no RSA key in PEM keeps the key held: the refusal is
// answered as it was.
func (c *Client) newKey(ctx context.Context, signer *rsa.PrivateKey) bool {
	c.keyMu.Lock()
	moved := !c.key.Equal(signer)
	c.keyMu.Unlock()
	if moved {
		return true
	}
	if c.reread == nil {
		return false
	}
	pemBytes, err := c.reread(ctx)
	if err != nil || len(pemBytes) == 0 {
		return false
	}
	key, err := appjwt.ParseKey(pemBytes)
	if err != nil || key.Equal(signer) {
		return false
	}
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	if c.key.Equal(signer) { // a call beside it may have stored a newer one
		c.key = key
	}
	return true
}

type credentialKey struct{}

// withCredential makes ctx's calls send credential as their Authorization
// header. A credential rides on the context, not on a client per token, so
// one HTTP client serves every installation.
func withCredential(ctx context.Context, credential string) context.Context {
	return context.WithValue(ctx, credentialKey{}, credential)
}

// authTransport adds the context's credential to requests for the API's
// own scheme and host only, so a redirect elsewhere never carries a token.
type authTransport struct {
	inner        http.RoundTripper
	scheme, host string
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	cred, _ := req.Context().Value(credentialKey{}).(string)
	if cred == "" || req.URL.Scheme != t.scheme || req.URL.Host != t.host {
		return t.inner.RoundTrip(req)
	}
	req = req.Clone(req.Context()) // a RoundTripper must not change its request
	req.Header.Set("Authorization", "Bearer "+cred)
	return t.inner.RoundTrip(req)
}
