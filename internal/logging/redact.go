package logging

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
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
	// renders says a secret holds U+FFFD (the rendering of one that is not
	// valid UTF-8): a string that is not valid UTF-8 is looked at as it is
	// written (rendered), where such a secret shows.
	renders bool
}

// NewRedactor returns a Redactor that knows no secrets yet.
func NewRedactor() *Redactor { return &Redactor{} }

// Add registers value as a secret, in each of its SecretForms. Values
// shorter than MinSecretLen bytes (after trimming surrounding white space)
// are ignored. If value has surrounding white space (a trailing newline from
// a file, say), the trimmed form is registered too; if it is not valid
// UTF-8, so are the forms it takes in a structured value, rendered as JSON.
// Adding a value twice is harmless.
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
	next := &redactorSnapshot{secrets: secrets, borders: make([][]int, len(secrets))}
	for i, c := range secrets {
		next.borders[i] = bordersOf(c)
		next.renders = next.renders || strings.ContainsRune(c, utf8.RuneError)
	}
	r.snap.Store(next)
}

// SecretForms are the forms of a secret value that are hidden: the value,
// and its form trimmed of surrounding white space (a trailing newline from
// a file, say), each of MinSecretLen bytes or more after trimming; and,
// for a value that is not valid UTF-8 (a Secrets Manager binary secret),
// the forms renderedForms gives of each.
func SecretForms(value string) []string {
	var forms []string
	add := func(f string) {
		if len(strings.TrimSpace(f)) >= MinSecretLen && !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	if len(strings.TrimSpace(value)) < MinSecretLen {
		return nil
	}
	add(value)
	add(strings.TrimSpace(value))
	for _, f := range slices.Clone(forms) {
		for _, r := range renderedForms(f) {
			add(r)
		}
		for _, b := range base64Forms(f) {
			add(b)
		}
	}
	return forms
}

// base64Forms are what a secret becomes inside a []byte of a structured
// value, which json.Marshal writes as standard base64: at each of the
// three offsets it may start at in the slice, the characters that only its
// own bits make.
func base64Forms(secret string) []string {
	forms := make([]string, 0, 3)
	for off := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, off), secret...))
		forms = append(forms, enc[(8*off+5)/6:8*(off+len(secret))/6])
	}
	return forms
}

// renderedForms are what a secret that is not valid UTF-8 becomes once
// rendered as JSON, where the redactor looks for it in structured values
// (struct fields, map keys and values, slice elements; see any):
// json.Marshal writes each byte that is not part of a valid character as
// U+FFFD, so the secret's own bytes are no longer there. Inside a longer
// string, the bytes before it may complete a character with the first
// one, two or three continuation bytes it starts with, and those after it
// the incomplete character it ends with; what is left renders the same
// wherever it lies. So the forms are the secret rendered without each of
// those parts its neighbours may take: every rendering of a string that
// holds the secret holds one of them, or else holds less of it than
// MinSecretLen bytes. The floor counts the secret's bytes, not the form's:
// an invalid one is three bytes as U+FFFD, and a form of a few of them
// would hide every such run. A form that holds another is left out (the
// other hides the part of it that is the secret's), and a valid secret has
// none: it renders as itself.
func renderedForms(secret string) []string {
	if utf8.ValidString(secret) {
		return nil
	}
	starts := []int{0}
	for i := 0; i < utf8.UTFMax-1 && i < len(secret) && !utf8.RuneStart(secret[i]); i++ {
		starts = append(starts, i+1)
	}
	ends := []int{len(secret)}
	for i := len(secret) - 1; i >= 0 && i >= len(secret)-(utf8.UTFMax-1); i-- {
		if utf8.RuneStart(secret[i]) {
			if !utf8.FullRuneInString(secret[i:]) {
				ends = append(ends, i)
			}
			break
		}
	}
	var forms []string
	// The shortest first, so that a longer one holding it is left out.
	for _, i := range slices.Backward(starts) {
		for _, j := range slices.Backward(ends) {
			if i >= j {
				continue
			}
			f := Rendered(secret[i:j])
			holds := func(g string) bool { return strings.Contains(f, g) }
			if len(strings.TrimSpace(secret[i:j])) >= MinSecretLen && !slices.ContainsFunc(forms, holds) {
				forms = append(forms, f)
			}
		}
	}
	return forms
}

// Rendered is s as encoding/json writes it (unescaped): each byte that is
// not part of a valid character becomes U+FFFD.
func Rendered(s string) string {
	var b strings.Builder
	for _, r := range s { // an invalid byte ranges as one utf8.RuneError
		b.WriteRune(r)
	}
	return b.String()
}

// isNew reports whether Add would register c, one of SecretForms.
func (r *Redactor) isNew(c string) bool {
	s := r.snap.Load()
	return s == nil || !slices.Contains(s.secrets, c)
}

// Len returns the number of secret forms registered (SecretForms).
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
	if s.renders && !utf8.ValidString(v) {
		// As the JSON handler writes it, and json.Marshal a structured
		// value's strings: the secret's rendering is what would show.
		v = Rendered(v)
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
