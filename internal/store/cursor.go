package store

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A cursor is opaque to callers: base64url(JSON) "." base64url(checksum).
//
// It names the list it belongs to (kind and scope: the owner, the audit
// partition or the task) and the position of the last item returned. Decoding
// refuses, with EINVALID field "cursor", anything that is not a cursor this
// store made for the same list: a cursor of another user, another list or
// another table, or one whose text was changed. The checksum is not a secret
// MAC; safety does not depend on it, because the scope is checked against the
// caller's own arguments and the position is validated before it becomes a
// key, so an edited cursor can only move within the caller's own list. A
// cursor has one spelling: the text must be exactly what encodeCursor
// makes of what it decodes to.
type cursor struct {
	V     int    `json:"v"`
	Kind  string `json:"k"`
	Scope string `json:"s"`
	Pos   string `json:"p,omitempty"`
	Seq   int64  `json:"n,omitempty"`
}

const (
	cursorVersion   = 1
	maxCursorLength = 2048

	cursorSandboxes = "sbx"
	cursorTasks     = "task"
	cursorAudit     = "evt"
)

func (s *Store) cursorSum(payload []byte) []byte {
	h := sha256.New()
	h.Write([]byte("sandstep-cursor\x00" + s.table + "\x00"))
	h.Write(payload)
	return h.Sum(nil)[:12]
}

func (s *Store) encodeCursor(c cursor) string {
	c.V = cursorVersion
	payload, err := json.Marshal(c)
	if err != nil { // a struct of strings and ints always marshals
		panic("store: marshal cursor: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(s.cursorSum(payload))
}

// decodeCursor returns the cursor in text for the list (kind, scope). An
// empty text is the start of the list and returns nil.
func (s *Store) decodeCursor(text, kind, scope string) (*cursor, error) {
	if text == "" {
		return nil, nil
	}
	bad := sandstep.Invalid("cursor", "is not a valid cursor for this list")
	if len(text) > maxCursorLength {
		return nil, bad
	}
	p, sum, ok := strings.Cut(text, ".")
	if !ok {
		return nil, bad
	}
	payload, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return nil, bad
	}
	got, err := base64.RawURLEncoding.DecodeString(sum)
	if err != nil || subtle.ConstantTimeCompare(got, s.cursorSum(payload)) != 1 {
		return nil, bad
	}
	var c cursor
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, bad
	}
	if c.V != cursorVersion || c.Kind != kind || c.Scope != scope {
		return nil, bad
	}
	// One spelling per cursor: what encoding/json and base64 read leniently
	// (white space, order, escapes, invalid UTF-8 it replaces, stray bits)
	// spells a cursor this store never made.
	if s.encodeCursor(c) != text {
		return nil, bad
	}
	return &c, nil
}
