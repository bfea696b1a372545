package service

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// logCursor is where a reader of a task's output is: the last stored
// chunk it has read, and how far into each stream's file it has been
// given bytes, stored or fresh from the sandbox. Bytes below those offsets
// are never given again, so a chunk that stores bytes the reader had fresh
// is trimmed, and none is skipped.
//
// An offset may be lower than what the reader has: 0 for a cursor handed
// out before offsets were part of it, or for a stream whose chunks carry
// none. That is safe: stored chunks after seq are then given whole (the
// reader had none of them), and fresh bytes start where the stored ones
// end.
type logCursor struct {
	seq  int64
	sent [2]int64 // stdout, stderr
}

// String is the cursor the API hands out, "<seq>.<stdout>.<stderr>";
// callers treat it as opaque.
func (c logCursor) String() string {
	return strconv.FormatInt(c.seq, 10) + "." + strconv.FormatInt(c.sent[0], 10) + "." + strconv.FormatInt(c.sent[1], 10)
}

// parseLogCursor reads a cursor: "" is the start, and a bare "<seq>" (as
// handed out before offsets were part of it) is that seq with offsets 0.
func parseLogCursor(s string) (logCursor, error) {
	var c logCursor
	if s == "" {
		return c, nil
	}
	parts := strings.Split(s, ".")
	if len(parts) != 1 && len(parts) != 3 {
		return c, badCursor()
	}
	for i, p := range parts {
		n, ok := parseCount(p)
		if !ok {
			return c, badCursor()
		}
		if i == 0 {
			c.seq = n
		} else {
			c.sent[i-1] = n
		}
	}
	return c, nil
}

// taskCursor is the cursor handed out for c in task taskID's output:
// String and the task's tag, so that another task's cursor, whose seq may
// lie within this task's output, is refused rather than taken as a
// position (it would skip what comes before it).
func (c logCursor) taskCursor(taskID string) string { return c.String() + "." + cursorTag(taskID) }

// parseTaskCursor reads a cursor of task taskID's output. One without a
// tag (as handed out before the tag was part of it) is read by
// parseLogCursor alone; one with another task's tag is refused.
func parseTaskCursor(s, taskID string) (logCursor, error) {
	if strings.Count(s, ".") == 3 {
		i := strings.LastIndexByte(s, '.')
		if s[i+1:] != cursorTag(taskID) {
			return logCursor{}, badCursor()
		}
		s = s[:i]
	}
	return parseLogCursor(s)
}

// cursorTag names a task in its cursors: not a secret (a cursor only
// moves within a task the caller may read), only a check against mix-ups.
func cursorTag(taskID string) string {
	sum := sha256.Sum256([]byte("sandstep-log-cursor\x00" + taskID))
	return hex.EncodeToString(sum[:4])
}

func badCursor() error {
	return sandstep.Invalid("cursor", "is not a cursor of this task's output: pass the nextCursor of the previous page, or none to start")
}

// parseCount reads a non-negative decimal of at most 18 digits (no sign
// and no leading zero, so a cursor has one spelling).
func parseCount(s string) (int64, bool) {
	if s == "" || len(s) > 18 || strings.Trim(s, "0123456789") != "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// take returns the part of a stored chunk of stream i, starting at offset
// in its file, that the record counts and the reader has not been given,
// and records it as given. The record counts a stream's file up to
// recorded (its LogBytes): a chunk kept by a writer that lost the race to
// record may run past it, and those bytes are stored again later or read
// fresh. A chunk without an offset (the cut marker as stored before the
// record carried the cut, or a chunk stored before offsets were kept) is
// given whole.
func (c *logCursor) take(i int, offset, recorded int64, data []byte) []byte {
	if offset < 0 {
		return data
	}
	data = data[:max(0, min(int64(len(data)), recorded-offset))]
	end := offset + int64(len(data))
	if skip := c.sent[i] - offset; skip > 0 {
		data = data[min(skip, int64(len(data))):]
	}
	c.sent[i] = max(c.sent[i], end)
	return data
}
