package secrets

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// versioned is a JSON secret its owner rotates at will.
type versioned struct {
	mu      sync.Mutex
	version int
}

func (v *versioned) GetParameter(context.Context, string, bool) (string, error) {
	return "", fmt.Errorf("no parameters")
}

func (v *versioned) GetSecretValue(context.Context, string) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return fmt.Sprintf(`{"user":"u%d","pass":"p%d"}`, v.version, v.version), nil
}

// Under OneRead the members of one JSON secret come from one version,
// though its owner rotates it mid-request; without it each is read afresh.
func TestOneReadServesOneVersion(t *testing.T) {
	user := Ref{Field: "u", Scheme: SchemeSecretsManager, Name: "db", Key: "user"}
	pass := Ref{Field: "p", Scheme: SchemeSecretsManager, Name: "db", Key: "pass"}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		same bool
	}{
		{"one request", OneRead(context.Background()), true},
		{"no request", context.Background(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sm := &versioned{version: 1}
			r := NewResolver(sm, sm)
			u, err := r.Resolve(tc.ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			sm.mu.Lock()
			sm.version = 2 // the owner rotates the secret
			sm.mu.Unlock()
			p, err := r.Resolve(tc.ctx, pass)
			if err != nil {
				t.Fatal(err)
			}
			if same := u[1:] == p[1:]; same != tc.same {
				t.Fatalf("user %q, pass %q: same version %v, want %v", u, p, same, tc.same)
			}
		})
	}
}
