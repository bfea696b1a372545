package app

import (
	"context"
	"time"

	"github.com/sandstep/sandstep/internal/secrets"
)

// secretRetry is how often an instance reads a deployment secret again
// after it was refused: a rotated one is taken up within it, and a stream
// of forged deliveries costs no more than a read of SSM a minute.
const secretRetry = time.Minute

// rereader reads one of the deployment's secrets again after the value
// held was refused (the webhook secret, the Daytona key, the App's key):
// the one home of "one reread at a time, waited for no longer than the
// caller's context" and "at most once every secretRetry per instance".
// The bound starts at the first reread, not at the read of first use: an
// instance that started just before a rotation reads again at its first
// refusal like any other, instead of refusing for the rest of its first
// minute.
type rereader struct {
	e    *Env
	name string // the variable, as errors name it
	ref  secrets.Ref
	what string // logged when a reread fails

	slot  chan struct{} // one slot: held while reading
	last  time.Time     // the last reread; zero before the first (held slot)
	value string        // what the last reread read (held slot)
}

func newRereader(e *Env, name string, ref secrets.Ref, what string) *rereader {
	return &rereader{e: e, name: name, ref: ref, what: what, slot: make(chan struct{}, 1)}
}

// reread returns the secret read now or, when it was read again less
// than secretRetry ago, the last value a read found (a read that failed
// keeps it): a caller refused beside the one reading gets what it read. A caller waits for another's read no
// longer than its own context: that read is bounded by the other's, which
// may be far longer. A failed read counts as a read, unless it failed
// because its caller's context ended: that says nothing of SSM, and
// counted, it would leave a rotated value unread (every call refused) for
// the rest of the minute.
func (r *rereader) reread(ctx context.Context) (string, error) {
	select {
	case r.slot <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-r.slot }()
	now := r.e.clock()()
	if !r.last.IsZero() && now.Sub(r.last) < secretRetry {
		return r.value, nil
	}
	v, err := r.e.deploymentSecret(ctx, r.name, "", r.ref)
	if err != nil {
		r.e.Logger.WarnContext(ctx, r.what, "err", err)
		if ctx.Err() == nil {
			r.last = now
		}
		return "", err
	}
	r.last, r.value = now, v
	return v, nil
}
