package service

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// readNoWrites reads a page and checks that reading wrote nothing: no
// object, no change to the task's record.
func readNoWrites(t *testing.T, h *taskHarness, r *reader) *TaskLogs {
	t.Helper()
	before, puts := h.record(t), h.objects.writes()
	page := r.next(t, h)
	if after := h.record(t); !reflect.DeepEqual(before, after) || h.objects.writes() != puts {
		t.Fatalf("a read wrote: record %+v -> %+v, %d -> %d objects", before, after, puts, h.objects.writes())
	}
	return page
}

// A reader is given each byte once, whether it comes fresh from the
// sandbox, from a chunk the watch stored, or partly both.
func TestFreshOutputIsGivenExactlyOnce(t *testing.T) {
	// Steps: "out:" and "err:" print; "read" reads a page; "wait" lets
	// freshInterval pass; "watch" stores the output; "cursor:" replaces
	// the reader's cursor; "want:<stdout>|<stderr>" is all it has been
	// given so far.
	tests := []struct {
		name  string
		steps []string
	}{
		{"fresh before the watch stores it", []string{
			"out:one\n", "err:uh\n", "read", "want:one\n|uh\n"}},
		{"the watch stores just what was given fresh", []string{
			"out:one\n", "read", "watch", "read", "want:one\n|",
			"out:two\n", "wait", "read", "want:one\ntwo\n|"}},
		{"the watch stores more than was given fresh", []string{
			"out:one\n", "read", "out:two\n", "watch", "read", "want:one\ntwo\n|"}},
		{"more was given fresh than the watch stored", []string{
			"out:one\n", "watch", "out:two\n", "read", "want:one\ntwo\n|",
			"out:three\n", "wait", "read", "want:one\ntwo\nthree\n|",
			"watch", "read", "want:one\ntwo\nthree\n|",
			"out:four\n", "wait", "read", "want:one\ntwo\nthree\nfour\n|"}},
		{"both streams, overlapping the stored chunks differently", []string{
			"out:a1\n", "err:b1\n", "read", "out:a2\n", "watch", "err:b2\n", "read", "want:a1\na2\n|b1\n",
			"wait", "read", "want:a1\na2\n|b1\nb2\n",
			"out:a3\n", "err:b3\n", "watch", "out:a4\n", "wait", "read", "want:a1\na2\na3\na4\n|b1\nb2\nb3\n"}},
		{"an old numeric cursor at the end", []string{
			"out:one\n", "watch", "read", "cursor:1", "out:two\n", "wait", "read", "want:one\ntwo\n|"}},
		{"a character cut by the end of a read", []string{
			"out:a\xe2\x82", "read", "want:a|", "out:\xac\n", "wait", "read", "want:a€\n|"}},
		{"a reader that starts after the watch", []string{
			"out:one\n", "err:e\n", "watch", "out:two\n", "read", "want:one\ntwo\n|e\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, nil)
			r := newReader()
			printed := map[string]string{}
			for _, step := range tt.steps {
				op, arg, _ := strings.Cut(step, ":")
				switch op {
				case "out", "err":
					stream := map[string]string{"out": "stdout", "err": "stderr"}[op]
					h.print(t, stream, arg)
					printed[stream] += arg
				case "read":
					readNoWrites(t, h, r)
				case "wait":
					h.advance(freshInterval)
				case "watch":
					h.watch(t)
				case "cursor":
					r.cursor = arg
				case "want":
					out, errs, _ := strings.Cut(arg, "|")
					if r.got["stdout"] != out || r.got["stderr"] != errs {
						t.Fatalf("after %q: given stdout %q, stderr %q; want %q, %q", step, r.got["stdout"], r.got["stderr"], out, errs)
					}
				default:
					t.Fatalf("bad step %q", step)
				}
			}
			// The command ends; reading on gives the rest, then complete.
			h.end(t)
			for range 10 {
				if r.next(t, h).Complete {
					break
				}
			}
			if r.got["stdout"] != printed["stdout"] || r.got["stderr"] != printed["stderr"] {
				t.Errorf("given stdout %q, stderr %q in all; printed %q, %q", r.got["stdout"], r.got["stderr"], printed["stdout"], printed["stderr"])
			}
			if r.fresh == 0 {
				t.Error("no fresh chunk was given")
			}
		})
	}
}

// Fresh chunks say so, carry the last stored chunk's seq, and the cursor
// says what they gave.
func TestFreshChunks(t *testing.T) {
	h := newTaskHarness(t, nil)
	h.print(t, "stdout", "one\n")
	h.watch(t)
	h.print(t, "stdout", "two\n")
	h.print(t, "stderr", "oops\n")
	page := h.read(t, "")
	want := []sandstep.LogChunk{
		{Seq: 1, Stream: "stdout", Data: "one\n"},
		{Seq: 1, Stream: "stdout", Data: "two\n", Fresh: true, Time: h.clock.Now()},
		{Seq: 1, Stream: "stderr", Data: "oops\n", Fresh: true, Time: h.clock.Now()},
	}
	page.Chunks[0].Time = time.Time{}
	if !reflect.DeepEqual(page.Chunks, want) || page.NextCursor != "1.8.5."+cursorTag(h.task.ID) || page.Complete {
		t.Errorf("page = %+v, want chunks %+v, next 1.8.5, not complete", page, want)
	}
}

// However many read at once, the sandbox is read once per freshInterval.
func TestFreshOutputIsReadOncePerIntervalHoweverManyRead(t *testing.T) {
	h := newTaskHarness(t, nil)
	h.print(t, "stdout", "line\n")
	gate := make(chan struct{})
	h.provider.mu.Lock()
	h.provider.gate = gate
	h.provider.mu.Unlock()

	const readers = 20
	var wg sync.WaitGroup
	got := make([]string, readers)
	for i := range readers {
		wg.Go(func() {
			page, err := h.svc.ReadTaskLogs(context.Background(), alice(), h.task.ID, "")
			if err != nil {
				t.Error(err)
				return
			}
			for _, ch := range page.Chunks {
				got[i] += ch.Data
			}
		})
	}
	for h.provider.execCount() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the others arrive while it is in flight
	close(gate)
	wg.Wait()
	for i, g := range got {
		if g != "line\n" {
			t.Errorf("reader %d was given %q, want the fresh line", i, g)
		}
	}
	if n := h.provider.execCount(); n != 1 {
		t.Fatalf("%d execs for %d concurrent readers, want 1", n, readers)
	}

	h.print(t, "stdout", "more\n")
	h.advance(freshInterval - time.Millisecond)
	if page := h.read(t, ""); len(page.Chunks) != 1 || page.Chunks[0].Data != "line\n" {
		t.Errorf("within the interval a new reader is given %+v, want the cached line", page.Chunks)
	}
	if n := h.provider.execCount(); n != 1 {
		t.Fatalf("%d execs within the interval, want 1", n)
	}
	h.advance(time.Millisecond)
	if page := h.read(t, "0.5.0"); len(page.Chunks) != 1 || page.Chunks[0].Data != "more\n" {
		t.Errorf("after the interval the reader is given %+v, want the new line", page.Chunks)
	}
	if n := h.provider.execCount(); n != 2 {
		t.Fatalf("%d execs after the interval, want 2", n)
	}
}

// A failed or slow read of the sandbox does not fail the read: the stored
// output is answered, and the failure logged as a warning. A failed read
// counts: the sandbox is not read again within the interval.
func TestFreshOutputFailureAnswersTheStoredOutput(t *testing.T) {
	tests := []struct {
		name  string
		fault func(t *testing.T, h *taskHarness) context.Context
	}{
		{"the sandbox is gone", func(_ *testing.T, h *taskHarness) context.Context {
			h.provider.failWith(sandstep.Errorf(sandstep.ENOTFOUND, "sandbox not found"))
			return context.Background()
		}},
		{"Daytona is slow", func(t *testing.T, h *taskHarness) context.Context {
			h.provider.mu.Lock()
			h.provider.gate = make(chan struct{}) // never opens
			h.provider.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, nil)
			h.print(t, "stdout", "stored\n")
			h.watch(t)
			h.print(t, "stdout", "fresh\n")
			execs := h.provider.execCount()
			ctx := tt.fault(t, h)
			page, err := h.svc.ReadTaskLogs(ctx, alice(), h.task.ID, "")
			if err != nil {
				t.Fatalf("the read failed: %v", err)
			}
			if len(page.Chunks) != 1 || page.Chunks[0].Data != "stored\n" || page.NextCursor != "1.7.0."+cursorTag(h.task.ID) {
				t.Errorf("page = %+v, want the stored chunk alone", page)
			}
			if !strings.Contains(h.logs.String(), "level=WARN") {
				t.Errorf("no warning logged: %s", h.logs.String())
			}
			if _, err := h.svc.ReadTaskLogs(context.Background(), alice(), h.task.ID, page.NextCursor); err != nil {
				t.Fatal(err)
			}
			if n := h.provider.execCount() - execs; n != 1 {
				t.Errorf("%d reads of the sandbox within the interval, want 1", n)
			}
		})
	}
}

// A reader who has not reached the end of the stored output is not given
// fresh output, and costs no read of the sandbox.
func TestFreshOutputOnlyAtTheEnd(t *testing.T) {
	h := newTaskHarness(t, nil)
	ctx := context.Background()
	for seq := int64(1); seq <= maxLogPage+1; seq++ {
		if err := h.objects.Put(ctx, logKey(h.task.ID, seq, "stdout", seq-1, h.clock.Now()), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.store.TransitionTask(ctx, h.task.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
		func(r *sandstep.Task) { r.LogSeq, r.LogBytes = maxLogPage+1, [2]int64{maxLogPage + 1, 0} }); err != nil {
		t.Fatal(err)
	}
	h.print(t, "stdout", strings.Repeat("x", maxLogPage+1)+"new\n")
	r := newReader()
	if page := r.next(t, h); len(page.Chunks) != maxLogPage || r.fresh != 0 || h.provider.execCount() != 0 {
		t.Fatalf("first page: %d chunks, %d fresh, %d execs; want a full page of stored chunks, nothing read", len(page.Chunks), r.fresh, h.provider.execCount())
	}
	r.next(t, h)
	if want := strings.Repeat("x", maxLogPage+1) + "new\n"; r.got["stdout"] != want || r.fresh != 1 {
		t.Errorf("given %q (%d fresh), want %q", r.got["stdout"], r.fresh, want)
	}
}

// Nothing is read fresh past MAX_TASK_LOG_BYTES, and the cut marker is
// given whole once the watch stores it.
func TestFreshOutputStopsAtTheCut(t *testing.T) {
	h := newTaskHarness(t, func(o *Options) { o.MaxTaskLogBytes = 10 })
	h.print(t, "stdout", "0123456789AB")
	r := newReader()
	r.next(t, h)
	if r.got["stdout"] != "0123456789" {
		t.Fatalf("given %q fresh, want the first 10 bytes", r.got["stdout"])
	}
	h.end(t)
	for range 10 {
		if r.next(t, h).Complete {
			break
		}
	}
	if !strings.HasPrefix(r.got["stdout"], "0123456789\n[sandstep: the output was cut at 10 bytes") {
		t.Errorf("given %q, want the first 10 bytes and the cut marker", r.got["stdout"])
	}
}

func TestRuneEnd(t *testing.T) {
	tests := []struct {
		name string
		data string
		want int
	}{
		{"empty", "", 0},
		{"ascii", "abc", 3},
		{"a whole character", "a\u20ac", 4},
		{"a character cut after 1 of 3 bytes", "a\xe2", 1},
		{"a character cut after 2 of 3 bytes", "a\xe2\x82", 1},
		{"a character cut after 3 of 4 bytes", "\xf0\x9f\x98", 0},
		{"not UTF-8: given as it is", "a\xff", 2},
		{"stray continuation bytes", "\x80\x80\x80\x80\x80", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runeEnd([]byte(tt.data)); got != tt.want {
				t.Errorf("runeEnd(%q) = %d, want %d", tt.data, got, tt.want)
			}
		})
	}
}

func TestFreshCacheIsBounded(t *testing.T) {
	c := newFreshCache()
	now := time.Unix(0, 0)
	clock := func() time.Time { return now }
	big := make([]byte, freshCacheBytes/4+1)
	fetch := func([2]freshWindow) ([2]freshWindow, error) {
		return [2]freshWindow{{data: big}}, nil
	}
	for i := range freshCacheTasks + 10 {
		now = now.Add(time.Millisecond)
		if _, _, err := c.windows(context.Background(), fmt.Sprintf("t%d", i), clock, fetch); err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, e := range c.tasks {
			size += len(e.win[0].data) + len(e.win[1].data)
		}
		if len(c.tasks) > freshCacheTasks || size > freshCacheBytes {
			t.Fatalf("after %d tasks the cache holds %d tasks, %d bytes", i+1, len(c.tasks), size)
		}
	}
	now = now.Add(freshKeep)
	if _, _, err := c.windows(context.Background(), "last", clock, func([2]freshWindow) ([2]freshWindow, error) { return [2]freshWindow{}, nil }); err != nil {
		t.Fatal(err)
	}
	if len(c.tasks) != 1 {
		t.Errorf("after freshKeep the cache holds %d tasks, want only the last", len(c.tasks))
	}
}

// MAX_TASK_LOG_BYTES bounds a task's output, both streams together: a
// reader following a running task is given no byte past it, fresh or
// stored, and a reader who follows it live is given what a reader who
// comes after the end is given.
func TestFreshOutputKeepsBothStreamsWithinTheCap(t *testing.T) {
	tests := []struct {
		name           string
		stdout, stderr string
		max            int64
	}{
		{"both streams together past the cap", "01234567", "abcdefgh", 10},
		{"one stream alone past the cap", "0123456789AB", "", 10},
		{"MAX_TASK_LOG_BYTES at its least, 1 MiB", strings.Repeat("o", 600<<10), strings.Repeat("e", 600<<10), 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, func(o *Options) { o.MaxTaskLogBytes = tt.max })
			h.print(t, "stdout", tt.stdout)
			h.print(t, "stderr", tt.stderr)
			live := newReader()
			for range 20 { // fresh, while the task runs, as often as it is read
				live.next(t, h)
				h.advance(freshInterval)
			}
			if n := int64(len(live.got["stdout"]) + len(live.got["stderr"])); n > tt.max {
				t.Errorf("a live reader was given %d bytes fresh (stdout %d, stderr %d), over MAX_TASK_LOG_BYTES %d",
					n, len(live.got["stdout"]), len(live.got["stderr"]), tt.max)
			}
			h.end(t)
			for range 10 {
				if live.next(t, h).Complete {
					break
				}
			}
			later := newReader()
			for range 10 {
				if later.next(t, h).Complete {
					break
				}
			}
			if live.got["stdout"] != later.got["stdout"] || live.got["stderr"] != later.got["stderr"] {
				t.Errorf("the live reader was given stdout %s, stderr %s; a reader after the end stdout %s, stderr %s",
					clipped(live.got["stdout"]), clipped(live.got["stderr"]), clipped(later.got["stdout"]), clipped(later.got["stderr"]))
			}
			if !strings.Contains(later.got["stdout"]+later.got["stderr"], "was cut at") {
				t.Errorf("no cut marker: stdout %q, stderr %q", later.got["stdout"], later.got["stderr"])
			}
		})
	}
}

// clipped is s for a failure message: whole when short, else its length
// and its end.
func clipped(s string) string {
	if len(s) <= 80 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%d bytes ending %q", len(s), s[len(s)-80:])
}
