package service

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sandstep/sandstep/internal/metrics"
	"github.com/sandstep/sandstep/internal/sandstep"
)

func TestLogKeyRoundTrip(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123).UTC()
	tests := []struct {
		name   string
		stream string
		offset int64
	}{
		{"stdout at its start", "stdout", 0},
		{"stderr further on", "stderr", 123456},
		{"the cut marker: no offset", "stdout", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := logKey("tsk_x", 7, tt.stream, tt.offset, at)
			ch, off, ok := parseLogKey(strings.TrimPrefix(key, logPrefix("tsk_x")))
			if !ok || ch.Seq != 7 || ch.Stream != tt.stream || off != tt.offset || !ch.Time.Equal(at) {
				t.Errorf("parseLogKey(%q) = %+v, %d, %v", key, ch, off, ok)
			}
			// Two writers of the same chunk in the same millisecond keep
			// two objects.
			if again := logKey("tsk_x", 7, tt.stream, tt.offset, at); again == key {
				t.Errorf("the same chunk's key twice: %q", key)
			}
		})
	}
}

func TestParseLogKey(t *testing.T) {
	tests := []struct {
		name, key string
		ok        bool
		seq, off  int64
	}{
		{"stored before offsets were kept", "000000000003-stderr-1700000000123", true, 3, -1},
		{"with an offset", "000000000004-stdout-99-1700000000123", true, 4, 99},
		{"with an offset and a nonce", "000000000004-stdout-99-1700000000123-nabcd2345", true, 4, 99},
		{"the cut marker with a nonce", "000000000005-stderr-1700000000123-nabcd2345", true, 5, -1},
		{"a nonce of another length", "000000000004-stdout-99-1700000000123-nabc", false, 0, 0},
		{"unknown stream", "000000000004-stdin-99-1700000000123", false, 0, 0},
		{"negative offset", "000000000004-stdout--1-1700000000123", false, 0, 0},
		{"offset not a number", "000000000004-stdout-x-1700000000123", false, 0, 0},
		{"too many parts", "000000000004-stdout-1-2-3", false, 0, 0},
		{"too few parts", "000000000004-stdout", false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, off, ok := parseLogKey(tt.key)
			if ok != tt.ok || (ok && (ch.Seq != tt.seq || off != tt.off)) {
				t.Errorf("parseLogKey(%q) = %+v, %d, %v; want ok %v, seq %d, offset %d", tt.key, ch, off, ok, tt.ok, tt.seq, tt.off)
			}
		})
	}
}

func TestParseLogCursor(t *testing.T) {
	tests := []struct {
		name, cursor string
		want         logCursor
		bad          bool
	}{
		{name: "the start", cursor: "", want: logCursor{}},
		{name: "a bare seq, as handed out before offsets", cursor: "12", want: logCursor{seq: 12}},
		{name: "seq and offsets", cursor: "12.300.4", want: logCursor{seq: 12, sent: [2]int64{300, 4}}},
		{name: "two parts", cursor: "12.300", bad: true},
		{name: "four parts", cursor: "1.2.3.4", bad: true},
		{name: "negative", cursor: "-1", bad: true},
		{name: "signed", cursor: "+1", bad: true},
		{name: "negative offset", cursor: "1.-2.3", bad: true},
		{name: "empty part", cursor: "1..3", bad: true},
		{name: "not a number", cursor: "abc", bad: true},
		{name: "too long", cursor: "1234567890123456789", bad: true},
		{name: "spaces", cursor: " 1", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLogCursor(tt.cursor)
			if tt.bad {
				wantCode(t, err, sandstep.EINVALID)
				if f := sandstep.ErrorField(err); f != "cursor" {
					t.Errorf("error names %q, want cursor", f)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseLogCursor(%q) = %+v, %v; want %+v", tt.cursor, got, err, tt.want)
			}
			if tt.cursor != "" && strings.Contains(tt.cursor, ".") && got.String() != tt.cursor {
				t.Errorf("String() = %q, want %q", got.String(), tt.cursor)
			}
		})
	}
}

// The API answers a bad cursor as a bad request naming it, before it
// reads anything.
func TestReadTaskLogsRefusesABadCursor(t *testing.T) {
	h := newTaskHarness(t, nil)
	for _, c := range []string{"x", "1.2", "1.2.3.4", "-5", "1.2.-3"} {
		_, err := h.svc.ReadTaskLogs(context.Background(), alice(), h.task.ID, c)
		wantCode(t, err, sandstep.EINVALID)
		if f := sandstep.ErrorField(err); f != "cursor" {
			t.Errorf("cursor %q: error names %q, want cursor", c, f)
		}
	}
	if n := h.provider.execCount(); n != 0 {
		t.Errorf("%d execs for bad cursors, want none", n)
	}
}

// Stored chunks are read after the cursor's seq, trimmed by the bytes the
// cursor says were given; chunks without an offset (stored before offsets
// were kept, the cut marker) are given whole.
func TestReadTaskLogsTrimsStoredChunksByTheCursor(t *testing.T) {
	h := newTaskHarness(t, nil)
	ctx := context.Background()
	at := h.clock.Now()
	put := func(seq int64, stream string, offset int64, data string) {
		if err := h.objects.Put(ctx, logKey(h.task.ID, seq, stream, offset, at), []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	put(1, "stdout", -1, "old\n")   // stored before offsets were kept
	put(2, "stdout", 4, "hello\n")  // stdout [4, 10)
	put(3, "stderr", 0, "warn\n")   // stderr [0, 5)
	put(4, "stdout", 10, "world\n") // stdout [10, 16)
	put(5, "stdout", -1, "[cut]\n") // the cut marker
	if _, err := h.store.TransitionTask(ctx, h.task.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskSucceeded,
		func(r *sandstep.Task) { r.LogSeq, r.LogBytes = 5, [2]int64{22, 5} }); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cursor   string
		stdout, stderr string
		next           string
	}{
		{"from the start", "", "old\nhello\nworld\n[cut]\n", "warn\n", "5.16.5"},
		{"an old numeric cursor", "2", "world\n[cut]\n", "warn\n", "5.16.5"},
		{"some of a chunk given fresh", "1.7.2", "lo\nworld\n[cut]\n", "rn\n", "5.16.5"},
		{"more than the stored chunks given fresh", "1.30.9", "[cut]\n", "", "5.30.9"},
		{"at the end", "5.16.5", "", "", "5.16.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := h.read(t, tt.cursor)
			got := map[string]string{}
			for _, ch := range page.Chunks {
				got[ch.Stream] += ch.Data
				if ch.Data == "" {
					t.Errorf("an empty chunk: %+v", ch)
				}
			}
			next := tt.next + "." + cursorTag(h.task.ID) // the task's tag
			if got["stdout"] != tt.stdout || got["stderr"] != tt.stderr || page.NextCursor != next || !page.Complete {
				t.Errorf("read after %q = stdout %q, stderr %q, next %q, complete %v; want %q, %q, %q, true",
					tt.cursor, got["stdout"], got["stderr"], page.NextCursor, page.Complete, tt.stdout, tt.stderr, next)
			}
		})
	}
}

// A reader paging through the output is given every recorded byte once,
// and told complete only then, where a seq holds a losing writer's chunk
// beside the recorded one: its cursor passes a seq only once all of the
// seq's chunks are given.
func TestPagingGivesEachSeqWhole(t *testing.T) {
	big := strings.Repeat("x", 3000)
	// n seqs of a chunk each, then a seq of two: a listing of n+1 keys
	// ends inside it.
	listed := func(n int64) []keptChunk {
		var chunks []keptChunk
		for i := range n {
			chunks = append(chunks, keptChunk{i + 1, "stdout", i, 1, "a"})
		}
		return append(chunks,
			keptChunk{n + 1, "stderr", 0, 2, "e\n"}, // lost, stored again next
			keptChunk{n + 1, "stdout", n, 2, "W\n"},
			keptChunk{n + 2, "stderr", 0, 3, "e\n"},
		)
	}
	var oneSeq []keptChunk // more keys at one seq than a listing holds
	for i := range int64(2 * maxLogPage) {
		oneSeq = append(oneSeq, keptChunk{1, "stdout", 0, i, big[:i]}) // lost, shorter reads
	}
	oneSeq = append(oneSeq, keptChunk{1, "stdout", 0, 2 * maxLogPage, big}, keptChunk{2, "stderr", -1, 2*maxLogPage + 1, "[cut]\n"})
	tests := []struct {
		name           string
		maxResponse    int
		chunks         []keptChunk
		seq            int64
		bytes          [2]int64
		stdout, stderr string
	}{
		{
			name: "the page fills inside the recorded chunk, the other stream's lost beside it", maxResponse: 1000,
			chunks: []keptChunk{
				{1, "stderr", 0, 1, "e\n"}, // lost, stored again as 2
				{1, "stdout", 0, 1, big},
				{2, "stderr", 0, 2, "e\n"},
			},
			seq: 2, bytes: [2]int64{3000, 2}, stdout: big, stderr: "e\n",
		},
		{
			name: "the page fills inside the recorded chunk, a shorter read of its range lost beside it", maxResponse: 1000,
			chunks: []keptChunk{
				{1, "stdout", 0, 1, "ab"}, // read before the winner's
				{1, "stdout", 0, 2, "ab" + big},
			},
			seq: 1, bytes: [2]int64{3002, 0}, stdout: "ab" + big,
		},
		{
			name: "a listing of maxLogPage keys ends inside a seq", maxResponse: 5 << 20,
			chunks: listed(maxLogPage - 1), seq: maxLogPage + 1, bytes: [2]int64{maxLogPage + 1, 2},
			stdout: strings.Repeat("a", maxLogPage-1) + "W\n", stderr: "e\n",
		},
		{
			name: "a listing of maxLogPage+1 keys ends inside a seq", maxResponse: 5 << 20,
			chunks: listed(maxLogPage), seq: maxLogPage + 2, bytes: [2]int64{maxLogPage + 2, 2},
			stdout: strings.Repeat("a", maxLogPage) + "W\n", stderr: "e\n",
		},
		{
			name: "a seq of more keys than a listing", maxResponse: 1000,
			chunks: oneSeq, seq: 2, bytes: [2]int64{3000, 0}, stdout: big, stderr: "[cut]\n",
		},
		{
			name: "a chunk without an offset in a seq over pages comes once", maxResponse: 1000,
			chunks: []keptChunk{
				{1, "stderr", -1, 1, "[cut]\n"},
				{1, "stdout", 0, 1, big}, // lost beside the marker, read on from the record
			},
			seq: 1, bytes: [2]int64{3000, 0}, stdout: big, stderr: "[cut]\n",
		},
		{
			name: "a chunk without an offset that does not fit waits for the next page", maxResponse: 1000,
			chunks: []keptChunk{
				{1, "stdout", 0, 1, big[:600]},
				{2, "stdout", -1, 2, "[cut]" + big[:300]},
			},
			seq: 2, bytes: [2]int64{600, 0}, stdout: big[:600] + "[cut]" + big[:300],
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, func(o *Options) { o.MaxResponseBytes = tt.maxResponse })
			h.keep(t, tt.chunks, sandstep.TaskSucceeded, func(r *sandstep.Task) { r.LogSeq, r.LogBytes = tt.seq, tt.bytes })
			r := newReader()
			pages, complete := 0, false
			for ; pages < 100 && !complete; pages++ {
				page := r.next(t, h)
				complete = page.Complete
				// Over HTTP the page is API Gateway's body, escaped again;
				// only a chunk without an offset, alone, may not fit.
				body, err := EncodeJSON(page)
				if err != nil {
					t.Fatal(err)
				}
				wire, err := EncodeJSON(string(body))
				if err != nil {
					t.Fatal(err)
				}
				if len(wire) > tt.maxResponse && len(page.Chunks) > 1 {
					t.Fatalf("a page of %d chunks takes %d bytes, want at most %d", len(page.Chunks), len(wire), tt.maxResponse)
				}
			}
			if !complete {
				t.Fatalf("never told complete in %d pages (cursor %s)", pages, r.cursor)
			}
			if r.got["stdout"] != tt.stdout || r.got["stderr"] != tt.stderr {
				t.Errorf("after %d pages (cursor %s): stdout %d bytes, stderr %q; want %d bytes, %q",
					pages, r.cursor, len(r.got["stdout"]), r.got["stderr"], len(tt.stdout), tt.stderr)
			}
		})
	}
}

// A page fits one response however much output there is: a stored chunk
// is split across pages where the cursor can say where a part ends, and
// fresh output is cut to the room left. Reading on gives it all, once.
func TestLogPagesFitAResponse(t *testing.T) {
	const maxResponse = 1000
	tests := []struct {
		name   string
		stored string // stored by the watch
		fresh  string // printed after it
	}{
		{"a stored chunk larger than a page", strings.Repeat("x", 3000), ""},
		{"fresh output larger than a page", "", strings.Repeat("y", 3000)},
		{"escaping: each byte takes seven over HTTP", strings.Repeat("\x01", 700), strings.Repeat("\x02", 700)},
		{"escaping: a quote takes four over HTTP", strings.Repeat(`"`, 700), strings.Repeat(`\`, 700)},
		{"characters are not split", strings.Repeat("€", 600), strings.Repeat("é", 600)},
		{"bytes that are not UTF-8 are paged too", strings.Repeat("\x80", 3000), strings.Repeat("\xbf", 3000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, func(o *Options) { o.MaxResponseBytes = maxResponse })
			h.print(t, "stdout", tt.stored)
			h.watch(t)
			h.print(t, "stdout", tt.fresh)
			r := newReader()
			for range 200 {
				page := r.next(t, h)
				// Over HTTP the page is API Gateway's body, escaped again.
				body, _ := EncodeJSON(page)
				if wire, _ := EncodeJSON(string(body)); len(wire) > maxResponse {
					t.Fatalf("a page of %d bytes in its answer, want at most %d", len(wire), maxResponse)
				}
				for _, ch := range page.Chunks {
					if utf8.ValidString(tt.stored+tt.fresh) && !utf8.ValidString(ch.Data) {
						t.Fatalf("a chunk splits a character: %q", ch.Data)
					}
				}
				if len(page.Chunks) == 0 {
					break
				}
			}
			if want := tt.stored + tt.fresh; r.got["stdout"] != want {
				t.Errorf("given %d bytes, want the %d printed, once", len(r.got["stdout"]), len(want))
			}
		})
	}
}

// A read of the output that runs out of its time fails the check as
// transient (the state machine tries the step again), not the task:
// the first read (both streams) or a later one (a stream read on alone).
func TestCheckWithASlowReadIsTransient(t *testing.T) {
	for _, slow := range []int{1, 2} {
		t.Run(fmt.Sprintf("read %d", slow), func(t *testing.T) {
			h := newTaskHarness(t, func(o *Options) { o.MaxOutputBytes = 64 })
			h.print(t, "stdout", strings.Repeat("o", 100)) // past the first read
			h.provider.after = func(n int, _ *ExecResult) error {
				if n == slow {
					return sandstep.Errorf(sandstep.ETIMEOUT, "the command did not finish within 30s")
				}
				return nil
			}
			_, err := h.svc.CheckTask(context.Background(), TaskStep{TaskID: h.task.ID, UserID: h.task.Owner})
			if got := sandstep.ErrorCode(err); got != sandstep.ETRANSIENT {
				t.Fatalf("check = %v (%s), want %s", err, got, sandstep.ETRANSIENT)
			}
			if tk, err := h.store.GetTask(context.Background(), h.task.ID); err != nil || tk.Status != sandstep.TaskRunning {
				t.Errorf("task %+v, %v; want it still running", tk, err)
			}
		})
	}
}

// Each read's answer fits one exec's output; a read of both streams is
// judged by its stdout, which Daytona's client may call truncated when
// only its combined output (with stream markers) went past the bound.
func TestStoreOutputReadsFitAndAreJudgedByStdout(t *testing.T) {
	const outBytes = 1 << 10
	tests := []struct {
		name    string
		after   func(n int, res *ExecResult) error
		wantErr sandstep.Code
	}{
		{name: "every answer within the bound", after: func(_ int, res *ExecResult) error {
			if len(res.Stdout) > outBytes {
				return fmt.Errorf("a read's stdout is %d bytes, over the %d of one exec", len(res.Stdout), outBytes)
			}
			return nil
		}},
		{name: "flagged truncated, stdout whole", after: func(_ int, res *ExecResult) error {
			res.Truncated = true
			return nil
		}},
		{name: "stdout cut in the second line", wantErr: sandstep.EINTERNAL, after: func(n int, res *ExecResult) error {
			if n == 1 {
				res.Stdout, res.Truncated = res.Stdout[:len(res.Stdout)-10], true
			}
			return nil
		}},
		{name: "stdout cut after the first line", wantErr: sandstep.EINTERNAL, after: func(n int, res *ExecResult) error {
			if n == 1 {
				res.Stdout, res.Truncated = res.Stdout[:strings.Index(res.Stdout, "\n")+1], true
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, func(o *Options) { o.MaxOutputBytes = outBytes })
			out, errOut := strings.Repeat("o", 3000), strings.Repeat("e", 2000) // both past the first read
			h.print(t, "stdout", out)
			h.print(t, "stderr", errOut)
			h.provider.after = tt.after
			tk := h.record(t)
			_, err := h.svc.storeOutput(context.Background(), tk, h.daytona, false)
			if got := sandstep.ErrorCode(err); got != tt.wantErr {
				t.Fatalf("storeOutput = %v (%s), want %q", err, got, tt.wantErr)
			}
			want := [2]int64{int64(len(out)), int64(len(errOut))}
			if tt.wantErr != "" {
				want = [2]int64{}
			}
			if got := h.record(t).LogBytes; got != want {
				t.Errorf("stored %v bytes, want %v", got, want)
			}
		})
	}
}

// A check stores each stream's new output whole, in order, within
// MAX_TASK_LOG_BYTES: one command reads both streams when they have little
// new, a stream with more is read on alone a chunk at a time. A chunk ends
// on a character's end, but at the log's cut and at the end of a command
// that has ended.
func TestStoreOutput(t *testing.T) {
	// With 64 output bytes, the first read takes 21 bytes of each stream,
	// a later one 45.
	const outBytes = 64
	tests := []struct {
		name           string
		maxLog         int64
		stdout, stderr string
		wantOut        string // the stored stdout, and the cut marker if any
		wantErr        string
		wantExecs      int
		ended          bool // the command has ended
	}{
		{name: "nothing new", maxLog: 1000, wantExecs: 1},
		{name: "a little on both", maxLog: 1000, stdout: "out\n", stderr: "err\n", wantOut: "out\n", wantErr: "err\n", wantExecs: 1},
		{name: "stdout past the first read", maxLog: 1000, stdout: strings.Repeat("o", 100), stderr: "err\n",
			wantOut: strings.Repeat("o", 100), wantErr: "err\n", wantExecs: 3}, // 21 beside stderr's, then 45 and 34 alone
		{name: "stderr past the first read", maxLog: 1000, stdout: "out\n", stderr: strings.Repeat("e", 50),
			wantOut: "out\n", wantErr: strings.Repeat("e", 50), wantExecs: 2},
		{name: "stdout fills the log", maxLog: 30, stdout: strings.Repeat("o", 40), stderr: "err\n",
			wantOut: strings.Repeat("o", 30) + "\n[sandstep: the output was cut at 30 bytes (MAX_TASK_LOG_BYTES)]\n", wantExecs: 2},
		{name: "the first read held to the room, filled by stdout", maxLog: 10, stdout: strings.Repeat("o", 20), stderr: "err\n",
			wantOut: strings.Repeat("o", 10) + "\n[sandstep: the output was cut at 10 bytes (MAX_TASK_LOG_BYTES)]\n", wantExecs: 1},
		{name: "a character cut by the first read is left for the next", maxLog: 1000, stdout: strings.Repeat("a", 20) + "€b",
			wantOut: strings.Repeat("a", 20) + "€b", wantExecs: 2},
		{name: "a character cut by a later read is left for the next", maxLog: 1000, stdout: strings.Repeat("a", 65) + "€b",
			wantOut: strings.Repeat("a", 65) + "€b", wantExecs: 3},
		{name: "a character still being written is left for the next check", maxLog: 1000, stdout: "ab\xe2\x82", stderr: "é\xc3",
			wantOut: "ab", wantErr: "é", wantExecs: 1},
		{name: "the same when the command has ended: stored as it is", maxLog: 1000, stdout: "ab\xe2\x82", ended: true,
			wantOut: "ab\xe2\x82", wantExecs: 1},
		{name: "a character cut by the log's limit", maxLog: 5, stdout: "abcd€",
			wantOut: "abcd\xe2\n[sandstep: the output was cut at 5 bytes (MAX_TASK_LOG_BYTES)]\n", wantExecs: 1},
		{name: "stderr cut to the room stdout left", maxLog: 10, stdout: "0123456", stderr: "abcdef",
			wantOut: "0123456", wantErr: "abc\n[sandstep: the output was cut at 10 bytes (MAX_TASK_LOG_BYTES)]\n", wantExecs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, func(o *Options) { o.MaxOutputBytes, o.MaxTaskLogBytes = outBytes, tt.maxLog })
			h.print(t, "stdout", tt.stdout)
			h.print(t, "stderr", tt.stderr)
			before := h.provider.execCount()
			h.storeOutput(t, tt.ended)
			if n := h.provider.execCount() - before; n != tt.wantExecs {
				t.Errorf("%d commands, want %d", n, tt.wantExecs)
			}
			got, keys := h.stored(t, func(k string, data []byte) {
				if !utf8.Valid(data) && utf8.ValidString(tt.wantOut+tt.wantErr) {
					t.Errorf("chunk %s is not whole characters: %q", k, data)
				}
			})
			if m, ok := endMarker(h.record(t)); ok {
				got[m.Stream] += m.Data // the cut, which the record carries
			}
			if got["stdout"] != tt.wantOut || got["stderr"] != tt.wantErr {
				t.Errorf("stored stdout %q, stderr %q; want %q, %q", got["stdout"], got["stderr"], tt.wantOut, tt.wantErr)
			}
			// A second check finds nothing more to store.
			h.storeOutput(t, tt.ended)
			if n, _ := h.objects.List(context.Background(), logPrefix(h.task.ID), "", 1000); len(n) != len(keys) {
				t.Errorf("a second check stored %d chunks more", len(n)-len(keys))
			}
		})
	}
}

// A character the command is still writing waits for the next check; once
// the command has ended, as the check that sees its exit code and the
// collect know, its output's last bytes are stored as they are.
func TestTheEndOfTheOutputIsStoredAsItIs(t *testing.T) {
	for _, step := range []string{"check", "collect"} {
		t.Run(step, func(t *testing.T) {
			h := newTaskHarness(t, nil)
			ctx := context.Background()
			task := TaskStep{TaskID: h.task.ID, UserID: h.task.Owner, SandboxID: h.task.SandboxID}
			if err := h.objects.Put(ctx, specKey(h.task.ID), []byte(`{"command":"make"}`)); err != nil {
				t.Fatal(err)
			}
			h.print(t, "stdout", "ab\xe2\x82")
			if _, err := h.svc.CheckTask(ctx, task); err != nil {
				t.Fatal(err)
			}
			if got := h.record(t).LogBytes[0]; got != 2 {
				t.Fatalf("while it runs, %d bytes stored; want 2 (the cut character waits)", got)
			}
			h.sessions.exit(0)
			var err error
			if step == "check" {
				_, err = h.svc.CheckTask(ctx, task)
			} else {
				_, err = h.svc.CollectTask(ctx, task)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := h.record(t).LogBytes[0]; got != 4 {
				t.Errorf("after the %s of an ended command, %d bytes stored; want all 4", step, got)
			}
		})
	}
}

// A task that runs out of time has its output stored whole, in one read
// after the kill, before it ends, so a reader told the output is complete
// has all of it (the collect after it finds nothing more).
func TestATimedOutTaskEndsWithItsOutputStored(t *testing.T) {
	h := newTaskHarness(t, nil)
	ctx := context.Background()
	h.print(t, "stdout", "first\n")
	h.watch(t)
	h.print(t, "stdout", "last\xe2\x82")
	past := h.clock.Now().Add(-time.Minute)
	if _, err := h.store.TransitionTask(ctx, h.task.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
		func(r *sandstep.Task) { r.Deadline = &past }); err != nil {
		t.Fatal(err)
	}
	before := h.provider.execCount()
	step, err := h.svc.CheckTask(ctx, TaskStep{TaskID: h.task.ID, UserID: h.task.Owner})
	if err != nil || !step.Ended {
		t.Fatalf("check = %+v, %v; want the watch ended", step, err)
	}
	if n := h.provider.execCount() - before; n != 1 {
		t.Errorf("the check read the output in %d commands, want one (after the kill)", n)
	}
	r := newReader()
	page := r.next(t, h)
	if tk := h.record(t); tk.Status != sandstep.TaskTimedOut || !page.Complete || r.got["stdout"] != "first\nlast\xe2\x82" {
		t.Errorf("status %s, complete %v, stdout %q; want timed out, complete, with all its output", tk.Status, page.Complete, r.got["stdout"])
	}
}

// A check at the deadline that kills the command and then fails (storing
// its output, here) is retried by the state machine; the retry finds the
// command gone with its session and still ends the task timed out.
func TestARetriedCheckAfterTheKillTimesOut(t *testing.T) {
	h := newTaskHarness(t, nil)
	h.sessions.goneOnStop = true
	ctx := context.Background()
	h.print(t, "stdout", "working\n")
	past := h.clock.Now().Add(-time.Second)
	if _, err := h.store.TransitionTask(ctx, h.task.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
		func(r *sandstep.Task) { r.Deadline = &past }); err != nil {
		t.Fatal(err)
	}
	check := TaskStep{TaskID: h.task.ID, UserID: h.task.Owner}
	h.provider.failWith(sandstep.Errorf(sandstep.ETRANSIENT, "the toolbox is busy"))
	if _, err := h.svc.CheckTask(ctx, check); sandstep.ErrorCode(err) != sandstep.ETRANSIENT || !h.sessions.wasStopped() {
		t.Fatalf("first check: %v, command killed %v; want it killed, then a transient failure", err, h.sessions.wasStopped())
	}
	h.provider.failWith(nil)
	step, err := h.svc.CheckTask(ctx, check)
	if err != nil || !step.Ended {
		t.Fatalf("retried check = %+v, %v; want the watch ended", step, err)
	}
	if tk := h.record(t); tk.Status != sandstep.TaskTimedOut || tk.LogBytes[0] != int64(len("working\n")) {
		t.Errorf("status %s, %d bytes stored; want timed out with its output", tk.Status, tk.LogBytes[0])
	}
}

// A cancelled task keeps what its command wrote since the watch's last
// check: it is stored while the task still runs (a reader meanwhile is not
// told the output is complete), then the task is cancelled and its sandbox
// deleted, the command with it.
func TestACancelledTaskKeepsItsLastOutput(t *testing.T) {
	h := newTaskHarness(t, nil)
	ctx := context.Background()
	h.print(t, "stdout", "first\n")
	h.watch(t)
	h.print(t, "stdout", "last\n")
	h.print(t, "stderr", "why\n")
	var during *TaskLogs
	h.provider.after = func(int, *ExecResult) error {
		switch {
		case h.sessions.wasStopped():
			return errors.New("the output was read after the command was killed")
		case len(h.provider.live()) == 0:
			return sandstep.Errorf(sandstep.ENOTFOUND, "the sandbox was deleted before its output was read")
		}
		if during == nil {
			during = &TaskLogs{} // the read below reads from the sandbox too
			during = h.read(t, "")
		}
		return nil
	}
	if _, err := h.svc.CancelTask(ctx, alice(), h.task.ID); err != nil {
		t.Fatal(err)
	}
	if during == nil || during.Complete {
		t.Errorf("a reader during the cancel's read: %+v, want not complete", during)
	}
	r := newReader()
	page := r.next(t, h)
	tk := h.record(t)
	if tk.Status != sandstep.TaskCancelled || !page.Complete || r.got["stdout"] != "first\nlast\n" || r.got["stderr"] != "why\n" {
		t.Errorf("status %s, complete %v, stdout %q, stderr %q; want cancelled, complete, with all its output",
			tk.Status, page.Complete, r.got["stdout"], r.got["stderr"])
	}
	if tk.LogBytes != [2]int64{11, 4} {
		t.Errorf("log bytes %v, want [11 4]", tk.LogBytes)
	}
	if len(h.provider.live()) != 0 {
		t.Errorf("sandboxes left %v; want none", h.provider.live())
	}
}

// putsRefused refuses every Put after the first left: S3 failing for a
// while.
type putsRefused struct {
	*fakeObjects
	left *atomic.Int32
}

func (o putsRefused) Put(ctx context.Context, key string, body []byte) error {
	if o.left.Add(-1) < 0 {
		return sandstep.Errorf(sandstep.ETRANSIENT, "SlowDown")
	}
	return o.fakeObjects.Put(ctx, key, body)
}

// The cut at MAX_TASK_LOG_BYTES is recorded with the chunk that reaches
// it, so no write after it can lose its marker; readers are given the
// marker once, after the output, while the task runs and once it ends.
func TestTheCutIsRecordedWithItsChunk(t *testing.T) {
	h := newTaskHarness(t, func(o *Options) { o.MaxTaskLogBytes = 10 })
	var left atomic.Int32
	left.Store(1)
	h.svc.objects = putsRefused{h.objects, &left}
	h.print(t, "stdout", "0123456789AB")
	// S3 refuses every write after the chunk's: the cut is in its record.
	if _, err := h.svc.storeOutput(context.Background(), h.record(t), h.daytona, false); err != nil {
		t.Fatalf("storeOutput: %v; the cut needs no write of its own", err)
	}
	left.Store(1 << 20)
	h.watch(t) // the next check
	marker := "\n[sandstep: the output was cut at 10 bytes (MAX_TASK_LOG_BYTES)]\n"
	r := newReader()
	if page := r.next(t, h); page.Complete || r.got["stdout"] != "0123456789"+marker {
		t.Fatalf("while it runs: stdout %q, complete %v; want the output and the marker, not complete", r.got["stdout"], page.Complete)
	}
	h.end(t)
	if page := r.next(t, h); !page.Complete || len(page.Chunks) != 0 {
		t.Errorf("once it ended: %+v; want nothing more, complete", page)
	}
	all := newReader()
	for range 4 {
		all.next(t, h)
	}
	if all.got["stdout"] != "0123456789"+marker || all.got["stderr"] != "" {
		t.Errorf("a reader from the start is given %q, %q", all.got["stdout"], all.got["stderr"])
	}
}

// A cut is final: readers were given its marker after the last chunk, so
// MAX_TASK_LOG_BYTES raised while the task runs stores nothing more, and a
// reader who followed it is given what a reader from the start is.
func TestTheCutIsFinal(t *testing.T) {
	tests := []struct {
		name     string
		from, to int64
	}{
		{name: "raised", from: 10, to: 20},
		{name: "kept", from: 10, to: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, func(o *Options) { o.MaxTaskLogBytes = tt.from })
			h.print(t, "stdout", "0123456789AB")
			h.watch(t)
			follower := newReader()
			follower.next(t, h)
			h.svc.opts.MaxTaskLogBytes = tt.to
			h.watch(t)
			h.end(t)
			for range 3 {
				follower.next(t, h)
			}
			all := newReader()
			for range 4 {
				all.next(t, h)
			}
			want := "0123456789\n[sandstep: the output was cut at 10 bytes (MAX_TASK_LOG_BYTES)]\n"
			if follower.got["stdout"] != want || all.got["stdout"] != want {
				t.Errorf("a follower was given %q, a reader from the start %q; want %q", follower.got["stdout"], all.got["stdout"], want)
			}
		})
	}
}

// Two writers storing the same output at once (a cancel beside a check, a
// check retried while its first attempt still runs) record each byte once,
// on both streams: one of them finds the record moved and stops
// (errOutputMoved, tried again later), the other stores it all.
func TestTwoWritersStoreEachByteOnce(t *testing.T) {
	h := newTaskHarness(t, func(o *Options) { o.MaxOutputBytes = 200 })
	ctx := context.Background()
	var out, errOut strings.Builder
	for i := range 60 {
		fmt.Fprintf(&out, "line %03d\n", i) // 540 bytes: several reads of each writer
		if i%2 == 0 {
			fmt.Fprintf(&errOut, "warn %03d\n", i)
		}
	}
	h.print(t, "stdout", out.String())
	h.print(t, "stderr", errOut.String())
	h.provider.gate = make(chan struct{})
	stale := h.record(t)
	var wg sync.WaitGroup
	var moved atomic.Int32
	for range 2 {
		tk := *stale
		wg.Go(func() {
			switch _, err := h.svc.storeOutput(ctx, &tk, h.daytona, false); {
			case errors.Is(err, errOutputMoved):
				moved.Add(1)
			case err != nil:
				t.Errorf("storeOutput: %v", err)
			}
		})
	}
	close(h.provider.gate)
	wg.Wait()
	if moved.Load() > 1 {
		t.Errorf("%d writers found the record moved, want at most one", moved.Load())
	}
	r := newReader()
	r.next(t, h)
	want := [2]int64{int64(out.Len()), int64(errOut.Len())}
	if tk := h.record(t); tk.LogBytes != want || r.got["stdout"] != out.String() || r.got["stderr"] != errOut.String() {
		t.Errorf("log bytes %v (want %v); stdout %d bytes, stderr %d; want all of each, once", tk.LogBytes, want, len(r.got["stdout"]), len(r.got["stderr"]))
	}
}

// A check that stores both streams while a cancel's read is out: the
// cancel's append finds the record moved, and it reads again from there
// rather than record what it read at the old offsets.
func TestACancelBesideACheckStoresEachByteOnce(t *testing.T) {
	h := newTaskHarness(t, nil)
	h.print(t, "stdout", "out\n")
	h.print(t, "stderr", "err\n")
	checked := false
	h.provider.after = func(int, *ExecResult) error {
		if !checked {
			checked = true
			h.watch(t) // its own read comes back here, checked by then
		}
		return nil
	}
	if _, err := h.svc.CancelTask(context.Background(), alice(), h.task.ID); err != nil {
		t.Fatal(err)
	}
	r := newReader()
	r.next(t, h)
	if tk := h.record(t); tk.LogBytes != [2]int64{4, 4} || r.got["stdout"] != "out\n" || r.got["stderr"] != "err\n" {
		t.Errorf("log bytes %v, stdout %q, stderr %q; want [4 4], each once", tk.LogBytes, r.got["stdout"], r.got["stderr"])
	}
}

// A cancel that reads a running task just before a check kills the
// command at its deadline changes nothing: the kill's mark refuses the
// cancel's write, however long the cancel took to store the last output,
// and the task ends timed out at the kill, its owner told so (its notice,
// the execution's end, an issue's comment), not that it was cancelled.
func TestACancelBesideADeadlineKillLeavesItTimedOut(t *testing.T) {
	ctx := context.Background()
	h := newTaskHarness(t, nil)
	start := h.clock.Now()
	deadline := start.Add(time.Minute)
	if _, err := h.store.TransitionTask(ctx, h.task.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
		func(r *sandstep.Task) { r.Deadline = &deadline; r.TimeoutSeconds = 60 }); err != nil {
		t.Fatal(err)
	}
	h.print(t, "stdout", "working\n")
	h.clock.Set(deadline.Add(time.Second)) // the deadline has passed; the check is due
	checked := make(chan error, 1)
	// The check runs beside the cancel (another instance: the state
	// machine's Check step), between the cancel's read of the task and its
	// write: it kills the command, marks the kill, and stores the output,
	// which takes its time (held here until the cancel has written).
	h.tasks.onEnd(func() {
		gate := make(chan struct{})
		h.provider.mu.Lock()
		h.provider.gate = gate
		h.provider.mu.Unlock()
		go func() {
			_, err := h.svc.CheckTask(ctx, TaskStep{TaskID: h.task.ID, UserID: "alice", SandboxID: h.task.SandboxID})
			checked <- err
		}()
		for h.record(t).KilledAt == nil {
			time.Sleep(time.Millisecond)
		}
		h.provider.mu.Lock()
		h.provider.gate = nil
		h.provider.mu.Unlock()
		time.AfterFunc(50*time.Millisecond, func() { close(gate) })
	})
	got, err := h.svc.CancelTask(ctx, alice(), h.task.ID)
	<-checked
	final := h.record(t)
	if final.KilledAt == nil {
		t.Fatal("the check did not kill the command at its deadline")
	}
	if err != nil || got.Status == sandstep.TaskCancelled {
		t.Errorf("the cancel answered %+v, %v; want the task as it is, ending timed out", got, err)
	}
	if final.Status != sandstep.TaskTimedOut {
		t.Errorf("the task ended %s (%q), the cancel answered %+v, %v; want timed_out: the check had killed it at its deadline before the cancel wrote",
			final.Status, final.Error, got, err)
	}
}

// A cancel counts the task's end once (TasksEnded, Status=cancelled),
// however often it is asked.
func TestACancelCountsTheTasksEndOnce(t *testing.T) {
	h := newTaskHarness(t, nil)
	var set metrics.Set
	ctx := metrics.NewContext(context.Background(), &set)
	for range 2 {
		if _, err := h.svc.CancelTask(ctx, alice(), h.task.ID); err != nil {
			t.Fatal(err)
		}
	}
	var emf bytes.Buffer
	if err := set.WriteTo(&emf, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(emf.String(), `"TasksEnded":1`); n != 1 || strings.Contains(emf.String(), `"TasksEnded":2`) {
		t.Errorf("TasksEnded in %s; want it once, 1", emf.String())
	}
	if !strings.Contains(emf.String(), `"Status":"cancelled"`) {
		t.Errorf("no Status=cancelled in %s", emf.String())
	}
}

// stored is the task's stored output by stream, and its chunks' keys;
// each chunk is also handed to check, when set.
func (h *taskHarness) stored(t *testing.T, check func(key string, data []byte)) (map[string]string, []string) {
	t.Helper()
	got := map[string]string{}
	keys, err := h.objects.List(context.Background(), logPrefix(h.task.ID), "", 100000)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		ch, _, ok := parseLogKey(strings.TrimPrefix(k, logPrefix(h.task.ID)))
		if !ok {
			t.Fatalf("key %q", k)
		}
		data, _ := h.objects.Get(context.Background(), k)
		got[ch.Stream] += string(data)
		if check != nil {
			check(k, data)
		}
	}
	return got, keys
}

// An ended command's output is stored whole, however much the checks left
// (the collect stores until none is left, or asks to run again; a clean-up
// after a failure stores the rest before it deletes the sandbox), and a
// check that leaves some looks again soon.
func TestEndedOutputIsAllStored(t *testing.T) {
	const perStore = 4 << 10
	stdout := strings.Repeat(strings.Repeat("x", 99)+"\n", 200) // 20,000 bytes: five stores
	stderr := "the error at the end\n"
	tests := []struct {
		name string
		// collect runs the collect's store in a step with this much time
		// (none: no deadline); 0 runs a check instead.
		collect time.Duration
		timed   bool
		rest    time.Duration // the collect's other work; a minute if 0
		wantErr sandstep.Code
		wait    int // the check's next look, at most
		// deadline puts the check past the task's deadline: it kills the
		// command, and what comes after ("collected", "cleaned up"), not
		// it, ends the task, timed out.
		deadline string
	}{
		{name: "a collect stores it all", collect: -1},
		{name: "a collect short of time asks to run again", collect: readTimeout + storeKeep - time.Second, timed: true, wantErr: sandstep.ETRANSIENT},
		{name: "a backlog stored leaves the rest of the collect to a fresh try", collect: 10 * time.Minute, rest: 20 * time.Minute, timed: true, wantErr: sandstep.ETRANSIENT},
		{name: "a check that leaves some looks again soon", wait: int(nudgedPoll / time.Second)},
		{name: "a check at the deadline that leaves some: collected", deadline: "collected"},
		{name: "a check at the deadline that leaves some: cleaned up after a failure", deadline: "cleaned up"},
		{name: "a check at the deadline whose store fails: cleaned up", deadline: "store fails"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, func(o *Options) { o.MaxOutputBytes = 2 << 10 })
			h.svc.fetchPerStore = perStore
			h.print(t, "stdout", stdout)
			h.print(t, "stderr", stderr)
			ctx := context.Background()
			if tt.timed {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.collect)
				defer cancel()
			}
			if tt.deadline != "" {
				past := h.clock.Now().Add(-time.Second)
				if _, err := h.store.TransitionTask(ctx, h.task.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
					func(r *sandstep.Task) { r.Deadline = &past }); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			if tt.collect != 0 {
				err = h.svc.storeEndedOutput(ctx, h.record(t), h.daytona, cmp.Or(tt.rest, time.Minute))
			} else if tt.deadline == "store fails" {
				h.provider.after = func(int, *ExecResult) error { return sandstep.Errorf(sandstep.ETRANSIENT, "read timed out") }
				if _, err := h.svc.CheckTask(ctx, TaskStep{TaskID: h.task.ID, UserID: h.task.Owner}); sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
					t.Fatalf("CheckTask = %v, want the store's failure", err)
				}
				h.provider.after = nil
			} else if tt.deadline != "" {
				var step *TaskStep
				if step, err = h.svc.CheckTask(ctx, TaskStep{TaskID: h.task.ID, UserID: h.task.Owner}); err == nil && !step.Ended {
					t.Errorf("the check past the deadline did not end the watch")
				}
				if got := h.record(t); got.Status != sandstep.TaskRunning || got.KilledAt == nil || h.read(t, "").Complete {
					t.Errorf("task %s, killed at %v, its output complete for readers: %v; want running, killed, not complete", got.Status, got.KilledAt, h.read(t, "").Complete)
				}
				// A cancel now changes nothing: the task is ending, timed out.
				if got, err := h.svc.CancelTask(ctx, alice(), h.task.ID); err != nil || got.Status != sandstep.TaskRunning {
					t.Errorf("cancel = %+v, %v; want the task as it is", got, err)
				}
			} else {
				var step *TaskStep
				step, err = h.svc.CheckTask(ctx, TaskStep{TaskID: h.task.ID, UserID: h.task.Owner})
				if err == nil && step.WaitSeconds > tt.wait {
					t.Errorf("next look in %d s, want at most %d", step.WaitSeconds, tt.wait)
				}
			}
			if sandstep.ErrorCode(err) != tt.wantErr {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if tt.deadline == "cleaned up" || tt.deadline == "store fails" {
				var outcome *OutcomeError
				if _, err := h.svc.CleanUpTask(ctx, h.task.ID, &TaskFailure{Error: "Sandbox.Timeout", Cause: "the collect ran out of time"}); !errors.As(err, &outcome) {
					t.Fatalf("CleanUpTask = %v, want the task's outcome", err)
				}
			} else if tt.wantErr != "" || tt.collect == 0 {
				// What is left is stored by the next collect.
				if err := h.svc.storeEndedOutput(context.Background(), h.record(t), h.daytona, time.Minute); err != nil {
					t.Fatalf("the next collect: %v", err)
				}
			}
			if tt.deadline == "collected" {
				if err := h.svc.finishTask(ctx, h.record(t), &TaskInput{}, nil); err != nil {
					t.Fatal(err)
				}
			}
			if tt.deadline != "" {
				got := h.record(t)
				if got.Status != sandstep.TaskTimedOut || !strings.Contains(got.Error, "did not finish within") || got.FinishedAt == nil || !got.FinishedAt.Equal(*got.KilledAt) {
					t.Errorf("task %s (%s) finished at %v, killed at %v; want timed out when killed", got.Status, got.Error, got.FinishedAt, got.KilledAt)
				}
				if got.KilledAt == nil || !got.KilledAt.Equal(h.clock.Now()) {
					t.Errorf("killed at %v, want at the check, %v", got.KilledAt, h.clock.Now())
				}
			}
			if got, _ := h.stored(t, nil); got["stdout"] != stdout || got["stderr"] != stderr {
				t.Errorf("stored %d bytes of stdout, stderr %q; want %d, %q", len(got["stdout"]), got["stderr"], len(stdout), stderr)
			}
		})
	}
}

// A collect keeps, after its stores, the time its own work needs.
func TestCollectRest(t *testing.T) {
	zero, one := 0, 1
	svc := &Service{repoAccess: &fakeRepoAccess{}}
	issue := &sandstep.Task{Owner: sandstep.RepoUser("octo/hello"), ExitCode: &zero,
		Metadata: sandstep.Metadata{Repo: "octo/hello", IssueID: "3", InstallationID: "7"}}
	failed := *issue
	failed.ExitCode = &one
	for _, tt := range []struct {
		name string
		t    *sandstep.Task
		spec TaskInput
		want time.Duration
	}{
		{"a plain task", &sandstep.Task{Owner: "alice", ExitCode: &zero}, TaskInput{}, time.Minute},
		{"artifacts to collect", &sandstep.Task{Owner: "alice", ExitCode: &zero}, TaskInput{Artifacts: []string{"out"}}, 6 * time.Minute},
		{"an issue's task to push", issue, TaskInput{}, 12 * time.Minute},
		{"an issue's task to push, with artifacts: the most", issue, TaskInput{Artifacts: []string{"out"}}, MaxCollectRest},
		{"an issue's task that failed pushes nothing", &failed, TaskInput{}, time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := svc.collectRest(tt.t, &tt.spec); got != tt.want {
				t.Errorf("collectRest = %v, want %v", got, tt.want)
			}
		})
	}
}

// The sandbox outlives its command's deadline by TaskCleanupMargin, set
// when the command starts. A collect that may still be at work after the
// deadline (a backlog stored over several invocations, each with its
// retry's delay) moves that life to its own end plus the margin, so the
// next attempt and the clean-up find the sandbox, and records it, so the
// reaper does not take the sandbox for one past its life; one that ends
// well before the deadline leaves it alone.
func TestACollectPastTheDeadlineKeepsTheSandbox(t *testing.T) {
	const invocation = 15 * time.Minute
	tests := []struct {
		name     string
		deadline time.Duration // from now
		keeps    bool
	}{
		{"ended well before its deadline", 2 * time.Hour, false},
		{"its invocation may outlive the deadline", 5 * time.Minute, true},
		{"collected after the deadline", -20 * time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, nil)
			ctx0 := context.Background()
			zero, deadline := 0, h.clock.Now().Add(tt.deadline)
			// The life a task's sandbox is made with: its command's time
			// (here the deadline's) and the margin.
			before, err := h.store.TransitionSandbox(ctx0, h.task.SandboxID, []sandstep.State{sandstep.StateReady}, sandstep.StateReady, func(r *sandstep.Sandbox) {
				r.TTLMinutes = int((deadline.Sub(r.CreatedAt) + sandstep.TaskCleanupMargin) / time.Minute)
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.store.TransitionTask(context.Background(), h.task.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
				func(r *sandstep.Task) { r.Deadline, r.ExitCode = &deadline, &zero }); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), invocation)
			defer cancel()
			if _, err := h.svc.CollectTask(ctx, TaskStep{TaskID: h.task.ID, UserID: h.task.Owner}); err != nil {
				t.Fatal(err)
			}
			kept := h.sessions.keptFor()
			switch {
			case !tt.keeps && len(kept) > 0:
				t.Errorf("the collect set the sandbox's life to %v; want it left as the start set it", kept)
			case tt.keeps && len(kept) != 1:
				t.Fatalf("the collect set the sandbox's life %d times (%v); want once", len(kept), kept)
			case tt.keeps && (kept[0] < invocation-time.Minute+sandstep.TaskCleanupMargin || kept[0] > invocation+sandstep.TaskCleanupMargin):
				t.Errorf("the collect kept the sandbox for %v; want its invocation's time left (%v) plus %v", kept[0], invocation, sandstep.TaskCleanupMargin)
			}
			after, err := h.store.GetSandbox(ctx0, h.task.SandboxID)
			if err != nil {
				t.Fatal(err)
			}
			recorded := after.CreatedAt.Add(time.Duration(after.TTLMinutes) * time.Minute)
			switch {
			case !tt.keeps && after.TTLMinutes != before.TTLMinutes:
				t.Errorf("the record's ttlMinutes went from %d to %d; want it left", before.TTLMinutes, after.TTLMinutes)
			case tt.keeps && recorded.Before(h.clock.Now().Add(kept[0])):
				t.Errorf("the record's life ends at %v (ttlMinutes %d); want at least the life the collect gave Daytona, to %v", recorded, after.TTLMinutes, h.clock.Now().Add(kept[0]))
			}
		})
	}
}

// A task that ends before its steps stored all its output (a step failed
// for good, its sandbox vanished, a cancel's store failed) keeps what can
// still be read, and a reader told the output is complete is told, after
// it, that any more was not stored, and why; a task whose own steps stored
// its output is not.
func TestOutputNotStoredIsMarked(t *testing.T) {
	busy := sandstep.Errorf(sandstep.ETRANSIENT, "run command: Daytona is unavailable; try again")
	tests := []struct {
		name string
		set  func(*Options)
		last string // what the command writes after the check that stored "first\n"
		// end ends the task.
		end        func(t *testing.T, h *taskHarness)
		wantStdout string // all of it stored, but MAX_TASK_LOG_BYTES' marker
		wantBytes  int64  // stdout stored; len(wantStdout) if 0
		wantMarker string // the marker's reason; none if ""
	}{
		{name: "a clean-up after a failed step kills the command and stores the rest", end: func(t *testing.T, h *taskHarness) {
			h.provider.after = func(int, *ExecResult) error {
				if !h.sessions.wasStopped() {
					return errors.New("the output was read before the command was killed")
				}
				return nil
			}
			cleanUpAfterFailure(t, h)
			if n := h.sessions.stopCount(); n != 1 || len(h.provider.live()) != 0 {
				t.Errorf("command killed %d times, sandboxes left %v; want once, none", n, h.provider.live())
			}
		}, wantStdout: "first\nlast\n"},
		{name: "a character cut by the kill is stored as it is", last: "last\xe2\x82", end: cleanUpAfterFailure, wantStdout: "first\nlast\xe2\x82"},
		{name: "a clean-up whose store fails marks it", end: func(t *testing.T, h *taskHarness) {
			h.provider.failWith(busy)
			cleanUpAfterFailure(t, h)
		}, wantStdout: "first\n", wantMarker: unstoredFailed},
		{name: "a clean-up of a task killed at its deadline whose store fails: timed out, marked", end: func(t *testing.T, h *taskHarness) {
			now := h.clock.Now()
			if _, err := h.store.TransitionTask(context.Background(), h.task.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
				func(r *sandstep.Task) { r.KilledAt = &now }); err != nil {
				t.Fatal(err)
			}
			h.provider.failWith(busy)
			var outcome *OutcomeError
			if _, err := h.svc.CleanUpTaskStep(context.Background(), h.task.ID, &TaskFailure{Error: "Sandbox.Transient"}); !errors.As(err, &outcome) || outcome.Task.Status != sandstep.TaskTimedOut {
				t.Fatalf("CleanUpTaskStep = %v, want the task timed out", err)
			}
		}, wantStdout: "first\n", wantMarker: unstoredFailed},
		{name: "a clean-up of a sandbox already gone marks it", end: func(t *testing.T, h *taskHarness) {
			if _, err := h.store.TransitionSandbox(context.Background(), h.task.SandboxID, []sandstep.State{sandstep.StateReady}, sandstep.StateGone, nil); err != nil {
				t.Fatal(err)
			}
			cleanUpAfterFailure(t, h)
		}, wantStdout: "first\n", wantMarker: unstoredGone},
		// The sandbox's delete ends the command the kill could not.
		{name: "a clean-up that cannot kill the command stores what it can, marks it, and deletes the sandbox", end: func(t *testing.T, h *taskHarness) {
			h.sessions.stopErr = sandstep.Errorf(sandstep.ETRANSIENT, "Daytona is unavailable")
			var outcome *OutcomeError
			if _, err := h.svc.CleanUpTaskStep(context.Background(), h.task.ID, &TaskFailure{Error: "Sandbox.Transient"}); !errors.As(err, &outcome) || outcome.Task.Status != sandstep.TaskFailed {
				t.Fatalf("CleanUpTaskStep = %v, want the task failed", err)
			}
			if live := h.provider.live(); len(live) != 0 {
				t.Errorf("sandboxes left %v, want none", live)
			}
		}, wantStdout: "first\nlast\n", wantMarker: unstoredRunning},
		{name: "a check that finds the sandbox vanished marks it", end: func(t *testing.T, h *taskHarness) {
			h.sessions.failExit(sandstep.Errorf(sandstep.ENOTFOUND, "no such sandbox"))
			if _, err := h.svc.CheckTask(context.Background(), TaskStep{TaskID: h.task.ID, UserID: h.task.Owner}); sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
				t.Fatalf("CheckTask = %v, want not found", err)
			}
		}, wantStdout: "first\n", wantMarker: unstoredGone},
		{name: "a store out of time marks it", end: func(t *testing.T, h *taskHarness) {
			h.provider.gate = make(chan struct{})
			defer close(h.provider.gate)
			_, why := h.svc.keepLastOutput(context.Background(), h.record(t), 50*time.Millisecond, true)
			if err := h.svc.failTask(context.Background(), h.record(t), "the clean-up ran out of time", why); err != nil {
				t.Fatal(err)
			}
		}, wantStdout: "first\n", wantMarker: unstoredNoTime},
		{name: "a cancel whose store fails marks it", end: func(t *testing.T, h *taskHarness) {
			h.provider.failWith(busy)
			if _, err := h.svc.CancelTask(context.Background(), alice(), h.task.ID); err != nil {
				t.Fatal(err)
			}
		}, wantStdout: "first\n", wantMarker: unstoredFailed},
		{name: "a task ended meanwhile by its steps is not marked", end: func(t *testing.T, h *taskHarness) {
			stale := h.record(t)
			h.end(t)
			h.provider.failWith(busy)
			_, why := h.svc.keepLastOutput(context.Background(), stale, time.Second, true)
			if err := h.svc.failTask(context.Background(), stale, "a clean-up", why); err != nil || why == "" {
				t.Fatalf("failTask = %v (why %q), want nothing done", err, why)
			}
		}, wantStdout: "first\nlast\n"},
		{name: "a cancel whose store fails, ended first by the collect, is not marked", end: func(t *testing.T, h *taskHarness) {
			var read atomic.Bool
			h.provider.after = func(int, *ExecResult) error {
				if read.Swap(true) {
					return nil // the collect's reads
				}
				return busy // the cancel's
			}
			h.tasks.onEnd(func() { h.end(t) }) // just before the cancel's end
			if got, err := h.svc.CancelTask(context.Background(), alice(), h.task.ID); err != nil || got.Status != sandstep.TaskSucceeded {
				t.Fatalf("CancelTask = %+v, %v; want the task as its steps ended it", got, err)
			}
		}, wantStdout: "first\nlast\n"},
		{name: "a clean-up that cannot end the task lets go of nothing; asked again, it stores the rest", end: func(t *testing.T, h *taskHarness) {
			cleanUpAskedAgain(t, h, sandstep.Errorf(sandstep.ETRANSIENT, "the table is throttling writes"), sandstep.TaskFailed)
		}, wantStdout: "first\nlast\n"},
		{name: "a clean-up whose write of the end runs out of its time is asked again", end: func(t *testing.T, h *taskHarness) {
			cleanUpAskedAgain(t, h, fmt.Errorf("update task: %w", context.DeadlineExceeded), sandstep.TaskFailed)
		}, wantStdout: "first\nlast\n"},
		{name: "a clean-up that cannot time out a killed task lets go of nothing", end: func(t *testing.T, h *taskHarness) {
			now := h.clock.Now()
			if _, err := h.store.TransitionTask(context.Background(), h.task.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
				func(r *sandstep.Task) { r.KilledAt = &now }); err != nil {
				t.Fatal(err)
			}
			cleanUpAskedAgain(t, h, sandstep.Errorf(sandstep.ETRANSIENT, "the table is throttling writes"), sandstep.TaskTimedOut)
		}, wantStdout: "first\nlast\n"},
		{name: "output cut at MAX_TASK_LOG_BYTES is not marked again", set: func(o *Options) { o.MaxTaskLogBytes = 4 }, end: func(t *testing.T, h *taskHarness) {
			if _, err := h.store.TransitionSandbox(context.Background(), h.task.SandboxID, []sandstep.State{sandstep.StateReady}, sandstep.StateGone, nil); err != nil {
				t.Fatal(err)
			}
			cleanUpAfterFailure(t, h)
		}, wantStdout: "firs\n[sandstep: the output was cut at 4 bytes (MAX_TASK_LOG_BYTES)]\n", wantBytes: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, tt.set)
			h.print(t, "stdout", "first\n")
			h.watch(t)
			h.print(t, "stdout", cmp.Or(tt.last, "last\n"))
			tt.end(t, h)
			r := newReader()
			page := r.next(t, h)
			if r.got["stdout"] != tt.wantStdout || !page.Complete {
				t.Errorf("stdout %q, complete %v; want %q, complete", r.got["stdout"], page.Complete, tt.wantStdout)
			}
			marker := ""
			if tt.wantMarker != "" {
				marker = "\n[sandstep: any output after this point was not stored: " + tt.wantMarker + "]\n"
			}
			if got := r.got["stderr"]; got != marker {
				t.Errorf("stderr %q, want %q", got, marker)
			}
			if tk := h.record(t); tk.LogBytes != [2]int64{cmp.Or(tt.wantBytes, int64(len(tt.wantStdout))), 0} {
				t.Errorf("log bytes %v: a marker moved a stream's offset, or output was lost", tk.LogBytes)
			}
		})
	}
}

// The marker of output not stored comes once, after the last stored chunk
// (on a page of its own when the page is full), and ends the issue's
// comment's quote.
func TestTheUnstoredMarkerComesOnceAtTheEnd(t *testing.T) {
	h := newTaskHarness(t, func(o *Options) { o.MaxResponseBytes = logPageOverhead + logPageSize([]byte("first\n")) + 10 })
	ctx := context.Background()
	h.print(t, "stdout", "first\n")
	h.watch(t)
	early := newReader()
	early.next(t, h) // has it all before the end
	h.provider.failWith(sandstep.Errorf(sandstep.ETRANSIENT, "busy"))
	cleanUpAfterFailure(t, h)
	marker := "\n[sandstep: any output after this point was not stored: " + unstoredFailed + "]\n"
	for name, r := range map[string]*reader{"a reader from the start": newReader(), "a reader who had it all": early} {
		var pages []string
		for range 4 {
			page := r.next(t, h)
			var got []string
			for _, ch := range page.Chunks {
				got = append(got, ch.Stream+":"+ch.Data)
			}
			pages = append(pages, fmt.Sprintf("%q complete=%v", got, page.Complete))
		}
		want := []string{fmt.Sprintf("%q complete=true", []string{"stderr:" + marker})}
		if name == "a reader from the start" {
			want = append([]string{fmt.Sprintf("%q complete=false", []string{"stdout:first\n"})}, want...)
		}
		for len(want) < 4 {
			want = append(want, "[] complete=true")
		}
		if !slices.Equal(pages, want) {
			t.Errorf("%s: pages\n%s\nwant\n%s", name, strings.Join(pages, "\n"), strings.Join(want, "\n"))
		}
	}
	if tail, _ := h.svc.quotedTail(ctx, h.record(t)); tail != "first\n"+strings.TrimRight(marker, "\n") {
		t.Errorf("the comment quotes %q", tail)
	}
}

// The issue's comment quotes the end of the output as a reader reads it:
// a losing writer's chunk stored beside the recorded one at its seq gives
// no byte twice and hides none.
func TestTheCommentQuotesEachByteOnce(t *testing.T) {
	long := strings.Repeat("x", commentTail-3) + "\n"
	tests := []struct {
		name   string
		chunks []keptChunk
		seq    int64
		bytes  [2]int64
		want   string
	}{
		{
			name: "a losing writer's chunk of the other stream",
			chunks: []keptChunk{
				{1, "stdout", 0, 1, "a\n"},
				{2, "stderr", 0, 2, "e\n"}, // lost to stdout's chunk 2, stored again as 3
				{2, "stdout", 2, 2, "b\n"},
				{3, "stderr", 0, 3, "e\n"},
			},
			seq: 3, bytes: [2]int64{4, 2},
			want: "a\ne\nb",
		},
		{
			name: "a losing writer's shorter chunk of the same range",
			chunks: []keptChunk{
				{1, "stdout", 0, 1, "a\n"},
				{2, "stdout", 2, 2, "b\n"}, // read before the winner's
				{2, "stdout", 2, 3, "b\nc\n"},
				{3, "stdout", 6, 4, "d\n"},
			},
			seq: 3, bytes: [2]int64{8, 0},
			want: "a\nb\nc\nd",
		},
		{
			name: "a losing writer's chunk recorded again later, read where a reader reads it",
			chunks: []keptChunk{
				{1, "stdout", 0, 1, "a\n"},
				{1, "stderr", 0, 1, "lost\n"}, // stored again in 3
				{2, "stdout", 2, 2, long},
				{3, "stderr", 0, 3, "lost\n"},
			},
			seq: 3, bytes: [2]int64{2 + int64(len(long)), 5},
			want: "\na\n" + strings.Repeat("x", commentTail-3), // the end of "lost\na\n" + long
		},
		{
			name: "a chunk not yet recorded",
			chunks: []keptChunk{
				{1, "stdout", 0, 1, "a\n"},
				{2, "stdout", 2, 2, "b\n"},
			},
			seq: 1, bytes: [2]int64{2, 0},
			want: "a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, nil)
			h.keep(t, tt.chunks, sandstep.TaskRunning, func(r *sandstep.Task) { r.LogSeq, r.LogBytes = tt.seq, tt.bytes })
			if got, _ := h.svc.quotedTail(context.Background(), h.record(t)); got != tt.want {
				t.Errorf("the comment quotes %q, want %q", got, tt.want)
			}
		})
	}
}

// A reader, and the issue's comment, give only the bytes the record
// counts: a chunk kept by a writer that lost the race to record gives
// none past the record's offset of its stream (past MAX_TASK_LOG_BYTES'
// cut, or never stored), and the bytes it shares with recorded chunks
// once.
func TestReadersGiveOnlyRecordedBytes(t *testing.T) {
	const cut = "[cut]\n"
	notStored := "\n[sandstep: any output after this point was not stored: " + unstoredFailed + "]\n"
	tests := []struct {
		name           string
		chunks         []keptChunk
		seq            int64
		bytes          [2]int64
		notStored      string
		stdout, stderr string
		tail           string // the comment's quote
	}{
		{
			name: "a losing writer's chunk of the other stream, past the cut",
			chunks: []keptChunk{
				{1, "stderr", 0, 1, "ABCDE"}, // read before the winner's; lost
				{1, "stdout", 0, 1, "0123456789"},
				{2, "stdout", -1, 2, cut},
			},
			seq: 2, bytes: [2]int64{10, 0},
			stdout: "0123456789" + cut, tail: "0123456789[cut]",
		},
		{
			name: "a losing writer's longer read of the same range, never stored",
			chunks: []keptChunk{
				{1, "stdout", 0, 1, "abc"},
				{1, "stdout", 0, 2, "abcdef"}, // lost
			},
			seq: 1, bytes: [2]int64{3, 0}, notStored: unstoredFailed,
			stdout: "abc", stderr: notStored, tail: "abc" + strings.TrimRight(notStored, "\n"),
		},
		{
			name: "a losing writer's chunk recorded again later",
			chunks: []keptChunk{
				{1, "stderr", 0, 1, "xyz"}, // lost, stored again as 2
				{1, "stdout", 0, 1, "a"},
				{2, "stderr", 0, 2, "xyz"},
			},
			seq: 2, bytes: [2]int64{1, 3},
			stdout: "a", stderr: "xyz", tail: "xyza",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, nil)
			h.keep(t, tt.chunks, sandstep.TaskFailed, func(r *sandstep.Task) {
				r.LogSeq, r.LogBytes, r.OutputNotStored = tt.seq, tt.bytes, tt.notStored
			})
			r := newReader()
			if page := r.next(t, h); r.got["stdout"] != tt.stdout || r.got["stderr"] != tt.stderr || !page.Complete {
				t.Errorf("stdout %q, stderr %q, complete %v; want %q, %q, complete", r.got["stdout"], r.got["stderr"], page.Complete, tt.stdout, tt.stderr)
			}
			if tail, _ := h.svc.quotedTail(context.Background(), h.record(t)); tail != tt.tail {
				t.Errorf("the comment quotes %q, want %q", tail, tt.tail)
			}
		})
	}
}

// A clean-up keeps, after the last store, the time the release, the
// issue's comment and the notice need.
func TestLastStoreTime(t *testing.T) {
	tests := []struct {
		name     string
		patient  bool
		deadline time.Duration // none if 0
		min, max time.Duration
	}{
		{name: "the state machine's step", patient: true, min: finalStoreTime, max: finalStoreTime},
		{name: "the reaper or an ended execution's event", min: cancelStoreTime, max: cancelStoreTime},
		{name: "a step short of time", patient: true, deadline: afterLastStore + 5*time.Second, min: 4 * time.Second, max: 5 * time.Second},
		{name: "a step out of time", patient: true, deadline: afterLastStore / 2, min: -afterLastStore, max: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			if got := lastStoreTime(ctx, tt.patient); got < tt.min || got > tt.max {
				t.Errorf("lastStoreTime = %s, want %s to %s", got, tt.min, tt.max)
			}
		})
	}
}

// cleanUpAfterFailure runs the clean-up step after a step failed for good.
func cleanUpAfterFailure(t *testing.T, h *taskHarness) {
	t.Helper()
	var outcome *OutcomeError
	if _, err := h.svc.CleanUpTaskStep(context.Background(), h.task.ID, &TaskFailure{Error: "Sandbox.Transient", Cause: "the toolbox is busy"}); !errors.As(err, &outcome) || outcome.Task.Status != sandstep.TaskFailed {
		t.Fatalf("CleanUpTaskStep = %v, want the task failed", err)
	}
}

// cleanUpAskedAgain runs the clean-up step while the write of the task's
// end fails with err: it fails for the state machine to ask again, the
// sandbox kept; asked again, it ends the task with want.
func cleanUpAskedAgain(t *testing.T, h *taskHarness, err error, want sandstep.TaskStatus) {
	t.Helper()
	h.tasks.failEnds(err)
	if _, err := h.svc.CleanUpTaskStep(context.Background(), h.task.ID, &TaskFailure{Error: "Sandbox.Transient"}); sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
		t.Fatalf("CleanUpTaskStep = %v, want a transient failure, for the state machine to ask again", err)
	}
	if len(h.provider.live()) != 1 {
		t.Fatalf("sandboxes left %v: the sandbox was let go of before the task ended", h.provider.live())
	}
	h.tasks.failEnds(nil)
	var outcome *OutcomeError
	if _, err := h.svc.CleanUpTaskStep(context.Background(), h.task.ID, &TaskFailure{Error: "Sandbox.Transient"}); !errors.As(err, &outcome) || outcome.Task.Status != want {
		t.Fatalf("CleanUpTaskStep asked again = %v, want the task %s", err, want)
	}
}

// The state machine's clean-up step stores a task's last output for up to
// finalStoreTime; the reaper and an ended execution's event, which clean up
// many, for cancelStoreTime.
func TestCleanUpStoreBudget(t *testing.T) {
	tests := []struct {
		name    string
		cleanUp func(s *Service, ctx context.Context, id string, f *TaskFailure) (*sandstep.Task, error)
		budget  time.Duration
	}{
		{name: "the state machine's step", cleanUp: (*Service).CleanUpTaskStep, budget: finalStoreTime},
		{name: "the reaper or an ended execution's event", cleanUp: (*Service).CleanUpTask, budget: cancelStoreTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, nil)
			h.print(t, "stdout", "last\n")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			if _, err := tt.cleanUp(h.svc, ctx, h.task.ID, &TaskFailure{Error: "Execution.Gone"}); err == nil {
				t.Fatal("CleanUp = nil, want the task's outcome, failed")
			}
			if len(h.provider.left) == 0 {
				t.Fatal("the clean-up read nothing")
			}
			if left := h.provider.left[0]; left > tt.budget || left < tt.budget-5*time.Second {
				t.Errorf("the first read had %s left, want the store's %s", left, tt.budget)
			}
		})
	}
}

// A reaper run short of the time a task's clean-up needs to store its last
// output leaves the task to the next run; a task whose execution runs needs
// none, and is not counted as left.
func TestReapLeavesATaskToARunWithTime(t *testing.T) {
	tests := []struct {
		name         string
		left         time.Duration
		running      bool
		wantEnded    bool
		wantDeferred int
	}{
		{name: "with time", left: 5 * time.Minute, wantEnded: true},
		{name: "short of time", left: cancelStoreTime + afterLastStore - time.Second, wantDeferred: 1},
		{name: "short of time, its execution running", left: cancelStoreTime + afterLastStore - time.Second, running: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, nil)
			h.print(t, "stdout", "last\n")
			if !tt.running {
				h.svc.machine = endedMachine{}
			}
			h.advance(time.Hour) // past the create grace
			r := &reaping{s: h.svc, report: &ReapReport{}, budget: 10, now: h.clock.Now(), acted: map[string]bool{}}
			ctx, cancel := context.WithTimeout(context.Background(), tt.left)
			defer cancel()
			r.tasks(ctx, []*sandstep.Task{h.record(t)})
			ended := h.record(t).Status.Terminal()
			if ended != tt.wantEnded || r.report.Deferred != tt.wantDeferred {
				t.Errorf("task ended %v, %d deferred; want ended %v, %d deferred", ended, r.report.Deferred, tt.wantEnded, tt.wantDeferred)
			}
			if got, _ := h.stored(t, nil); tt.wantEnded && got["stdout"] != "last\n" {
				t.Errorf("stored %q, want its last output", got["stdout"])
			}
		})
	}
}

// A clean-up or cancel that finds the task ended by its own steps, which
// stored its output, warns of nothing lost.
func TestLastOutputOfATaskEndedMeanwhile(t *testing.T) {
	h := newTaskHarness(t, nil)
	h.print(t, "stdout", "all of it\n")
	stale := h.record(t)
	h.end(t)
	if _, unstored := h.svc.keepLastOutput(context.Background(), stale, time.Minute, false); unstored == "" {
		t.Fatal("keepLastOutput found nothing to store for a stale running task; the test does not reach the race")
	}
	if strings.Contains(h.logs.String(), "last output not stored") {
		t.Errorf("logged a loss for a task whose steps stored all:\n%s", h.logs.String())
	}
}

// A check stores what its invocation has time for, keeping back a read's
// time and storeKeep as the collect does: a larger backlog is left to its
// next look, soon, rather than running the status function out of time (a
// Lambda timeout fails the Check state, and with it the running task).
func TestCheckStoresWhatItsInvocationHasTimeFor(t *testing.T) {
	stdout := strings.Repeat(strings.Repeat("x", 99)+"\n", 200) // 20,000 bytes: over a dozen reads
	tests := []struct {
		name string
		left time.Duration // the invocation's time; 0: no deadline
		all  bool
	}{
		{name: "no deadline", all: true},
		{name: "time for every read", left: readTimeout + storeKeep + time.Hour, all: true},
		{name: "short of time: its first read, and a look again soon", left: readTimeout + storeKeep - time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, func(o *Options) { o.MaxOutputBytes = 2 << 10 })
			h.print(t, "stdout", stdout)
			ctx := context.Background()
			if tt.left > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.left)
				defer cancel()
			}
			step, err := h.svc.CheckTask(ctx, TaskStep{TaskID: h.task.ID, UserID: h.task.Owner})
			if err != nil {
				t.Fatalf("CheckTask: %v", err)
			}
			switch stored := h.record(t).LogBytes[0]; {
			case tt.all && stored != int64(len(stdout)):
				t.Errorf("stored %d bytes of %d", stored, len(stdout))
			case !tt.all && (stored == 0 || stored >= int64(len(stdout))):
				t.Errorf("stored %d bytes of %d, want its first read's", stored, len(stdout))
			case !tt.all && step.WaitSeconds > int(nudgedPoll/time.Second):
				t.Errorf("output left, and the next look in %d s", step.WaitSeconds)
			}
		})
	}
}
