package workflow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sandstep/sandstep/internal/sandbox"
)

// defaultInProgressExpiry bounds how long an attempt without a deadline
// holds its idempotency key before a retry may take over.
const defaultInProgressExpiry = 15 * time.Minute

// idempotent runs fn at most once per (user, Idempotency-Key): a retry of a
// completed call gets the stored response, a retry while the first attempt
// still runs is a conflict, the same key with another request is a
// conflict, and a failed attempt frees the key so a retry can proceed. The
// in-progress record expires with the caller's deadline (the Lambda's
// remaining time), so a crashed attempt does not hold the key for long.
func idempotent[T any](ctx context.Context, s *Service, call Call, op string, request any, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	if call.IdempotencyKey == "" {
		return fn(ctx)
	}
	hash, err := requestHash(op, request)
	if err != nil {
		return zero, err
	}
	expiry := s.opts.Now().Add(defaultInProgressExpiry)
	if d, ok := ctx.Deadline(); ok {
		expiry = d
	}
	rec, err := s.store.BeginIdempotent(ctx, call.UserID, call.IdempotencyKey, hash, expiry)
	if err != nil {
		return zero, fmt.Errorf("idempotency key: %w", err)
	}
	if rec != nil {
		var out T
		if err := json.Unmarshal(rec.Response, &out); err != nil {
			return zero, sandbox.Wrap(err, sandbox.EINTERNAL, "stored response for idempotency key is unreadable")
		}
		return out, nil
	}
	out, err := fn(ctx)
	if err != nil {
		if aerr := s.store.AbortIdempotent(context.WithoutCancel(ctx), call.UserID, call.IdempotencyKey); aerr != nil {
			s.opts.Logger.ErrorContext(ctx, "idempotency record not released", "op", op, "err", aerr)
		}
		return zero, err
	}
	body, err := json.Marshal(out)
	if err == nil {
		err = s.store.CompleteIdempotent(context.WithoutCancel(ctx), call.UserID, call.IdempotencyKey, body, s.opts.IdempotencyTTL)
	}
	if err != nil {
		// The work is done; the caller gets its answer. A retry will find
		// the key in progress until it expires, never a second execution.
		s.opts.Logger.ErrorContext(ctx, "idempotency record not completed", "op", op, "err", err)
	}
	return out, nil
}

func requestHash(op string, request any) (string, error) {
	b, err := json.Marshal(struct {
		Op      string `json:"op"`
		Request any    `json:"request"`
	}{op, request})
	if err != nil {
		return "", sandbox.Wrap(err, sandbox.EINTERNAL, "hash request")
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
