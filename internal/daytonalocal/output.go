package daytonalocal

import (
	"io"
	"sync"
)

// A command's two output streams, by index.
const (
	stdoutStream = 0
	stderrStream = 1
)

// streamCaps cuts each of a command's output streams at a cap of its own,
// so that a flood on one never costs the other its output: the first
// limit bytes of each are kept, the rest only counted.
type streamCaps struct {
	limit   int
	kept    [2]int
	dropped [2]int64
}

// cut returns the part of p, written to stream, that is kept.
func (c *streamCaps) cut(stream int, p []byte) []byte {
	room := max(c.limit-c.kept[stream], 0)
	if len(p) > room {
		c.dropped[stream] += int64(len(p) - room)
		p = p[:room]
	}
	c.kept[stream] += len(p)
	return p
}

func (c *streamCaps) truncated() bool { return c.dropped[0] > 0 || c.dropped[1] > 0 }

// logAttrs describes what was dropped, for a log line.
func (c *streamCaps) logAttrs() []any {
	return []any{"droppedStdoutBytes", c.dropped[stdoutStream], "droppedStderrBytes", c.dropped[stderrStream]}
}

// capture keeps a command's stdout and stderr in one buffer, in the order
// the server reads them, each stream cut at its own cap. Writes never
// fail, so the pipes are always drained. Two pipes read apart keep each
// stream's order, not the order between them: bytes written to both
// within a moment may come out either way.
type capture struct {
	mu   sync.Mutex
	caps streamCaps
	buf  []byte
}

func newCapture(limit int) *capture { return &capture{caps: streamCaps{limit: limit}} }

// read keeps what r holds of one stream (a piped reader).
func (c *capture) read(stream int, r io.Reader) { _, _ = io.Copy(captureStream{c, stream}, r) }

// result returns the kept output and whether anything was dropped, with
// the log attributes saying what.
func (c *capture) result() ([]byte, bool, []any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf...), c.caps.truncated(), c.caps.logAttrs()
}

type captureStream struct {
	c      *capture
	stream int
}

func (w captureStream) Write(p []byte) (int, error) {
	w.c.mu.Lock()
	w.c.buf = append(w.c.buf, w.c.caps.cut(w.stream, p)...)
	w.c.mu.Unlock()
	return len(p), nil
}
