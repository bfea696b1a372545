package daytona

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// refDemux is the specification: one left-to-right scan over the whole
// log, three equal 0x01 or 0x02 bytes being a marker.
func refDemux(log []byte) (stdout, stderr []byte) {
	out := [2][]byte{}
	cur := 0
	for i := 0; i < len(log); {
		b := log[i]
		if (b == 1 || b == 2) && i+2 < len(log) && log[i+1] == b && log[i+2] == b {
			cur = int(b - 1)
			i += 3
			continue
		}
		out[cur] = append(out[cur], b)
		i++
	}
	return out[0], out[1]
}

// chunkWriter records every Write as a separate chunk.
type chunkWriter struct{ chunks [][]byte }

func (w *chunkWriter) Write(p []byte) (int, error) {
	w.chunks = append(w.chunks, append([]byte(nil), p...))
	return len(p), nil
}

func (w *chunkWriter) bytes() []byte { return bytes.Join(w.chunks, nil) }

// demuxChunks feeds log to a Demuxer cut at the given offsets.
func demuxChunks(t testing.TB, log []byte, cuts []int) (*chunkWriter, *chunkWriter) {
	t.Helper()
	so, se := &chunkWriter{}, &chunkWriter{}
	d := NewDemuxer(so, se)
	prev := 0
	for _, c := range append(cuts, len(log)) {
		if c < prev || c > len(log) {
			continue
		}
		n, err := d.Write(log[prev:c])
		if err != nil || n != c-prev {
			t.Fatalf("Write = %d, %v", n, err)
		}
		prev = c
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	return so, se
}

func TestDemuxTable(t *testing.T) {
	const O, E = StdoutMarker, StderrMarker
	tests := []struct {
		name           string
		chunks         []string
		stdout, stderr string
	}{
		{"no markers go to stdout", []string{"plain\n"}, "plain\n", ""},
		{"stdout then stderr", []string{O + "out\n" + E + "err\n"}, "out\n", "err\n"},
		{"interleaved", []string{O + "a\n" + E + "b\n" + O + "c\n" + E + "d\n"}, "a\nc\n", "b\nd\n"},
		{"marker split 1+2", []string{O + "a\n\x02", "\x02\x02b\n"}, "a\n", "b\n"},
		{"marker split 2+1", []string{O + "a\n\x02\x02", "\x02b\n"}, "a\n", "b\n"},
		{"marker split 1+1+1", []string{"\x02", "\x02", "\x02x"}, "", "x"},
		{"lone control bytes are data", []string{O + "a\x01b\x02\x02c\n"}, "a\x01b\x02\x02c\n", ""},
		{"held prefix that is data", []string{O + "a\x01", "\x01b"}, "a\x01\x01b", ""},
		{"mixed bytes are not a marker", []string{"\x01\x01\x02\x02\x02e"}, "\x01\x01", "e"},
		{"trailing partial marker flushed as data", []string{E + "e\x02\x02"}, "", "e\x02\x02"},
		{"four in a row", []string{"\x01\x01\x01\x01x"}, "\x01x", ""},
		{"utf8 split across chunks", []string{O + "h\xc3", "\xa9llo " + E + "\xe2\x82", "\xac\n"}, "héllo ", "€\n"},
		{"empty chunks", []string{"", O, "", "x", ""}, "x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var so, se bytes.Buffer
			d := NewDemuxer(&so, &se)
			for _, c := range tt.chunks {
				if _, err := d.Write([]byte(c)); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.Flush(); err != nil {
				t.Fatal(err)
			}
			if so.String() != tt.stdout || se.String() != tt.stderr {
				t.Errorf("stdout %q stderr %q, want %q %q", so.String(), se.String(), tt.stdout, tt.stderr)
			}
		})
	}
}

// TestDemuxEverySplit cuts a log with both streams, markers and multi-byte
// characters at every byte offset (and every pair of offsets) and checks
// the result equals the one-piece scan, with every write valid UTF-8.
func TestDemuxEverySplit(t *testing.T) {
	log := []byte(StdoutMarker + "héllo wörld\n" + StderrMarker + "€rror: ✗\n" + StdoutMarker + "ok 🎉\n" + StderrMarker + "x\x01\x01\n")
	wantO, wantE := refDemux(log)
	check := func(cuts []int) {
		so, se := demuxChunks(t, log, cuts)
		if !bytes.Equal(so.bytes(), wantO) || !bytes.Equal(se.bytes(), wantE) {
			t.Fatalf("cuts %v: stdout %q stderr %q, want %q %q", cuts, so.bytes(), se.bytes(), wantO, wantE)
		}
		for _, w := range [2]*chunkWriter{so, se} {
			for _, c := range w.chunks {
				if !utf8.Valid(c) {
					t.Fatalf("cuts %v: write %q is not valid UTF-8", cuts, c)
				}
			}
		}
	}
	for i := 0; i <= len(log); i++ {
		check([]int{i})
		for j := i; j <= len(log); j++ {
			check([]int{i, j})
		}
	}
	// One byte at a time.
	var all []int
	for i := 1; i < len(log); i++ {
		all = append(all, i)
	}
	check(all)
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

func TestDemuxWriterErrors(t *testing.T) {
	d := NewDemuxer(failWriter{}, nil)
	if _, err := d.Write([]byte("x")); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("err = %v", err)
	}
	d = NewDemuxer(shortWriter{}, nil)
	if _, err := d.Write([]byte("xy")); err == nil {
		t.Error("short write not reported")
	}
	// nil writers discard.
	d = NewDemuxer(nil, nil)
	if _, err := d.Write([]byte(StderrMarker + "x")); err != nil {
		t.Error(err)
	}
}

// FuzzDemux: however the log is cut into writes (sizes gives each write's
// length, 0 an empty write, cycling), each byte comes out once, on the
// stream the one-piece scan puts it on, in order; a stream whose content
// is valid UTF-8 only ever gets writes that are. Seeds hold invalid UTF-8
// everywhere a stream can: alone, cut by a marker, at the end.
func FuzzDemux(f *testing.F) {
	const O, E = StdoutMarker, StderrMarker
	for _, log := range []string{
		O + "a\n" + E + "b\n",
		"\x01\x01\x02\x02\x02\x01",
		"h\xc3\xa9\xe2\x82\xac\xf0\x9f\x8e\x89",
		"\xff\xfe" + E + "\x80" + O + "\xc0\x80",
		"a\xe2\x82" + E + "b\xac" + O + "\xac",
		"\xe2" + O + "\x82\xac" + E + "\xed\xa0\x80",
		E + "\xf0\x9f\x8e",
		"\x02\x02",
	} {
		for _, sizes := range []string{"", "\x01", "\x02\x00\x03", "\x07\x05"} {
			f.Add([]byte(log), []byte(sizes))
		}
	}
	f.Fuzz(func(t *testing.T, log, sizes []byte) {
		var cuts []int
		for i, pos := 0, 0; len(sizes) > 0 && pos < len(log) && i < 4*len(log)+len(sizes); i++ {
			pos = min(pos+int(sizes[i%len(sizes)])%9, len(log))
			cuts = append(cuts, pos)
		}
		wantO, wantE := refDemux(log)
		for _, cuts := range [][]int{nil, cuts} {
			so, se := demuxChunks(t, log, cuts)
			if !bytes.Equal(so.bytes(), wantO) || !bytes.Equal(se.bytes(), wantE) {
				t.Fatalf("cuts %v: got %q %q, want %q %q", cuts, so.bytes(), se.bytes(), wantO, wantE)
			}
			for i, w := range [2]*chunkWriter{so, se} {
				if !utf8.Valid([2][]byte{wantO, wantE}[i]) {
					continue
				}
				for _, c := range w.chunks {
					if !utf8.Valid(c) {
						t.Fatalf("cuts %v: stream %d is valid UTF-8 but write %q is not", cuts, i, c)
					}
				}
			}
		}
	})
}
