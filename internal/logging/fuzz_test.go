package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// lineForms are the ways secret, logged inside pre+secret+post, could show
// in a line: its bytes and its bytes with each invalid byte replaced by
// U+FFFD (what encoding/json and slog write for it), each trimmed of
// surrounding white space (the redactor hides the trimmed value too); and
// what its bytes become in that text so written, the characters wholly
// inside it (those around it may complete a character it has only a part
// of at either end), as they are, if they stand for MinSecretLen of its
// bytes. Only those still a distinctive run count (checked by the caller).
func lineForms(secret, pre, post string) []string {
	forms := []string{strings.TrimSpace(secret)}
	if utf8.ValidString(secret) {
		return forms
	}
	var alone, within strings.Builder
	for _, r := range secret {
		alone.WriteRune(r)
	}
	v := pre + secret + post
	from, to := -1, -1 // the secret's bytes within stands for
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		if i >= len(pre) && i+size <= len(pre)+len(secret) {
			within.WriteRune(r)
			if from < 0 {
				from = i
			}
			to = i + size
		}
		i += size
	}
	forms = append(forms, strings.TrimSpace(alone.String()))
	// Fewer of the secret's bytes than MinSecretLen are not looked for,
	// however long their rendering.
	if from >= 0 && len(strings.TrimSpace(v[from:to])) >= MinSecretLen {
		forms = append(forms, within.String())
	}
	return forms
}

// ownText is what a line of FuzzSecretReachesNoLogLine holds whatever is
// logged: a form found in it is not the secret's.
var ownText = []string{Redacted, "timestamp", "level", "INFO", "message", "value", "carried", "err", "name", "note", "inner", "list", "null"}

// timestampField is a line's time, which holds what it will.
var timestampField = regexp.MustCompile(`^\{"timestamp":"[^"]*"`)

// jsonQuoteOrEscape is a quote or an escape in a JSON line.
var jsonQuoteOrEscape = regexp.MustCompile(`"|\\(u[0-9a-fA-F]{4}|.)`)

// decodedStrings returns every key and string value of a JSON line but
// its timestamp's.
func decodedStrings(t *testing.T, line []byte) []string {
	var tree any
	if err := json.Unmarshal(line, &tree); err != nil {
		t.Fatalf("line is not JSON: %v\n%s", err, line)
	}
	var out []string
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, v := range x {
				walk(v)
			}
		case map[string]any:
			for k, v := range x {
				out = append(out, k)
				if k != "timestamp" {
					walk(v)
				}
			}
		}
	}
	walk(tree)
	return out
}

// FuzzSecretReachesNoLogLine: a registered secret, logged in any shape
// inside any text, reaches no log line: neither the line's bytes nor any
// string the line decodes to holds it, a secret that is not valid UTF-8
// included (rendered into a structured value, it is no longer its bytes).
func FuzzSecretReachesNoLogLine(f *testing.F) {
	f.Add("s3cr3t-value", "pre ", " post", uint8(0))
	f.Add("\xffs3cr3t-value", "", "", uint8(3))
	f.Add("tok\"en\\value", "a", "b", uint8(4))
	f.Add("  padded-secret\n", "x", "y", uint8(1))
	f.Add("\x80\x80s3cr3t\xff-value\xe2\x82", "\xe1", "\xac", uint8(5))
	f.Add("\xffbinary-secret-value-9f2c", "", "", uint8(7))
	f.Add("0\xa0\x88\xa0\xfa\xf3", "0", "0\x8e\xfc\xf3\xd2\xfc", uint8(0)) // post is written as secret is
	f.Add("\"00000", "00000", "0", uint8(6))                               // the line's quote and the logged text spell it
	f.Add("\x82\u2000\x82\xe2", "\xc4", "\xe2\xc7", uint8(5))              // pre completes a character, leaving a space first
	f.Fuzz(func(t *testing.T, secret, pre, post string, shape uint8) {
		if len(strings.TrimSpace(secret)) < MinSecretLen || strings.Contains(secret, Redacted) {
			t.Skip()
		}
		red := NewRedactor()
		red.Add(secret)
		var buf bytes.Buffer
		l := New(&buf, Options{Redactor: red})
		v := pre + secret + post
		switch shape % 8 {
		case 0:
			l.Info(v)
		case 1:
			l.Info("m", "value", v)
		case 2:
			l.Info("m", "err", errors.New(v))
		case 3:
			l.Info("m", "s", structWithSecret{Note: v})
		case 4:
			l.Info("m", "m", map[string]any{"k": []any{1, v}})
		case 5:
			l.Info("m", "s", structWithSecret{Inner: map[string]string{v: "x"}})
		case 6:
			l.With("carried", v).WithGroup("g").Info("m", "y", v)
		case 7:
			l.Info("m", slog.Group("g", slog.Any("s", &structWithSecret{Note: v})))
		}
		line := buf.Bytes()
		for i, form := range lineForms(secret, pre, post) {
			if len(strings.TrimSpace(form)) < MinSecretLen || slices.ContainsFunc(ownText, func(o string) bool { return strings.Contains(o, form) }) {
				continue
			}
			// The secret's bytes are looked for between the line's quotes
			// and escapes, the renderings in what the line decodes to only:
			// a quote or an escape ("\u0000") may spell them by chance.
			for _, part := range jsonQuoteOrEscape.Split(timestampField.ReplaceAllString(string(line), ""), -1) {
				if i == 0 && strings.Contains(part, form) {
					t.Fatalf("shape %d: line holds the secret's bytes %q:\n%s", shape%8, form, line)
				}
			}
			for _, s := range decodedStrings(t, line) {
				if strings.Contains(s, form) {
					t.Fatalf("shape %d: line's string %q holds the secret %q (logged %q):\n%s", shape%8, s, form, v, line)
				}
			}
		}
	})
}
