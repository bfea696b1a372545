package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

type huntStruct struct {
	Note  string            `json:"note"`
	Inner map[string]string `json:"inner"`
}

// A Secrets Manager binary secret (the resolver hands its bytes over as
// they are, and registers them with the redactor) need not be valid UTF-8.
// Logged inside a struct, a map or a slice (slog.Any), the value is
// rendered with json.Marshal before the redactor looks at it, and
// json.Marshal has already replaced the invalid bytes with U+FFFD: the
// redactor must hide it in that form too, as it hides the plain string.
func TestBinarySecretRedactedInsideAStruct(t *testing.T) {
	const secret = "\xffbinary-secret-value-9f2c"
	const rest = "binary-secret-value-9f2c"
	for _, tc := range []struct {
		name string
		log  func(*slog.Logger)
	}{
		{"string attr (redacted today)", func(l *slog.Logger) { l.Info("m", "value", secret) }},
		{"struct field", func(l *slog.Logger) { l.Info("m", "s", huntStruct{Note: secret}) }},
		{"map value", func(l *slog.Logger) { l.Info("m", "m", map[string]string{"k": secret}) }},
		{"slice element", func(l *slog.Logger) { l.Info("m", "s", []string{"a", secret}) }},
		{"map key", func(l *slog.Logger) { l.Info("m", "s", huntStruct{Inner: map[string]string{secret: "x"}}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			red := NewRedactor()
			red.Add(secret)
			var buf bytes.Buffer
			tc.log(New(&buf, Options{Redactor: red}))
			if strings.Contains(buf.String(), rest) {
				t.Errorf("the line shows the secret's bytes after its first:\n%s", buf.String())
			}
		})
	}
}
