package githubapp

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// answer is a fault that answers every call but the token's with status,
// headers and a JSON body.
func answer(status int, header map[string]string, body string) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/access_tokens") {
			return false
		}
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
		return true
	}
}

func TestErrorClassification(t *testing.T) {
	reset := strconv.FormatInt(time.Now().Add(90*time.Second).Unix(), 10)
	secondary := `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		code   sandstep.Code
		field  string
		// retry is the RetryAfter wanted, within 2 s (reset times are
		// whole seconds).
		retry time.Duration
	}{
		{"not found", 404, nil, `{"message":"Not Found"}`, sandstep.ENOTFOUND, "", 0},
		{"token refused", 401, nil, `{"message":"Bad credentials"}`, sandstep.EUNAUTHENTICATED, "", 0},
		{"not accessible by integration", 403, nil, `{"message":"Resource not accessible by integration"}`, sandstep.EUNAUTHENTICATED, "", 0},
		{"422 naming its field", 422, nil, `{"message":"Validation Failed","errors":[{"resource":"Issue","code":"custom","field":"body","message":"body is too long"}]}`, sandstep.EINVALID, "body", 0},
		{"422 naming none", 422, nil, `{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"No commits between a and b"}]}`, sandstep.EINVALID, "", 0},
		{"409", 409, nil, `{"message":"Git Repository is empty."}`, sandstep.ECONFLICT, "", 0},
		{"primary limit, 403", 403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "5000", "X-RateLimit-Reset": reset}, `{"message":"API rate limit exceeded for installation ID 77."}`, sandstep.ETRANSIENT, "", 90 * time.Second},
		{"primary limit, 429", 429, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}, `{"message":"API rate limit exceeded"}`, sandstep.ETRANSIENT, "", 90 * time.Second},
		{"secondary limit with Retry-After", 403, map[string]string{"Retry-After": "30"}, secondary, sandstep.ETRANSIENT, "", 30 * time.Second},
		{"secondary limit naming no wait", 403, nil, secondary, sandstep.ETRANSIENT, "", time.Minute},
		{"secondary limit without its URL", 429, nil, `{"message":"You have exceeded a secondary rate limit."}`, sandstep.ETRANSIENT, "", time.Minute},
		{"secondary limit, 403 without its URL", 403, nil, `{"message":"You have exceeded a secondary rate limit."}`, sandstep.ETRANSIENT, "", time.Minute},
		{"primary limit, 403, its headers dropped", 403, nil, `{"message":"API rate limit exceeded for installation ID 77."}`, sandstep.ETRANSIENT, "", time.Minute},
		{"abuse detection, its URL dropped", 403, nil, `{"message":"You have triggered an abuse detection mechanism. Please wait a few minutes."}`, sandstep.ETRANSIENT, "", time.Minute},
		{"429 naming no wait", 429, nil, `{"message":"slow down"}`, sandstep.ETRANSIENT, "", time.Minute},
		{"429 with Retry-After", 429, map[string]string{"Retry-After": "12"}, `{"message":"slow down"}`, sandstep.ETRANSIENT, "", 12 * time.Second},
		{"500", 500, nil, `{"message":"Server Error"}`, sandstep.ETRANSIENT, "", 0},
		{"502 with an HTML body", 502, nil, `<html>bad gateway</html>`, sandstep.ETRANSIENT, "", 0},
		{"503 with a Retry-After date", 503, map[string]string{"Retry-After": time.Now().Add(45 * time.Second).UTC().Format(http.TimeFormat)}, `{}`, sandstep.ETRANSIENT, "", 45 * time.Second},
		{"an absurd Retry-After is capped", 503, map[string]string{"Retry-After": "999999"}, `{}`, sandstep.ETRANSIENT, "", time.Hour},
		{"418", 418, nil, `{"message":"I'm a teapot"}`, sandstep.EINTERNAL, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.fault = answer(tt.status, tt.header, tt.body)
			_, err := f.client(t).DefaultBranch(context.Background(), testInstallation, testRepo)
			if got := sandstep.ErrorCode(err); got != tt.code {
				t.Fatalf("code %q (%v), want %q", got, err, tt.code)
			}
			if got := sandstep.ErrorField(err); got != tt.field {
				t.Errorf("field %q, want %q", got, tt.field)
			}
			got := sandstep.ErrorRetryAfter(err)
			if d := got - tt.retry; d < -2*time.Second || d > 2*time.Second {
				t.Errorf("RetryAfter %v, want about %v", got, tt.retry)
			}
			if !strings.Contains(err.Error(), "reading "+testRepo) {
				t.Errorf("the error does not say what was tried: %v", err)
			}
		})
	}
}

func TestNetworkAndContextErrors(t *testing.T) {
	t.Run("GitHub unreachable", func(t *testing.T) {
		f := newFake(t)
		c := f.client(t)
		f.srv.Close()
		_, err := c.Installation(context.Background(), testRepo)
		if sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
			t.Fatalf("%v, want ETRANSIENT", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		f := newFake(t)
		f.fault = func(w http.ResponseWriter, r *http.Request) bool {
			<-r.Context().Done()
			return true
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := f.client(t).Installation(ctx, testRepo)
		if sandstep.ErrorCode(err) != sandstep.ETIMEOUT {
			t.Fatalf("%v, want ETIMEOUT", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		f := newFake(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := f.client(t).Installation(ctx, testRepo)
		if sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
			t.Fatalf("%v, want ETRANSIENT", err)
		}
	})
}

// Whatever GitHub (or a proxy in front of it) echoes, an error never shows
// the token or the JWT.
func TestErrorsNeverShowCredentials(t *testing.T) {
	for _, status := range []int{401, 403, 404, 422, 500} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			f := newFake(t)
			var mu sync.Mutex
			var sent []string
			f.fault = func(w http.ResponseWriter, r *http.Request) bool {
				auth := r.Header.Get("Authorization")
				mu.Lock()
				sent = append(sent, strings.TrimPrefix(auth, "Bearer "))
				mu.Unlock()
				if strings.HasSuffix(r.URL.Path, "/access_tokens") && status != 401 {
					return false
				}
				ghError(w, status, "refused "+auth, map[string]string{"resource": "Repository", "field": "name", "code": "custom", "message": "again " + auth})
				return true
			}
			c := f.client(t)
			_, err := c.DefaultBranch(context.Background(), testInstallation, testRepo)
			if err == nil {
				t.Fatal("no error")
			}
			_, err2 := c.Installation(context.Background(), testRepo)
			mu.Lock()
			defer mu.Unlock()
			for _, e := range []error{err, err2} {
				for _, cred := range sent {
					if cred != "" && strings.Contains(e.Error(), cred) {
						t.Errorf("the error shows a credential: %v", e)
					}
				}
			}
			if len(sent) < 2 {
				t.Errorf("the test saw %d credentials, want a JWT and a token", len(sent))
			}
		})
	}
}

// A redirect to another host (GitHub redirects renamed repositories)
// carries no credential there.
func TestRedirectElsewhereCarriesNoCredential(t *testing.T) {
	var mu sync.Mutex
	var gotAuth []string
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		gotAuth = append(gotAuth, r.Header.Get("Authorization"))
		reply(w, 200, map[string]any{"default_branch": "main"})
	}))
	defer elsewhere.Close()
	f := newFake(t)
	f.fault = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == "GET" && r.URL.Path == "/repos/"+testRepo {
			http.Redirect(w, r, elsewhere.URL+"/repositories/1", http.StatusMovedPermanently)
			return true
		}
		return false
	}
	branch, err := f.client(t).DefaultBranch(context.Background(), testInstallation, testRepo)
	if err != nil || branch != "main" {
		t.Fatalf("DefaultBranch = %q, %v", branch, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gotAuth) != 1 || gotAuth[0] != "" {
		t.Errorf("the other host got Authorization %q", gotAuth)
	}
}
