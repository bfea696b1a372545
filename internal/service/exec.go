package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sandstep/sandstep/internal/metrics"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// Exec runs a command in the caller's sandbox and waits for it. The
// timeout is bounded by the caller's deadline less a margin.
func (s *Service) Exec(ctx context.Context, call Call, id string, in ExecInput) (*ExecResult, error) {
	defer metrics.Operation(ctx, "exec", time.Now())
	if err := requireUser(call); err != nil {
		return nil, err
	}
	if err := validateID("id", id); err != nil {
		return nil, err
	}
	timeout, err := s.validateExec(&in)
	if err != nil {
		return refused[*ExecResult](ctx, s, call, "exec:"+id, in, err)
	}
	return idempotent(ctx, s, call, "exec:"+id, in, func(ctx context.Context) (*ExecResult, error) {
		if known, ok := s.known.owned(id, call.UserID); ok {
			return s.execKnown(ctx, call, known, in, timeout)
		}
		sb, err := s.ownedSandbox(ctx, call, id)
		if err != nil {
			return nil, err
		}
		s.known.saw(sb)
		return s.exec(ctx, call, sb, in, timeout)
	})
}

// exec runs the command in sb, a record just read.
func (s *Service) exec(ctx context.Context, call Call, sb *sandstep.Sandbox, in ExecInput, timeout time.Duration) (*ExecResult, error) {
	if err := runnable(sb); err != nil {
		return nil, err
	}
	return s.run(ctx, call, sb, recordRead{done: answered, get: func() (*sandstep.Sandbox, error) { return sb, nil }}, in, timeout)
}

// execKnown runs the command in a sandbox this instance found ready and
// the caller's before: the read of its record runs beside the session's
// creation, and the command starts only once the read says the sandbox is
// still the caller's and ready.
func (s *Service) execKnown(ctx context.Context, call Call, known *sandstep.Sandbox, in ExecInput, timeout time.Duration) (*ExecResult, error) {
	get, done, stop := overlapDone(ctx, func(ctx context.Context) (*sandstep.Sandbox, error) {
		sb, err := s.ownedSandbox(ctx, call, known.ID)
		if err != nil {
			s.known.forget(known.ID)
			return nil, err
		}
		s.known.saw(sb)
		return sb, runnable(sb)
	})
	defer stop()
	return s.run(ctx, call, known, recordRead{done: done, get: get}, in, timeout)
}

// recordRead is a sandbox's record, read or being read.
type recordRead struct {
	done <-chan struct{}                   // closed once the read has answered
	get  func() (*sandstep.Sandbox, error) // its answer, waiting for it
}

// answered is the done of a read that has answered.
var answered = func() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// runnable says whether commands may run in sb.
func runnable(sb *sandstep.Sandbox) error {
	if sb.State != sandstep.StateReady {
		return sandstep.Errorf(sandstep.ECONFLICT, "sandbox %s is %s; commands run only in a ready sandbox", sb.ID, sb.State)
	}
	return nil
}

// run runs the command in known's Daytona sandbox once rec says the
// sandbox is the caller's and ready.
func (s *Service) run(ctx context.Context, call Call, known *sandstep.Sandbox, rec recordRead, in ExecInput, timeout time.Duration) (*ExecResult, error) {
	timeout, err := s.boundTimeout(ctx, timeout)
	if err != nil {
		// The record's answer comes first, as when it is read first.
		if _, rerr := rec.get(); rerr != nil {
			return nil, rerr
		}
		return nil, err
	}
	// The provider's last call (ending the command's session) runs beside
	// the audit write: an exec costs one round trip of ours, the read.
	ctx, wait := withBeside(ctx)
	defer wait()
	nonce := randomID()
	res, err := s.provider.Exec(ctx, known.DaytonaID, Command{
		Line:    execLine(known, in, nonce),
		Timeout: timeout,
		Ready: func(ctx context.Context) error {
			select {
			case <-rec.done:
			case <-ctx.Done():
				return sandstep.Wrap(ctx.Err(), sandstep.ETIMEOUT, "the sandbox's record was not read within the command's timeout; the command did not run")
			}
			_, err := rec.get()
			return err
		},
	})
	select {
	case <-rec.done:
	default:
		if err != nil {
			// The command's time ran out before the read answered:
			// nothing ran, and what is left of the caller's is the margin.
			return nil, err
		}
	}
	sb, rerr := rec.get()
	if rerr != nil {
		return nil, rerr
	}
	if err == nil && in.Cwd != "" && cwdWasMissing(res, nonce) {
		err := sandstep.Invalid("cwd", "directory %q does not exist in the sandbox (or is not one the command may enter)", clip(in.Cwd))
		s.audit(ctx, call, sb, ActionExec, err, nil)
		return nil, err
	}
	if err == nil {
		fitResponse(res, s.opts.MaxOutputBytes, s.opts.MaxResponseBytes)
	}
	if err != nil {
		if sandstep.ErrorCode(err) == sandstep.ENOTFOUND {
			s.known.forget(sb.ID)
			s.markGone(ctx, call, sb)
			return nil, sandstep.Wrap(err, sandstep.ENOTFOUND, "sandbox %s no longer exists", sb.ID)
		}
		s.audit(ctx, call, sb, ActionExec, err, nil)
		return nil, fmt.Errorf("exec in sandbox %s: %w", sb.ID, err)
	}
	s.audit(ctx, call, sb, ActionExec, nil, map[string]string{
		"exitCode":   strconv.Itoa(res.ExitCode),
		"durationMs": strconv.FormatInt(res.DurationMs, 10),
	})
	return res, nil
}

// boundTimeout fits a command's timeout into what is left of the caller's
// deadline, keeping the margin to answer.
func (s *Service) boundTimeout(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	d, ok := ctx.Deadline()
	if !ok {
		return timeout, nil
	}
	avail := time.Until(d) - s.opts.ExecTimeoutMargin
	if avail < time.Second {
		return 0, sandstep.Errorf(sandstep.ETIMEOUT, "not enough time left in this invocation to run a command")
	}
	return min(timeout, avail.Truncate(time.Second)), nil
}

// fitResponse cuts each of an exec result's streams to perStream bytes,
// then the output until its answer (wireSize) fits max bytes, so it always
// fits a Lambda response. It halves the longer stream each round and
// keeps the start of each.
func fitResponse(res *ExecResult, perStream, max int) {
	for _, s := range []*string{&res.Stdout, &res.Stderr} {
		if len(*s) > perStream {
			*s = cutUTF8(*s, perStream)
			res.Truncated = true
		}
	}
	for {
		n, err := wireSize(res)
		if err != nil || n <= max || len(res.Stdout)+len(res.Stderr) == 0 {
			return
		}
		if len(res.Stdout) >= len(res.Stderr) {
			res.Stdout = cutUTF8(res.Stdout, len(res.Stdout)/2)
		} else {
			res.Stderr = cutUTF8(res.Stderr, len(res.Stderr)/2)
		}
		res.Truncated = true
	}
}

// wireSize is what v takes in the Lambda response that answers with it,
// at most: over HTTP its JSON is API Gateway's body, a JSON string, and is
// escaped again, so a quote or backslash of the output takes four bytes
// and a control character seven.
func wireSize(v any) (int, error) {
	inner, err := EncodeJSON(v)
	if err != nil {
		return 0, err
	}
	outer, err := EncodeJSON(string(inner))
	return len(outer), err
}

// EncodeJSON encodes an answer as the edge sends it and the Lambda runtime
// encodes the event that carries it: HTML characters as they are (command
// output is full of them), no trailing newline. The service bounds its
// answers by it (wireSize).
func EncodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// cutUTF8 returns s cut to at most n bytes, on a character boundary. It
// backs off only to the start of a character that s[n] continues, at most
// UTFMax-1 bytes: a run of bytes that are not UTF-8 is cut at n, so a cut
// of n >= UTFMax bytes is never empty.
func cutUTF8(s string, n int) string {
	if n >= len(s) {
		return s
	}
	for i := n; i >= 0 && i > n-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if i < n && utf8.FullRuneInString(s[i:n]) {
				break // s[n] continues no character: cut there
			}
			return s[:i]
		}
	}
	return s[:max(n, 0)]
}
