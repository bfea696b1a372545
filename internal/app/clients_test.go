package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// A caller's secret is read each time it is asked for, not once per
// warm instance: README says a task's notify.secretRef is read at every
// attempt, and a secret that can no longer be read fails it at once, so a
// rotation must be seen and a deletion must fail the next attempt.
func TestCallerSecretsReadAtEveryAsk(t *testing.T) {
	const name = "/sandstep/secrets/users/alice/notify-hook"
	var mu sync.Mutex
	params := map[string]string{name: "hook-secret-v1-abcdef"}
	reads := 0
	ssm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Name string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		mu.Lock()
		v, ok := params[in.Name]
		reads++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if !ok {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"__type":"ParameterNotFound","message":"parameter not found"}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Parameter": map[string]any{"Name": in.Name, "Type": "SecureString", "Value": v, "Version": 1}})
	}))
	defer ssm.Close()
	env := map[string]string{
		"AWS_ENDPOINT_URL_SSM":  ssm.URL,
		"TABLE_NAME":            "sandstep",
		"DAYTONA_API_KEY_REF":   "ssm:/sandstep/daytona-api-key",
		"AWS_REGION":            "eu-west-1",
		"AWS_ACCESS_KEY_ID":     "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY": "dummy-secret-access-key",
	}
	e, err := NewEnv(Options{Getenv: func(k string) string { return env[k] }, LogWriter: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.CallerSecrets()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ref := "ssm:" + name
	if v, err := res.Strings().Resolve(ctx, "alice", "notify.secretRef", ref); err != nil || v != "hook-secret-v1-abcdef" {
		t.Fatalf("first attempt: %q, %v", v, err)
	}

	// The owner rotates the secret: the next attempt must sign with it.
	mu.Lock()
	params[name] = "hook-secret-v2-123456"
	mu.Unlock()
	v, err := res.Strings().Resolve(ctx, "alice", "notify.secretRef", ref)
	if err != nil || v != "hook-secret-v2-123456" {
		t.Errorf("attempt after a rotation: got %q, %v; want the rotated value (SSM read %d time(s))", v, err, reads)
	}

	// The owner deletes it: the next attempt must fail.
	mu.Lock()
	delete(params, name)
	mu.Unlock()
	if v, err := res.Strings().Resolve(ctx, "alice", "notify.secretRef", ref); err == nil {
		t.Errorf("attempt after the secret was deleted: got %q and no error; README says it fails at once (SSM read %d time(s))", v, reads)
	}
}
