// Package logging builds sandstep's structured loggers: log/slog with
// secrets redacted by construction and request fields taken from the
// context.
//
// Redaction happens inside the handler, on the record, before any
// formatting, so no call site can forget it:
//
//   - by key name: an attribute, group, map key or struct field whose name
//     IsSensitiveKey (token, secret, password, authorization, ...) is logged
//     as Redacted, whatever its value;
//   - by value: every secret registered with the Redactor is replaced by
//     Redacted wherever it occurs in the message, in string values, in
//     error texts (wrapped errors included), in keys, in groups, in
//     LogValuer results and in structs and maps logged with slog.Any; a
//     secret that is not valid UTF-8 (a binary secret) is looked for as
//     it is written too, each invalid byte as U+FFFD (SecretForms), since
//     a structured value is looked at once rendered as JSON.
//
// Records logged with a context (logger.InfoContext(ctx, ...)) carry
// requestId, userId, sandboxId and taskId from the context; see
// WithRequestID.
//
// Output follows the AWS Lambda JSON log format: the time and message keys
// are "timestamp" and "message" (lambdacontext.ReplaceAttr) and the Lambda
// request id is "requestId", exactly what lambdacontext.NewLogger writes.
// lambdacontext's handler itself is not used underneath: it always writes
// to os.Stdout, takes its level and format only from AWS_LAMBDA_LOG_*, and
// adds requestId inside whatever group is open; this package takes a
// writer, a level and a format, and puts context fields at the top level.
package logging

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Options configures New.
type Options struct {
	// Level is the minimum level logged; nil means slog.LevelInfo.
	Level slog.Leveler
	// Format is "json" (the default; what Lambda and CloudWatch Logs
	// Insights want) or "text" (for a terminal). Anything else is JSON.
	Format string
	// Redactor holds the secret values to redact. Nil redacts by key name
	// only.
	Redactor *Redactor
}

// New returns a logger writing one record per line to w, redacting secrets
// and adding context fields as the package documentation describes.
func New(w io.Writer, opts Options) *slog.Logger {
	return slog.New(NewHandler(w, opts))
}

// NewHandler returns the slog.Handler behind New, for callers that wrap it.
func NewHandler(w io.Writer, opts Options) slog.Handler {
	ho := &slog.HandlerOptions{Level: opts.Level, ReplaceAttr: lambdacontext.ReplaceAttr}
	var inner slog.Handler
	if strings.EqualFold(opts.Format, "text") {
		inner = slog.NewTextHandler(w, ho)
	} else {
		inner = slog.NewJSONHandler(w, ho)
	}
	return &handler{inner: inner, red: opts.Redactor, frames: []frame{{}}}
}

// frame is the attributes added with WithAttrs inside one group opened
// with WithGroup; frames[0] is the top level and has no group.
type frame struct {
	group string
	attrs []slog.Attr
}

// handler redacts records and passes them to inner, which never sees
// WithAttrs or WithGroup: attributes are kept raw here and redacted on
// every Handle, so that a secret registered after logger.With(...) was
// called is still redacted.
type handler struct {
	inner  slog.Handler
	red    *Redactor
	frames []frame
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	frames := slices.Clone(h.frames)
	last := &frames[len(frames)-1]
	last.attrs = append(slices.Clip(last.attrs), as...)
	return &handler{inner: h.inner, red: h.red, frames: frames}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	frames := append(slices.Clip(h.frames), frame{group: name})
	return &handler{inner: h.inner, red: h.red, frames: frames}
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	s := h.red.load()

	recAttrs := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		recAttrs = append(recAttrs, s.attr(a))
		return true
	})

	// Nest from the innermost group outwards. An empty group is dropped by
	// the built-in handlers, as slog requires.
	inner := recAttrs
	for i := len(h.frames) - 1; i >= 1; i-- {
		f := h.frames[i]
		if IsSensitiveKey(f.group) {
			inner = []slog.Attr{slog.String(s.redact(f.group), Redacted)}
			continue
		}
		as := append(s.attrs(f.attrs), inner...)
		inner = []slog.Attr{{Key: s.redact(f.group), Value: slog.GroupValue(as...)}}
	}
	top := append(s.attrs(h.frames[0].attrs), inner...)

	out := slog.NewRecord(r.Time, r.Level, s.redact(r.Message), r.PC)
	for _, kv := range contextPairs(ctx) {
		// An attribute the caller logged explicitly at the top level wins
		// over the context's, so a key is never written twice.
		if slices.ContainsFunc(top, func(a slog.Attr) bool { return a.Key == kv[0] }) {
			continue
		}
		out.AddAttrs(slog.String(kv[0], s.redact(kv[1])))
	}
	out.AddAttrs(top...)
	return h.inner.Handle(ctx, out)
}
