package logging

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// canary is a secret value that must never reach the output. It holds
// characters the JSON and text handlers escape, so that a redaction done
// after formatting (on escaped text) would miss it.
const canary = `cAnArY-<s3cr3t>&"quoted"-7f3a9c`

// forms returns the ways canary (or any secret) could appear in output:
// raw, JSON-escaped with and without HTML escaping, and Go-quoted.
func forms(secret string) []string {
	j, _ := json.Marshal(secret)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(secret)
	q := fmt.Sprintf("%q", secret)
	return []string{
		secret,
		strings.Trim(string(j), `"`),
		strings.Trim(strings.TrimSpace(b.String()), `"`),
		strings.Trim(q, `"`),
		"s3cr3t", // a distinctive fragment: no partial leaks either
	}
}

func assertNoSecret(t *testing.T, out, secret string) {
	t.Helper()
	for _, f := range forms(secret) {
		if strings.Contains(out, f) {
			t.Fatalf("output contains the secret (as %q):\n%s", f, out)
		}
	}
}

type structWithSecret struct {
	Name  string            `json:"name"`
	Note  string            `json:"note"`
	Inner map[string]string `json:"inner"`
	List  []string          `json:"list"`
}

type valuer struct{ v string }

func (v valuer) LogValue() slog.Value { return slog.StringValue("valued:" + v.v) }

type groupValuer struct{ v string }

func (g groupValuer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("plain", "ok-visible"), slog.String("hidden", g.v))
}

type stringerErr struct{ s string }

func (e stringerErr) Error() string { return "custom error carrying " + e.s }

func TestCanaryNeverAppears(t *testing.T) {
	cases := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{"message", func(l *slog.Logger) { l.Info("resolved key " + canary + " for user") }},
		{"string attr", func(l *slog.Logger) { l.Info("m", "value", "prefix-"+canary+"-suffix") }},
		{"attr key", func(l *slog.Logger) { l.Info("m", canary, "v") }},
		{"nested groups", func(l *slog.Logger) {
			l.Info("m", slog.Group("outer", slog.String("a", "ok-visible"), slog.Group("inner", slog.String("deep", canary))))
		}},
		{"with attrs", func(l *slog.Logger) { l.With("carried", canary).Info("m") }},
		{"with group", func(l *slog.Logger) { l.WithGroup("g").With("x", canary).WithGroup("h").Info("m", "y", canary) }},
		{"error", func(l *slog.Logger) { l.Error("m", "err", errors.New("bad key "+canary)) }},
		{"wrapped error", func(l *slog.Logger) {
			err := fmt.Errorf("calling daytona: %w", fmt.Errorf("auth header %s rejected", canary))
			l.Error("m", "err", err)
		}},
		{"joined error", func(l *slog.Logger) { l.Error("m", "err", errors.Join(errors.New("a"), errors.New(canary))) }},
		{"sandbox error", func(l *slog.Logger) {
			err := sandstep.Wrap(errors.New("upstream echoed "+canary), sandstep.ETRANSIENT, "daytona unavailable")
			l.Error("m", "err", err)
		}},
		{"sandbox error wrapped", func(l *slog.Logger) {
			err := fmt.Errorf("create: %w", &sandstep.Error{Code: sandstep.EINTERNAL, Message: "x", Err: stringerErr{canary}})
			l.Error("m", slog.Any("error", err))
		}},
		{"custom error type", func(l *slog.Logger) { l.Error("m", "err", stringerErr{canary}) }},
		{"struct", func(l *slog.Logger) {
			l.Info("m", "s", structWithSecret{Name: "ok-visible", Note: canary, Inner: map[string]string{"k": canary}, List: []string{canary}})
		}},
		{"pointer to struct", func(l *slog.Logger) { l.Info("m", "s", &structWithSecret{Note: canary}) }},
		{"map", func(l *slog.Logger) { l.Info("m", "m", map[string]any{"k": []any{1, canary}, canary: "v"}) }},
		{"slice", func(l *slog.Logger) { l.Info("m", "s", []string{"a", canary}) }},
		{"bytes", func(l *slog.Logger) { l.Info("m", "b", []byte("raw "+canary)) }},
		{"log valuer", func(l *slog.Logger) { l.Info("m", "v", valuer{canary}) }},
		{"group log valuer", func(l *slog.Logger) { l.Info("m", "v", groupValuer{canary}) }},
		{"stringer via Sprintf in message", func(l *slog.Logger) { l.Info(fmt.Sprint(stringerErr{canary})) }},
		{"context field", func(l *slog.Logger) {
			l.InfoContext(WithSandboxID(context.Background(), canary), "m")
		}},
		{"unmarshalable value", func(l *slog.Logger) {
			l.Info("m", "v", struct {
				C chan int
				S string
			}{nil, canary})
		}},
	}
	for _, format := range []string{"json", "text"} {
		for _, tc := range cases {
			t.Run(format+"/"+tc.name, func(t *testing.T) {
				var buf bytes.Buffer
				red := NewRedactor()
				red.Add(canary)
				tc.log(New(&buf, Options{Format: format, Redactor: red}))
				out := buf.String()
				if out == "" {
					t.Fatal("nothing logged")
				}
				assertNoSecret(t, out, canary)
				if !strings.Contains(out, Redacted) {
					t.Fatalf("output has no %s marker, the value was dropped instead of redacted:\n%s", Redacted, out)
				}
				if format == "json" {
					var m map[string]any
					if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
						t.Fatalf("output is not one JSON object: %v\n%s", err, out)
					}
				}
			})
		}
	}
}

// TestSecretAddedAfterWith: attributes bound with Logger.With before the
// secret was known are still redacted once it is.
func TestSecretAddedAfterWith(t *testing.T) {
	var buf bytes.Buffer
	red := NewRedactor()
	l := New(&buf, Options{Redactor: red}).With("early", canary).WithGroup("g").With("early2", canary)
	red.Add(canary)
	l.Info("m")
	assertNoSecret(t, buf.String(), canary)
	if got := strings.Count(buf.String(), Redacted); got != 2 {
		t.Fatalf("want 2 redactions, got %d:\n%s", got, buf.String())
	}
}

func TestRedactorWithoutSecretKeepsValues(t *testing.T) {
	var buf bytes.Buffer
	New(&buf, Options{Redactor: NewRedactor()}).Info("hello "+canary, "v", canary)
	if !strings.Contains(buf.String(), "s3cr3t") {
		t.Fatalf("an unregistered value was redacted:\n%s", buf.String())
	}
}

func TestRedactorShortAndOverlappingValues(t *testing.T) {
	red := NewRedactor()
	red.Add("abc")
	red.Add("     ")
	red.Add("")
	if red.Len() != 0 {
		t.Fatalf("short values registered: Len = %d", red.Len())
	}
	red.Add("secret-prefix")
	red.Add("secret-prefix-and-more")
	red.Add("secret-prefix") // duplicate
	red.Add("trailing-newline-value\n")
	// The end of one is the start of the other.
	red.Add("first-secret-AAAA")
	red.Add("AAAA-second-secret-tail-9f3c")
	// Four, plus the newline value raw and trimmed, each with its three
	// base64 forms.
	if red.Len() != 6*4 {
		t.Fatalf("Len = %d, want %d (six forms, each with its three base64 forms)", red.Len(), 6*4)
	}
	cases := []struct{ in, want string }{
		{"x secret-prefix-and-more y", "x [REDACTED] y"},
		{"x secret-prefix y", "x [REDACTED] y"},
		{"abc is short and stays", "abc is short and stays"},
		{"v=trailing-newline-value.", "v=[REDACTED]."},
		{"v=trailing-newline-value\n", "v=[REDACTED]"},
		// Both hidden whole, though they share bytes: a replacer resuming
		// after the first would write the second's tail out.
		{"env: first-secret-AAAA-second-secret-tail-9f3c.", "env: [REDACTED]."},
		{"second first: AAAA-second-secret-tail-9f3c first-secret-AAAA", "second first: [REDACTED] [REDACTED]"},
		{"side by side: secret-prefixsecret-prefix-and-more.", "side by side: [REDACTED]."},
	}
	for _, tc := range cases {
		if got := red.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	var nilRed *Redactor
	nilRed.Add("ignored-value")
	if nilRed.Redact("ignored-value") != "ignored-value" || nilRed.Len() != 0 {
		t.Error("nil Redactor is not a no-op")
	}
}

func TestKeyNameRedaction(t *testing.T) {
	const value = "visible-value-4821"
	cases := []struct {
		key    string
		redact bool
	}{
		{"Authorization", true},
		{"authorization", true},
		{"githubToken", true},
		{"TOKEN", true},
		{"tokenSecret", true},
		{"webhookSecret", true},
		{"db_password", true},
		{"passwd", true},
		{"apikey", true},
		{"daytonaApiKey", true},
		{"API_KEY", true},
		{"x-api-key", true},
		{"awsCredentials", true},
		{"Cookie", true},
		{"set-cookie", true},
		{"privateKey", true},
		{"X-Hub-Signature-256", true},
		{"AWS_SESSION_TOKEN", true},
		{"user", false},
		{"sandboxId", false},
		{"idempotencyKey", false},
		{"key", false},
		{"command", false},
		{"apiUrl", false},
	}
	for _, format := range []string{"json", "text"} {
		for _, tc := range cases {
			t.Run(format+"/"+tc.key, func(t *testing.T) {
				if got := IsSensitiveKey(tc.key); got != tc.redact {
					t.Fatalf("IsSensitiveKey(%q) = %v, want %v", tc.key, got, tc.redact)
				}
				logs := map[string]func(*slog.Logger){
					"attr":       func(l *slog.Logger) { l.Info("m", tc.key, value) },
					"in group":   func(l *slog.Logger) { l.Info("m", slog.Group("g", tc.key, value)) },
					"group name": func(l *slog.Logger) { l.Info("m", slog.Group(tc.key, "inner", value)) },
					"map key":    func(l *slog.Logger) { l.Info("m", "headers", map[string]string{tc.key: value}) },
					"with":       func(l *slog.Logger) { l.With(tc.key, value).Info("m") },
					"WithGroup":  func(l *slog.Logger) { l.WithGroup(tc.key).Info("m", "inner", value) },
				}
				for how, log := range logs {
					var buf bytes.Buffer
					log(New(&buf, Options{Format: format}))
					leaked := strings.Contains(buf.String(), value)
					if tc.redact && leaked {
						t.Errorf("%s: value under %q not redacted:\n%s", how, tc.key, buf.String())
					}
					if !tc.redact && !leaked {
						t.Errorf("%s: value under %q redacted although the key is harmless:\n%s", how, tc.key, buf.String())
					}
				}
			})
		}
	}
}

func TestStructFieldNamesRedacted(t *testing.T) {
	type gitSpec struct {
		URL         string `json:"url"`
		TokenSecret string `json:"tokenSecret"`
		Password    string
	}
	var buf bytes.Buffer
	New(&buf, Options{}).Info("m", "git", gitSpec{URL: "https://example.test/repo", TokenSecret: "ssm:/gh/token-xyz", Password: "hunter2-pw"})
	out := buf.String()
	for _, leak := range []string{"token-xyz", "hunter2-pw"} {
		if strings.Contains(out, leak) {
			t.Errorf("field value %q logged:\n%s", leak, out)
		}
	}
	if !strings.Contains(out, "https://example.test/repo") {
		t.Errorf("harmless field dropped:\n%s", out)
	}
}

// A value json.Marshal refuses is logged by its type only: its fields and
// map keys cannot be told apart, and fmt would print one named like a
// secret (an *http.Request's Authorization header, a Token field) whole.
func TestValuesNotJSONLoggedByTypeOnly(t *testing.T) {
	const bearer = "Bearer gho_notRegisteredButNamedLikeASecret0123"
	req, err := http.NewRequest(http.MethodGet, "https://api.example.test/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", bearer)
	type withHook struct {
		Token string
		Hook  func()
	}
	for _, format := range []string{"json", "text"} {
		for name, v := range map[string]any{
			"*http.Request":      req,
			"struct with a func": withHook{Token: bearer},
		} {
			var buf bytes.Buffer
			New(&buf, Options{Format: format, Redactor: NewRedactor()}).Info("calling", "v", v)
			out := buf.String()
			if strings.Contains(out, "notRegisteredButNamedLikeASecret") {
				t.Errorf("%s/%s: a value under a secret-named key was logged:\n%s", format, name, out)
			}
			if want := fmt.Sprintf("%T", v); !strings.Contains(out, want) || !strings.Contains(out, Redacted) {
				t.Errorf("%s/%s: want %s and its type %s:\n%s", format, name, Redacted, want, out)
			}
		}
	}
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return m
}

func TestContextFields(t *testing.T) {
	base := context.Background()
	full := WithTaskID(WithSandboxID(WithUserID(WithRequestID(base, "req-1"), "user-1"), "sbx-1"), "task-1")
	lambdaCtx := lambdacontext.NewContext(base, &lambdacontext.LambdaContext{AwsRequestID: "aws-req-9"})
	cases := []struct {
		name string
		ctx  context.Context
		log  func(l *slog.Logger, ctx context.Context)
		want map[string]any // top-level keys; nil value means absent
	}{
		{
			name: "all fields",
			ctx:  full,
			want: map[string]any{"requestId": "req-1", "userId": "user-1", "sandboxId": "sbx-1", "taskId": "task-1", "upstreamRequestId": nil},
		},
		{
			name: "no context fields",
			ctx:  base,
			want: map[string]any{"requestId": nil, "userId": nil, "sandboxId": nil, "taskId": nil},
		},
		{
			name: "lambda request id",
			ctx:  WithUserID(lambdaCtx, "user-2"),
			want: map[string]any{"requestId": "aws-req-9", "userId": "user-2", "upstreamRequestId": nil},
		},
		{
			name: "lambda and api gateway request ids",
			ctx:  WithRequestID(lambdaCtx, "apigw-7"),
			want: map[string]any{"requestId": "aws-req-9", "upstreamRequestId": "apigw-7"},
		},
		{
			name: "derived context overrides, parent unchanged",
			ctx:  WithSandboxID(full, "sbx-2"),
			want: map[string]any{"sandboxId": "sbx-2", "taskId": "task-1"},
		},
		{
			name: "top level even inside a group",
			ctx:  full,
			log:  func(l *slog.Logger, ctx context.Context) { l.WithGroup("g").InfoContext(ctx, "m", "x", 1) },
			want: map[string]any{"requestId": "req-1", "g": map[string]any{"x": float64(1)}},
		},
		{
			name: "explicit attribute wins, no duplicate key",
			ctx:  full,
			log:  func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m", "sandboxId", "explicit") },
			want: map[string]any{"sandboxId": "explicit", "userId": "user-1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := New(&buf, Options{})
			if tc.log != nil {
				tc.log(l, tc.ctx)
			} else {
				l.InfoContext(tc.ctx, "hello")
			}
			if n := strings.Count(buf.String(), `"sandboxId"`); n > 1 {
				t.Fatalf("sandboxId written %d times:\n%s", n, buf.String())
			}
			got := decode(t, buf.Bytes())
			for k, want := range tc.want {
				v, ok := got[k]
				if want == nil {
					if ok {
						t.Errorf("%s = %v, want absent", k, v)
					}
					continue
				}
				if fmt.Sprint(v) != fmt.Sprint(want) {
					t.Errorf("%s = %v, want %v", k, v, want)
				}
			}
		})
	}
	if SandboxID(full) != "sbx-1" || UserID(full) != "user-1" || TaskID(full) != "task-1" || RequestID(full) != "req-1" {
		t.Error("accessors do not return what was set")
	}
	if RequestID(WithRequestID(lambdaCtx, "x")) != "aws-req-9" {
		t.Error("RequestID does not prefer the Lambda request id")
	}
}

func TestLambdaFormat(t *testing.T) {
	var buf bytes.Buffer
	New(&buf, Options{}).Warn("hello", "n", 3)
	got := decode(t, buf.Bytes())
	for _, k := range []string{"timestamp", "level", "message"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON record lacks %q: %s", k, buf.String())
		}
	}
	if got["message"] != "hello" || got["level"] != "WARN" || got["n"] != float64(3) {
		t.Errorf("unexpected record: %s", buf.String())
	}
}

func TestTextFormatAndLevel(t *testing.T) {
	var buf bytes.Buffer
	red := NewRedactor()
	red.Add(canary)
	l := New(&buf, Options{Format: "text", Level: slog.LevelWarn, Redactor: red})
	l.Info("dropped")
	l.Debug("dropped too")
	l.WarnContext(WithUserID(context.Background(), "u-3"), "kept", "token", "abc123xyz", "n", 7)
	out := buf.String()
	if strings.Contains(out, "dropped") {
		t.Errorf("records below the level logged:\n%s", out)
	}
	for _, want := range []string{"level=WARN", "message=kept", "userId=u-3", "token=" + Redacted, "n=7"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	if strings.HasPrefix(strings.TrimSpace(out), "{") {
		t.Errorf("text format wrote JSON:\n%s", out)
	}
}

// TestConcurrentAddAndLog is meant for -race: secrets are registered while
// other goroutines log; once Add has returned, the secret never appears.
func TestConcurrentAddAndLog(t *testing.T) {
	red := NewRedactor()
	var mu sync.Mutex
	var buf bytes.Buffer
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	})
	l := New(w, Options{Redactor: red})
	secrets := make([]string, 20)
	for i := range secrets {
		secrets[i] = fmt.Sprintf("rotating-secret-%02d-zz", i)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				l.Info("noise", "g", g, "i", i, "v", "no secret here")
			}
		})
	}
	for _, s := range secrets {
		red.Add(s)
		l.Info("after add", "v", s)
	}
	wg.Wait()
	for _, s := range secrets {
		if strings.Contains(buf.String(), s) {
			t.Fatalf("secret %q logged after it was added", s)
		}
	}
	forms := 0
	for _, s := range secrets {
		forms += len(SecretForms(s))
	}
	if red.Len() != forms {
		t.Fatalf("Len = %d, want %d (the forms of %d secrets)", red.Len(), forms, len(secrets))
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func BenchmarkLog(b *testing.B) {
	ctx := WithSandboxID(WithUserID(WithRequestID(context.Background(), "req-1"), "user-1"), "sbx-1")
	err := fmt.Errorf("exec: %w", errors.New("exit status 1"))
	red := NewRedactor()
	for i := range 5 {
		red.Add(fmt.Sprintf("registered-secret-value-%d", i))
	}
	loggers := []struct {
		name string
		l    *slog.Logger
	}{
		{"slog.JSONHandler", slog.New(slog.NewJSONHandler(io.Discard, nil))},
		{"logging.New", New(io.Discard, Options{Redactor: red})},
	}
	for _, bl := range loggers {
		b.Run(bl.name+"/strings", func(b *testing.B) {
			l := bl.l.With("function", "create")
			for b.Loop() {
				l.InfoContext(ctx, "sandbox created", "daytonaId", "d-123", "state", "started", "durationMs", 1234)
			}
		})
		b.Run(bl.name+"/error+struct", func(b *testing.B) {
			l := bl.l.With("function", "create")
			spec := structWithSecret{Name: "n", Note: "note", Inner: map[string]string{"a": "b"}}
			for b.Loop() {
				l.ErrorContext(ctx, "exec failed", "err", err, "spec", spec)
			}
		})
	}
}

func TestSecretForms(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  []string
	}{
		{"a value", "s3cr3t-value", []string{"s3cr3t-value"}},
		{"a value from a file", "s3cr3t-value\n", []string{"s3cr3t-value\n", "s3cr3t-value"}},
		{"too short", "abc", nil},
		{"too short once trimmed", "  abc  \n", nil},
		{"not UTF-8", "\xffs3cr3t", []string{"\xffs3cr3t", "\ufffds3cr3t"}},
		{"not UTF-8, from a file", "\xffs3cr3t\n", []string{"\xffs3cr3t\n", "\xffs3cr3t", "\ufffds3cr3t\n", "\ufffds3cr3t"}},
		// Neighbours may complete the continuation bytes it starts with
		// and the character it ends with a part of: the rest is in every
		// rendering, and hides the part of a longer form that is the
		// secret's.
		{"partial characters at its ends", "\x80\x80s3cr3t\xe2\x82", []string{"\x80\x80s3cr3t\xe2\x82", "s3cr3t"}},
		{"at most three continuation bytes", "\x80\x80\x80\x80s3cr3t", []string{"\x80\x80\x80\x80s3cr3t", "\ufffds3cr3t"}},
		{"a rest too short", "\x80abcd\xf0", []string{"\x80abcd\xf0", "\ufffdabcd\ufffd"}},
		{"a rest too short on its own", "\x80\x80\x80abcd", []string{"\x80\x80\x80abcd", "\ufffd\ufffdabcd"}},
		{"a rest of two invalid bytes", "\x80\x80\x80\xff\xff\xe2", []string{"\x80\x80\x80\xff\xff\xe2", "\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SecretForms(tt.value)
			// Beside the text forms, each raw one's base64 (a []byte in
			// a structured value), as TestSecretInNestedByteSliceRedacted
			// shows it written.
			var b64 []string
			for _, f := range tt.want[:min(len(tt.want), 2)] {
				if f != tt.value && f != strings.TrimSpace(tt.value) {
					continue
				}
				for _, b := range base64Forms(f) {
					if len(b) >= MinSecretLen && !slices.Contains(b64, b) {
						b64 = append(b64, b)
					}
				}
			}
			text := slices.DeleteFunc(slices.Clone(got), func(f string) bool { return slices.Contains(b64, f) })
			if !slices.Equal(text, tt.want) || len(got) != len(text)+len(b64) {
				t.Errorf("SecretForms(%q) = %q, want %q and their base64 %q", tt.value, got, tt.want, b64)
			}
		})
	}
}

// A rendered form stands for the secret's bytes it renders, and each
// invalid one is written as U+FFFD, three bytes: measured as written, the
// floor let a six-byte secret register "\ufffd\ufffd" (two of its invalid
// bytes, nothing of what they were), which hid every pair of invalid bytes
// and of replacement characters in every line and issue comment.
func TestRenderedFormFloorCountsSecretBytes(t *testing.T) {
	const secret = "\x80\x80\x80\xff\xff\xe2"
	for _, f := range SecretForms(secret) {
		if f == "\ufffd\ufffd" {
			t.Errorf("SecretForms(%q) = %q: a form of two of its bytes", secret, SecretForms(secret))
		}
	}
	red := NewRedactor()
	red.Add(secret)
	var buf bytes.Buffer
	New(&buf, Options{Redactor: red}).Info("read \xc0\xc1 from the pipe", "out", "shown as \ufffd\ufffd")
	if strings.Contains(buf.String(), Redacted) {
		t.Errorf("a line holding none of the secret but two invalid bytes is redacted:\n%s", buf.String())
	}
}

// A []byte inside a structured value (a binary secret's natural type: the
// SDK's SecretBinary, a request body) is rendered by json.Marshal as
// base64 before the redactor looks, so neither the secret's bytes nor its
// U+FFFD rendering are there: its base64 must be hidden too, at each
// offset the secret may start at.
func TestSecretInNestedByteSliceRedacted(t *testing.T) {
	for _, secret := range []string{"\xffbinary-s3cr3t-9f2c", "plain-s3cr3t-9f2c"} {
		red := NewRedactor()
		red.Add(secret)
		var buf bytes.Buffer
		New(&buf, Options{Redactor: red}).Info("m",
			"body", struct{ Data []byte }{[]byte(secret)},
			"parts", [][]byte{[]byte("x"), []byte("pre " + secret), []byte("p " + secret), []byte("p" + secret)})
		for _, o := range []int{0, 1, 2} {
			enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\x00", o) + secret))
			core := enc[(8*o+5)/6 : (8*(o+len(secret)))/6]
			if strings.Contains(buf.String(), core) {
				t.Fatalf("the line holds the secret %q in base64 (%q):\n%s", secret, core, buf.String())
			}
		}
	}
}

// A secret that is not valid UTF-8 (a Secrets Manager binary secret) is
// redacted in structured values too, where json.Marshal has replaced its
// invalid bytes with U+FFFD before the redactor looks, and where the bytes
// around it complete a character it has only a part of at either end (so
// that neither its bytes nor its own rendering are in the line).
func TestBinarySecretRedactedInStructuredValues(t *testing.T) {
	const secret = "\x80\x80binary-s3cr3t\xff-9f2c\xe2\x82"
	for _, tc := range []struct{ name, pre, post string }{
		{"alone", "", ""},
		{"in text", "pre ", " post"},
		{"completed by its neighbours", "\xe1", "\xac"},
		{"beside invalid bytes", "\xff", "\xff"},
	} {
		v := tc.pre + secret + tc.post
		for _, shape := range []struct {
			name string
			log  func(*slog.Logger)
		}{
			{"string", func(l *slog.Logger) { l.Info(v, "v", v) }},
			{"struct field", func(l *slog.Logger) { l.Info("m", "s", structWithSecret{Note: v}) }},
			{"map key and value", func(l *slog.Logger) { l.Info("m", "m", map[string]any{v: []any{1, v}}) }},
			{"slice element", func(l *slog.Logger) { l.Info("m", "s", []string{"a", v}) }},
		} {
			for _, format := range []string{"json", "text"} {
				t.Run(tc.name+"/"+shape.name+"/"+format, func(t *testing.T) {
					red := NewRedactor()
					red.Add(secret)
					var buf bytes.Buffer
					shape.log(New(&buf, Options{Format: format, Redactor: red}))
					assertNoSecret(t, buf.String(), "binary-s3cr3t")
					if !strings.Contains(buf.String(), Redacted) {
						t.Fatalf("nothing redacted:\n%s", buf.String())
					}
				})
			}
		}
	}
}

// A string that is written as a binary secret's rendering is (its valid
// characters in the same places, other invalid bytes) shows what the
// secret's rendering shows: it is hidden as a plain string too, as it is
// in a structured value, where it is looked at once rendered.
func TestStringWrittenAsABinarySecretRedacted(t *testing.T) {
	const secret = "\xffbinary-s3cr3t-9f2c\xfe"
	const like = "x \xfebinary-s3cr3t-9f2c\xa0 y"
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			red := NewRedactor()
			red.Add(secret)
			var buf bytes.Buffer
			l := New(&buf, Options{Format: format, Redactor: red})
			l.Info(like, "v", like, "err", errors.New(like), "s", []string{like})
			assertNoSecret(t, buf.String(), "binary-s3cr3t")
			if got := strings.Count(buf.String(), "x "+Redacted+" y"); got != 4 {
				t.Fatalf("%d of 4 values redacted to %q:\n%s", got, "x "+Redacted+" y", buf.String())
			}
		})
	}
}

// MarkSecrets marks exactly the bytes that lie in an occurrence of a
// secret, overlapping occurrences included: checked against looking at
// every position, over texts and secrets of a two-letter alphabet, where
// secrets overlap themselves and each other most.
func TestMarkSecretsMarksEveryOccurrence(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "ab"[rng.IntN(2)]
		}
		return string(b)
	}
	for range 2000 {
		text := word(rng.IntN(40))
		secrets := []string{word(1 + rng.IntN(5)), word(1 + rng.IntN(5)), strings.Repeat("a", 1+rng.IntN(4))}
		want := make([]bool, len(text))
		for _, c := range secrets {
			for i := range text {
				if strings.HasPrefix(text[i:], c) {
					for k := i; k < i+len(c); k++ {
						want[k] = true
					}
				}
			}
		}
		got := make([]bool, len(text))
		MarkSecrets(got, text, secrets)
		if !slices.Equal(got, want) {
			t.Fatalf("MarkSecrets(%q, %q) = %v, want %v", text, secrets, got, want)
		}
	}
}

// A secret that repeats itself, in a long line of its repeats: the cost
// is the line's length, not its length times the secret's (compare with
// the replacer of `git log -S NewReplacer`: about 0.1 s).
func BenchmarkRedactSelfOverlappingSecret(b *testing.B) {
	r := NewRedactor()
	r.Add(strings.Repeat("a", 8<<10))
	line := strings.Repeat("a", 1<<20)
	for b.Loop() {
		if out := r.Redact(line); out != Redacted {
			b.Fatalf("redacted to %d bytes, want %q", len(out), Redacted)
		}
	}
}
