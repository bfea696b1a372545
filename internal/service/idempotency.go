package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// storedResponse is what an idempotency record keeps: the response, or
// the fact that it was too large to keep.
type storedResponse struct {
	Response json.RawMessage `json:"response,omitempty"`
	// Omitted marks a completed request whose response was not kept: a
	// retry is told so and the request is not run again.
	Omitted bool `json:"omitted,omitempty"`
	Size    int  `json:"size,omitempty"`
}

// idempotent runs fn at most once per (user, Idempotency-Key): a retry of a
// completed call gets the stored response, a retry while the first attempt
// still runs is a conflict, the same key with another request is a
// conflict, and a failed attempt frees the key so a retry can proceed. The
// in-progress record expires with the caller's deadline (the Lambda's
// remaining time), by which all the work, cleanup included, has ended; a
// crashed attempt does not hold the key for long, and one that overran
// cannot complete or free a key a retry has taken over.
func idempotent[T any](ctx context.Context, s *Service, call Call, op string, request any, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	if call.IdempotencyKey == "" {
		return fn(ctx)
	}
	hash, err := requestHash(op, request)
	if err != nil {
		return zero, err
	}
	attempt := randomID()
	// A zero expiry lets the store derive it from ctx's deadline.
	rec, err := s.idem.BeginIdempotent(ctx, call.UserID, call.IdempotencyKey, hash, attempt, time.Time{})
	if err != nil {
		return zero, err
	}
	if rec != nil {
		return replay[T](rec.Response)
	}
	out, err := fn(ctx)
	wctx, cancel := s.writeContext(ctx)
	defer cancel()
	if err != nil {
		if aerr := s.idem.AbortIdempotent(wctx, call.UserID, call.IdempotencyKey, attempt); aerr != nil {
			s.opts.Logger.ErrorContext(ctx, "idempotency record not released", "op", op, "err", aerr)
		}
		return zero, err
	}
	stored, err := encodeStored(out, s.opts.MaxStoredResponse)
	if err == nil {
		err = s.idem.CompleteIdempotent(wctx, call.UserID, call.IdempotencyKey, attempt, stored)
	}
	if err != nil {
		// The work is done; the caller gets its answer. A retry finds the
		// key in progress until it expires, never a second run inside it.
		s.opts.Logger.ErrorContext(ctx, "idempotency record not completed", "op", op, "err", err)
	}
	return out, nil
}

// refused answers a request its checks refused with err, unless its
// Idempotency-Key holds the completed answer of the same request (op,
// request as idempotent is given them): the checks read the deployment's
// settings (MAX_EXEC_TIMEOUT_SECONDS, MAX_TTL_MINUTES, NETWORK_POLICY,
// MAX_TASK_DURATION), which may have been lowered since, or differ on the
// other side of a deploy, and a retry with the same key and body gets the
// first answer; refused, its caller would take it that nothing ran. A key
// still in progress, or used with another request, is the conflict it
// would be. The key is only read: a claim would hold it, as a request of
// another body, for IDEMPOTENCY_TTL once its release failed, and refuse
// an attempt that may run while it is held.
func refused[T any](ctx context.Context, s *Service, call Call, op string, request any, err error) (T, error) {
	var zero T
	if call.IdempotencyKey == "" {
		return zero, err
	}
	hash, herr := requestHash(op, request)
	if herr != nil {
		return zero, err
	}
	rec, lerr := s.idem.LookupIdempotent(ctx, call.UserID, call.IdempotencyKey, hash)
	switch {
	case sandstep.ErrorCode(lerr) == sandstep.ECONFLICT:
		return zero, lerr
	case lerr != nil, rec == nil:
		return zero, err
	}
	return replay[T](rec.Response)
}

// encodeStored measures and keeps the response as it is sent (EncodeJSON):
// encoding/json's HTML escaping would count each '<', '>' or '&' of a
// command's output six bytes, refusing the replay of a result far under max.
func encodeStored(out any, max int) ([]byte, error) {
	body, err := EncodeJSON(out)
	if err != nil {
		return nil, sandstep.Wrap(err, sandstep.EINTERNAL, "encode response")
	}
	if len(body) > max {
		return EncodeJSON(storedResponse{Omitted: true, Size: len(body)})
	}
	return EncodeJSON(storedResponse{Response: body})
}

func replay[T any](stored []byte) (T, error) {
	var zero, out T
	var sr storedResponse
	if err := json.Unmarshal(stored, &sr); err != nil {
		return zero, sandstep.Wrap(err, sandstep.EINTERNAL, "stored response for idempotency key is unreadable")
	}
	if sr.Omitted {
		return zero, sandstep.Errorf(sandstep.ECONFLICT,
			"the request with this Idempotency-Key has completed, but its response (%d bytes) was too large to keep; it is not run again", sr.Size)
	}
	if err := json.Unmarshal(sr.Response, &out); err != nil {
		return zero, sandstep.Wrap(err, sandstep.EINTERNAL, "stored response for idempotency key is unreadable")
	}
	return out, nil
}

func requestHash(op string, request any) (string, error) {
	b, err := json.Marshal(struct {
		Op      string `json:"op"`
		Request any    `json:"request"`
	}{op, request})
	if err != nil {
		return "", sandstep.Wrap(err, sandstep.EINTERNAL, "hash request")
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
