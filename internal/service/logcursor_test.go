package service

import (
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// FuzzLogCursor: a task log cursor that parses spells exactly what String
// gives back (a bare seq, as handed out before offsets were part of it,
// gives it back with its offsets 0), or it is refused naming cursor: no
// two texts are one position.
func FuzzLogCursor(f *testing.F) {
	for _, s := range []string{
		"", "0", "12", "12.300.4", "0.0.0", "00", "007.1.2", "1.01.2", "1.2.00",
		"999999999999999999", "999999999999999999.1.1", "1e3", "0x10", "+1", "1.2", "1..2",
		"\xff", "1.\xff.2", "1\xed\xa0\x80", "１２", "1\x00", " 1", "1.2.3.4",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseLogCursor(s)
		if err != nil {
			if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != "cursor" {
				t.Fatalf("parseLogCursor(%q): %v, want invalid_input naming cursor", s, err)
			}
			return
		}
		switch {
		case s == "":
			if c != (logCursor{}) {
				t.Fatalf("the start parsed to %+v", c)
			}
		case strings.Contains(s, "."):
			if c.String() != s {
				t.Fatalf("parseLogCursor(%q) = %+v, which is %q", s, c, c.String())
			}
		default:
			if c.String() != s+".0.0" {
				t.Fatalf("parseLogCursor(%q) = %+v, which is %q", s, c, c.String())
			}
		}
	})
}
