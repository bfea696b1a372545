package service

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/sandstep/sandstep/internal/logging"
	"github.com/sandstep/sandstep/internal/secrets"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
	"github.com/sandstep/sandstep/internal/testutil"
)

// rotatingSecret is one Secrets Manager JSON secret whose owner rotates
// it right after every read (a rotation landing between two reads).
type rotatingSecret struct {
	mu    sync.Mutex
	reads int
}

func (r *rotatingSecret) GetParameter(context.Context, string, bool) (string, error) {
	return "", fmt.Errorf("no parameters")
}

func (r *rotatingSecret) GetSecretValue(context.Context, string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	return fmt.Sprintf(`{"user":"dbuser-v%d","pass":"dbpass-v%d"}`, r.reads, r.reads), nil
}

// Callers' secrets are read afresh at every ask, but once per request: a
// create naming two members of one JSON secret reads it once, so a
// rotation between two reads cannot hand it a user of one version and a
// password of another.
func TestOneCreateReadsASecretOnceForAllItsKeys(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 3})
	sm := &rotatingSecret{}
	scopes, err := secrets.NewScopes("/sandstep/secrets/", "sandstep/")
	if err != nil {
		t.Fatal(err)
	}
	p := newFakeProvider()
	svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
		Secrets: secrets.NewResolver(sm, sm, secrets.WithScopes(scopes)).Strings()},
		Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Logger: logging.New(&testutil.Buffer{}, logging.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	const ref = "secretsmanager:sandstep/users/alice/db"
	if _, err := svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{
		SecretEnv: map[string]string{"DB_USER": ref + "#user", "DB_PASS": ref + "#pass"}}); err != nil {
		t.Fatal(err)
	}
	files := p.sandboxes[p.specs[0].Name].files
	if got, want := string(files[secretsFile]), "DB_PASS='dbpass-v1'\nDB_USER='dbuser-v1'\n"; got != want || sm.reads != 1 {
		t.Errorf("one create read the secret %d times; the sandbox got\n%q\nwant one version of it:\n%q", sm.reads, got, want)
	}
}
