package app

import (
	"context"
	"sync"
	"time"

	"github.com/sandstep/sandstep/internal/secrets"
)

// secretRetry is how often an instance reads a deployment secret again
// after it was refused: a rotated one is taken up within it, and a stream
// of forged deliveries costs no more than a read of SSM a minute.
const secretRetry = time.Minute

// rereader reads one of the deployment's secrets again after the value
// held was refused (the webhook secret, the Daytona key, the App's key):
// the one home of "at most once every secretRetry per instance". The
// bound starts at the first reread, not at the read of first use: an
// instance that started just before a rotation reads again at its first
// refusal like any other, instead of refusing for the rest of its first
// minute.
type rereader struct {
	e    *Env
	name string // the variable, as errors name it
	ref  secrets.Ref
	// what is logged when a reread fails ("" logs nothing: the caller does).
	what string

	mu   sync.Mutex
	last time.Time // the last reread; zero before the first
}

// reread returns the secret read now, or "" when it was read again less
// than secretRetry ago. A failed read counts as a read, unless it failed
// because its caller's context ended: that says nothing of SSM, and
// counted, it would leave a rotated value unread (every call refused) for
// the rest of the minute.
func (r *rereader) reread(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.e.clock()()
	if !r.last.IsZero() && now.Sub(r.last) < secretRetry {
		return "", nil
	}
	before := r.last
	r.last = now
	v, err := r.e.deploymentSecret(ctx, r.name, "", r.ref)
	if err != nil && ctx.Err() != nil {
		r.last = before
	}
	if err != nil && r.what != "" {
		r.e.Logger.WarnContext(ctx, r.what, "err", err)
	}
	return v, err
}
