package daytona

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestNewValidatesAndDefaults(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no key", Config{}, "APIKey"},
		{"key with space", Config{APIKey: "a b"}, "APIKey"},
		{"key with control", Config{APIKey: "a\x00b"}, "APIKey"},
		{"relative url", Config{APIKey: "k", APIURL: "/api"}, "APIURL"},
		{"user info", Config{APIKey: "k", APIURL: "https://u:p@host/api"}, "APIURL"},
		{"query", Config{APIKey: "k", APIURL: "https://host/api?x=1"}, "APIURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("err = %v, want invalid %s", err, tt.field)
			}
		})
	}

	c, err := New(Config{APIKey: "k", APIURL: "https://app.daytona.io/api/"})
	if err != nil {
		t.Fatal(err)
	}
	if c.APIURL() != "https://app.daytona.io/api" {
		t.Errorf("APIURL = %q, want the trailing slash trimmed", c.APIURL())
	}
	if c.cfg.APIKey != "" || c.key() != "k" {
		t.Errorf("the key is kept in cfg (%t) or not sent as given (%t): the client sends apiKey alone, which newKey replaces", c.cfg.APIKey != "", c.key() != "k")
	}
	if c.retry != DefaultRetryPolicy {
		t.Errorf("retry = %+v, want defaults", c.retry)
	}
	if c.cfg.ResponseHeaderTimeout != DefaultResponseHeaderTimeout || c.cfg.ExecTimeout != DefaultExecTimeout ||
		c.cfg.MaxOutputBytes != DefaultMaxOutputBytes || c.cfg.PollInterval != DefaultPollInterval {
		t.Errorf("defaults not applied: %+v", c.cfg)
	}
	tr, ok := c.http.Transport.(*http.Transport)
	if !ok || tr.TLSHandshakeTimeout != 10*time.Second || tr.DialContext == nil || c.http.Timeout != 0 {
		t.Errorf("default client lacks dial/TLS timeouts or has an overall timeout")
	}

	c, err = New(Config{APIKey: "k"})
	if err != nil || c.APIURL() != DefaultAPIURL {
		t.Errorf("default URL = %q, %v", c.APIURL(), err)
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	other := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { w.WriteHeader(200) })
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
	})
	c, err := New(Config{APIKey: testKey, APIURL: f.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSandbox(t.Context(), "sb-1")
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusFound {
		t.Fatalf("err = %v, want the 302 as an error", err)
	}
	if n := len(other.requests()); n != 0 {
		t.Errorf("redirect followed: %d requests to the other host", n)
	}
}
