package daytona

import (
	"io"
	"unicode/utf8"
)

// Stream markers in a session command's raw log: each output line is
// prefixed by three 0x01 bytes (stdout) or three 0x02 bytes (stderr).
const (
	StdoutMarker = "\x01\x01\x01"
	StderrMarker = "\x02\x02\x02"
)

// Demuxer splits a session command's raw log — as the follow WebSocket
// sends it, in chunks cut at arbitrary byte boundaries — into stdout and
// stderr. A marker switches the current stream until the next marker;
// bytes before any marker go to stdout.
//
// The result equals a left-to-right scan of the whole log in one piece:
// up to two trailing bytes that may start a marker split across chunks are
// held back until the next Write decides. Each stream also holds back the
// first bytes of a UTF-8 character split across chunks, so a stream whose
// content is valid UTF-8 only ever receives writes that are valid UTF-8.
// Call Flush at the end to release held bytes.
//
// A Demuxer is not safe for concurrent use.
type Demuxer struct {
	out   [2]io.Writer
	cur   int     // 0 stdout, 1 stderr
	pend  [2]byte // bytes that may start a marker
	npend int
	carry [2][]byte // per stream: an incomplete UTF-8 character
	cbuf  [2][utf8.UTFMax]byte
}

// NewDemuxer returns a Demuxer writing to stdout and stderr (nil discards).
func NewDemuxer(stdout, stderr io.Writer) *Demuxer {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	return &Demuxer{out: [2]io.Writer{stdout, stderr}}
}

// Write consumes the next chunk of the raw log.
func (d *Demuxer) Write(p []byte) (int, error) {
	data := p
	if d.npend > 0 {
		m := d.pend[0]
		need := 3 - d.npend
		k := 0
		for k < need && k < len(data) && data[k] == m {
			k++
		}
		switch {
		case k == need: // the marker completes
			d.npend = 0
			d.cur = int(m - 1)
			data = data[need:]
		case k == len(data): // still undecided
			for i := 0; i < k; i++ {
				d.pend[d.npend] = m
				d.npend++
			}
			return len(p), nil
		default: // not a marker: the held bytes are data; rescan data
			held := d.pend[:d.npend]
			d.npend = 0
			if err := d.emit(d.cur, held); err != nil {
				return 0, err
			}
		}
	}
	start := 0
	for i := 0; i < len(data); {
		b := data[i]
		if b != 0x01 && b != 0x02 {
			i++
			continue
		}
		if i+3 <= len(data) {
			if data[i+1] == b && data[i+2] == b {
				if err := d.emit(d.cur, data[start:i]); err != nil {
					return 0, err
				}
				d.cur = int(b - 1)
				i += 3
				start = i
				continue
			}
			i++
			continue
		}
		// Fewer than three bytes left: hold them if they may start a marker.
		rest := data[i:]
		if len(rest) == 1 || rest[1] == b {
			if err := d.emit(d.cur, data[start:i]); err != nil {
				return 0, err
			}
			d.npend = copy(d.pend[:], rest)
			return len(p), nil
		}
		i++
	}
	if err := d.emit(d.cur, data[start:]); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes out held bytes: a marker prefix that never completed (it was
// data) and incomplete UTF-8 characters (as they are).
func (d *Demuxer) Flush() error {
	if d.npend > 0 {
		held := d.pend[:d.npend]
		d.npend = 0
		if err := d.emit(d.cur, held); err != nil {
			return err
		}
	}
	for s := range d.carry {
		if c := d.carry[s]; len(c) > 0 {
			d.carry[s] = nil
			if err := writeAll(d.out[s], c); err != nil {
				return err
			}
		}
	}
	return nil
}

// emit writes b to stream s, holding back a trailing incomplete character.
func (d *Demuxer) emit(s int, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if c := d.carry[s]; len(c) > 0 {
		// Rare: a character split across chunks. Join it with what follows.
		joined := make([]byte, 0, len(c)+len(b))
		joined = append(append(joined, c...), b...)
		d.carry[s] = nil
		b = joined
	}
	cut := len(b)
	for i := len(b) - 1; i >= 0 && i >= len(b)-(utf8.UTFMax-1); i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				cut = i
			}
			break
		}
	}
	if cut < len(b) {
		n := copy(d.cbuf[s][:], b[cut:])
		d.carry[s] = d.cbuf[s][:n]
	}
	return writeAll(d.out[s], b[:cut])
}

func writeAll(w io.Writer, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, err := w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	return err
}
