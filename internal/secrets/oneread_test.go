package secrets

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
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

// OneRead keeps a value the Resolver's cache served too: a cache entry
// that expires mid-request cannot hand one member of a secret from one
// version and another from the next.
func TestOneReadKeepsAValueServedFromTheCache(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	sm := &versioned{version: 1}
	r := NewResolver(sm, sm, WithTTL(time.Minute), WithClock(func() time.Time { return now }))
	user := Ref{Field: "u", Scheme: SchemeSecretsManager, Name: "db", Key: "user"}
	pass := Ref{Field: "p", Scheme: SchemeSecretsManager, Name: "db", Key: "pass"}
	if _, err := r.Resolve(context.Background(), user); err != nil { // an earlier request fills the cache
		t.Fatal(err)
	}
	ctx := OneRead(context.Background())
	u, err := r.Resolve(ctx, user) // served from the cache: version 1
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute) // the entry expires mid-request
	sm.mu.Lock()
	sm.version = 2 // and the owner rotates the secret
	sm.mu.Unlock()
	p, err := r.Resolve(ctx, pass)
	if err != nil {
		t.Fatal(err)
	}
	if u[1:] != p[1:] {
		t.Fatalf("one OneRead request got user %q and pass %q: two versions of one secret", u, p)
	}
}
