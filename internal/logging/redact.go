package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Redacted replaces every redacted value and every occurrence of a known
// secret.
const Redacted = "[REDACTED]"

// MinSecretLen is the length below which Redactor.Add ignores a value.
// Replacing every occurrence of a very short string ("abc", "1") would
// shred log lines without protecting anything worth protecting: a real
// credential is far longer, and a secret of a few characters is guessable
// whether or not it is logged.
const MinSecretLen = 6

// sensitiveKeyParts are matched, case-insensitively, as substrings of
// attribute keys, group names and (inside structured values) map keys and
// JSON field names.
var sensitiveKeyParts = []string{
	"authorization", "token", "secret", "password", "passwd",
	"apikey", "api_key", "api-key", "credential", "cookie",
	"private", "signature", "session_token",
}

// IsSensitiveKey reports whether values logged under key are redacted
// whatever they hold: key contains, ignoring case, one of authorization,
// token, secret, password, passwd, apikey, api_key, api-key, credential,
// cookie, private, signature or session_token.
func IsSensitiveKey(key string) bool {
	k := strings.ToLower(key)
	for _, p := range sensitiveKeyParts {
		if strings.Contains(k, p) {
			return true
		}
	}
	return false
}

// Redactor holds the secret values known to this process. Every string a
// logger built with it writes (message, attribute keys and values, error
// texts, groups, structured values) has each known secret replaced by
// Redacted.
//
// A Redactor is safe for concurrent use: secrets are registered at cold
// start and later, as they are resolved, while other goroutines log. The
// nil *Redactor knows no secrets.
type Redactor struct {
	mu   sync.Mutex // serialises Add
	snap atomic.Pointer[redactorSnapshot]
}

// redactorSnapshot is immutable once published.
type redactorSnapshot struct {
	secrets []string
	// borders are each secret's KMP table (markFrom), made once, in Add.
	borders [][]int
}

// NewRedactor returns a Redactor that knows no secrets yet.
func NewRedactor() *Redactor { return &Redactor{} }

// Add registers value as a secret. Values shorter than MinSecretLen bytes
// (after trimming surrounding white space) are ignored. If value has
// surrounding white space (a trailing newline from a file, say), the trimmed
// form is registered too. Adding a value twice is harmless.
func (r *Redactor) Add(value string) {
	if r == nil {
		return
	}
	candidates := SecretForms(value)
	if !slices.ContainsFunc(candidates, r.isNew) {
		return // the common repeat: no lock, no copy
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.snap.Load()
	var secrets []string
	if old != nil {
		secrets = slices.Clone(old.secrets)
	}
	added := false
	for _, c := range candidates {
		if slices.Contains(secrets, c) {
			continue
		}
		secrets = append(secrets, c)
		added = true
	}
	if !added {
		return
	}
	borders := make([][]int, len(secrets))
	for i, c := range secrets {
		borders[i] = bordersOf(c)
	}
	r.snap.Store(&redactorSnapshot{secrets: secrets, borders: borders})
}

// SecretForms are the forms of a secret value that are hidden: the value,
// and its form trimmed of surrounding white space (a trailing newline from
// a file, say), each of MinSecretLen bytes or more after trimming.
func SecretForms(value string) []string {
	var forms []string
	if t := strings.TrimSpace(value); len(t) >= MinSecretLen {
		forms = append(forms, value)
		if t != value {
			forms = append(forms, t)
		}
	}
	return forms
}

// isNew reports whether Add would register c, one of SecretForms.
func (r *Redactor) isNew(c string) bool {
	s := r.snap.Load()
	return s == nil || !slices.Contains(s.secrets, c)
}

// Len returns the number of secret values registered.
func (r *Redactor) Len() int {
	if s := r.load(); s != nil {
		return len(s.secrets)
	}
	return 0
}

// Redact returns s with every known secret replaced by Redacted: each run
// of bytes inside secrets (MarkSecrets), overlapping or adjacent ones
// together, becomes one Redacted.
func (r *Redactor) Redact(s string) string {
	return r.load().redact(s)
}

func (r *Redactor) load() *redactorSnapshot {
	if r == nil {
		return nil
	}
	return r.snap.Load()
}

func (s *redactorSnapshot) redact(v string) string {
	if s == nil || v == "" {
		return v
	}
	var hidden []bool // made at the first secret found: most strings hold none
	for i, c := range s.secrets {
		if at := strings.Index(v, c); at >= 0 {
			if hidden == nil {
				hidden = make([]bool, len(v))
			}
			markFrom(hidden, v, c, s.borders[i], at)
		}
	}
	if hidden == nil {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); {
		if !hidden[i] {
			b.WriteByte(v[i])
			i++
			continue
		}
		b.WriteString(Redacted)
		for i < len(v) && hidden[i] {
			i++
		}
	}
	return b.String()
}

// MarkSecrets sets hidden[k] for every byte k of text that lies in an
// occurrence of one of secrets; hidden is len(text) long. Every
// occurrence is marked, those overlapping another included: where the end
// of one secret is the start of another, a replacer that resumes after
// its first match would write the rest of the second out. The logger and
// the issue comments that quote a task's output hide secrets by it.
func MarkSecrets(hidden []bool, text string, secrets []string) {
	for _, c := range secrets {
		if c == "" {
			continue
		}
		if i := strings.Index(text, c); i >= 0 {
			markFrom(hidden, text, c, bordersOf(c), i)
		}
	}
}

// bordersOf is c's Knuth–Morris–Pratt table: border[q] is the length of
// the longest proper border of c[:q+1].
func bordersOf(c string) []int {
	border := make([]int, len(c))
	for q, k := 1, 0; q < len(c); q++ {
		for k > 0 && c[q] != c[k] {
			k = border[k-1]
		}
		if c[q] == c[k] {
			k++
		}
		border[q] = k
	}
	return border
}

// markFrom marks every occurrence of c (its table border) in text from
// the first, at i, in one pass that finds overlapping ones too: a secret
// that repeats itself (a run of one letter) costs a line's length, not
// its length times the secret's. Each byte is marked once.
func markFrom(hidden []bool, text, c string, border []int, i int) {
	marked := 0 // text[:marked] is marked where it lies in an occurrence
	for q := 0; i < len(text); i++ {
		for q > 0 && text[i] != c[q] {
			q = border[q-1]
		}
		if text[i] == c[q] {
			q++
		}
		if q == len(c) {
			for k := max(i+1-len(c), marked); k <= i; k++ {
				hidden[k] = true
			}
			marked = i + 1
			q = border[q-1]
		}
	}
}

// attr redacts one attribute: by key name first (the value is then never
// resolved or looked at), then by value, recursively through groups,
// LogValuers and structured values.
func (s *redactorSnapshot) attr(a slog.Attr) slog.Attr {
	if a.Key != "" && IsSensitiveKey(a.Key) {
		return slog.String(s.redact(a.Key), Redacted)
	}
	a.Key = s.redact(a.Key)
	a.Value = s.value(a.Value)
	return a
}

func (s *redactorSnapshot) attrs(as []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = s.attr(a)
	}
	return out
}

func (s *redactorSnapshot) value(v slog.Value) slog.Value {
	v = v.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.StringValue(s.redact(v.String()))
	case slog.KindGroup:
		return slog.GroupValue(s.attrs(v.Group())...)
	case slog.KindAny:
		return s.any(v.Any())
	}
	// Numbers, booleans, durations and times hold no secret text.
	return v
}

// any redacts an arbitrary value. Errors become their (redacted) text.
// Anything else is rendered the way the JSON handler would render it
// (json.Marshal) and rebuilt as plain maps, slices and strings, so that
// struct fields and map keys with sensitive names are redacted like
// attribute keys and every string inside is scrubbed. Values json.Marshal
// refuses (those holding a channel or function, *http.Request among them,
// cycles) are logged as Redacted and their type only: fmt's "%+v" would
// print fields and map keys named like a secret whole.
func (s *redactorSnapshot) any(x any) slog.Value {
	switch x := x.(type) {
	case nil:
		return slog.AnyValue(nil)
	case error:
		return slog.StringValue(s.redact(x.Error()))
	case []byte:
		return slog.StringValue(s.redact(string(x)))
	}
	b, err := json.Marshal(x)
	if err != nil {
		return slog.StringValue(fmt.Sprintf("%s (a %T, which is not JSON)", Redacted, x))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return slog.StringValue(s.redact(string(b)))
	}
	switch t := s.tree(tree).(type) {
	case string:
		return slog.StringValue(t)
	default:
		return slog.AnyValue(t)
	}
}

func (s *redactorSnapshot) tree(x any) any {
	switch x := x.(type) {
	case string:
		return s.redact(x)
	case []any:
		for i := range x {
			x[i] = s.tree(x[i])
		}
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, v := range x {
			if IsSensitiveKey(k) {
				out[s.redact(k)] = Redacted
				continue
			}
			out[s.redact(k)] = s.tree(v)
		}
		return out
	}
	// json.Number, bool, nil.
	return x
}
