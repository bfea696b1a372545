package logging

import (
	"cmp"
	"context"
	"sync"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// The attribute keys the handler adds from a record's context.
const (
	KeyRequestID         = "requestId"
	KeyUpstreamRequestID = "upstreamRequestId"
	KeyUserID            = "userId"
	KeySandboxID         = "sandboxId"
	KeyTaskID            = "taskId"
)

// fields is stored in a context by value; every With* copies it, so a
// derived context never changes what its parent logs.
type fields struct {
	requestID, userID, sandboxID, taskID string
}

type fieldsKey struct{}

func fieldsFrom(ctx context.Context) fields {
	if ctx == nil {
		return fields{}
	}
	f, _ := ctx.Value(fieldsKey{}).(fields)
	return f
}

func with(ctx context.Context, set func(*fields)) context.Context {
	f := fieldsFrom(ctx)
	set(&f)
	return context.WithValue(ctx, fieldsKey{}, f)
}

// WithRequestID returns a context whose records carry id as the request id.
//
// Inside a Lambda invocation the Lambda's own request id
// (lambdacontext.LambdaContext.AwsRequestID) is logged as requestId, as
// lambdacontext.NewLogger does, so that records line up with the platform's
// START/END/REPORT lines; an id set here that differs from it (API
// Gateway's requestContext.requestId, say) is then logged as
// upstreamRequestId. Outside Lambda (tests, the local stack) id is the
// requestId.
func WithRequestID(ctx context.Context, id string) context.Context {
	return with(ctx, func(f *fields) { f.requestID = id })
}

// WithUserID returns a context whose records carry userId.
func WithUserID(ctx context.Context, id string) context.Context {
	return with(ctx, func(f *fields) { f.userID = id })
}

// WithSandboxID returns a context whose records carry sandboxId.
func WithSandboxID(ctx context.Context, id string) context.Context {
	return with(ctx, func(f *fields) { f.sandboxID = id })
}

// WithTaskID returns a context whose records carry taskId.
func WithTaskID(ctx context.Context, id string) context.Context {
	return with(ctx, func(f *fields) { f.taskID = id })
}

// learned holds the owner and sandbox a callee read for its caller: a
// task step's input names the task only, its record the rest. The one
// exception to fields by value: shared by every context derived from the
// one WithLearned made, so the caller's own lines (its failure's) carry
// what the callee read.
type learned struct {
	mu                sync.Mutex
	userID, sandboxID string
}

type learnedKey struct{}

// WithLearned returns a context whose records carry, where their own
// fields have none, the ids Learn records with it or a context derived
// from it.
func WithLearned(ctx context.Context) context.Context {
	return context.WithValue(ctx, learnedKey{}, &learned{})
}

// Learn records the user and sandbox the work of ctx is about, for the
// records of the context WithLearned made (nothing without one); empty
// ids change nothing. Only ids read from a record the caller may see.
func Learn(ctx context.Context, userID, sandboxID string) {
	l, _ := ctx.Value(learnedKey{}).(*learned)
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.userID, l.sandboxID = cmp.Or(userID, l.userID), cmp.Or(sandboxID, l.sandboxID)
}

// RequestID returns the request id records logged with ctx carry: the
// Lambda request id if ctx is a Lambda invocation's, else the id set with
// WithRequestID, else "".
func RequestID(ctx context.Context) string {
	if ctx == nil {
		return ""
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc != nil && lc.AwsRequestID != "" {
		return lc.AwsRequestID
	}
	return fieldsFrom(ctx).requestID
}

// UserID returns the user id set with WithUserID, or "".
func UserID(ctx context.Context) string { return fieldsFrom(ctx).userID }

// SandboxID returns the sandbox id set with WithSandboxID, or "".
func SandboxID(ctx context.Context) string { return fieldsFrom(ctx).sandboxID }

// TaskID returns the task id set with WithTaskID, or "".
func TaskID(ctx context.Context) string { return fieldsFrom(ctx).taskID }

// contextPairs returns the key/value pairs a record logged with ctx
// carries, in a fixed order, skipping empty values.
func contextPairs(ctx context.Context) [][2]string {
	if ctx == nil {
		return nil
	}
	f := fieldsFrom(ctx)
	if l, _ := ctx.Value(learnedKey{}).(*learned); l != nil {
		l.mu.Lock()
		f.userID, f.sandboxID = cmp.Or(f.userID, l.userID), cmp.Or(f.sandboxID, l.sandboxID)
		l.mu.Unlock()
	}
	var out [][2]string
	add := func(k, v string) {
		if v != "" {
			out = append(out, [2]string{k, v})
		}
	}
	reqID := RequestID(ctx)
	add(KeyRequestID, reqID)
	if f.requestID != reqID {
		add(KeyUpstreamRequestID, f.requestID)
	}
	add(KeyUserID, f.userID)
	add(KeySandboxID, f.sandboxID)
	add(KeyTaskID, f.taskID)
	return out
}
