package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// Every command gets the secretEnv's values in its environment, as env's:
// resolved values past the env bound (a Secrets Manager secret holds 64
// KiB, and a create may name 100) would start a sandbox in which no
// command can start (E2BIG), so the create is refused before anything is
// reserved or made, naming secretEnv and none of the values.
func TestSecretEnvIsBoundedAsResolved(t *testing.T) {
	const each = 60 << 10
	refs := func(n int) (map[string]string, fakeSecrets) {
		env, vals := map[string]string{}, fakeSecrets{}
		for i := range n {
			ref := fmt.Sprintf("ssm:/sandstep/secrets/users/alice/s%d", i)
			env[fmt.Sprintf("S%d", i)] = ref
			vals[ref] = fmt.Sprintf("secret-%d-", i) + strings.Repeat("x", each)
		}
		return env, vals
	}
	for _, tc := range []struct {
		name    string
		secrets int
		refused bool
	}{
		{"within the bound", MaxEnvBytes / each, false},
		{"past the bound", MaxEnvBytes/each + 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 3})
			p := newFakeProvider()
			env, vals := refs(tc.secrets)
			svc := newService(t, p, st, vals, Options{})
			_, err := svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{SecretEnv: env})
			if !tc.refused {
				if err != nil {
					t.Fatalf("create: %v", err)
				}
				return
			}
			var se *sandstep.Error
			if !errors.As(err, &se) || se.Code != sandstep.EINVALID || se.Field != "secretEnv" {
				t.Fatalf("create = %v, want EINVALID naming secretEnv", err)
			}
			if strings.Contains(err.Error(), "secret-0-") {
				t.Errorf("the refusal quotes a value: %.200v", err)
			}
			if len(p.specs) != 0 {
				t.Errorf("%d sandboxes made for a refused create", len(p.specs))
			}
			if q, err := st.GetQuota(context.Background(), "alice"); err != nil || q.Active != 0 {
				t.Errorf("quota after a refused create: %+v, %v", q, err)
			}
		})
	}
}
