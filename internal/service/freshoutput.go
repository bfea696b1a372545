package service

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The watch stores a task's output only every TASK_BACKSTOP. A reader who
// has read all that is stored of a running task is given the bytes
// written since, read from the sandbox ("fresh"); the watch stores them
// later and the reader's cursor skips them then (logCursor). A read writes
// nothing, so what bounds these reads is this process's cache: at most
// one per task per freshInterval, shared by every reader, those waiting
// for a read in flight and those after it. Lambda runs many instances,
// each with its own cache: the bound is per warm instance, not across
// them.

// freshInterval is the most often a task's sandbox is read for its
// readers: at most their lag, and the load readers put on Daytona.
const freshInterval = 5 * time.Second

const (
	// freshTimeout bounds one read of the sandbox: when Daytona is slower,
	// the reader is answered with what is stored.
	freshTimeout = 5 * time.Second
	// freshKeep is how long a task's fresh bytes stay cached after its
	// last read of the sandbox.
	freshKeep = time.Minute
	// freshCacheTasks and freshCacheBytes bound the cache; the oldest
	// tasks go first.
	freshCacheTasks = 256
	freshCacheBytes = 32 << 20
)

// freshCache is what was last read fresh of each task's streams.
type freshCache struct {
	mu    sync.Mutex
	tasks map[string]*freshEntry
}

type freshEntry struct {
	at     time.Time     // when the last read started
	readAt time.Time     // when win was read
	flight chan struct{} // closed when the read in flight ends; nil when none
	win    [2]freshWindow
}

// freshWindow is a contiguous range of a stream's file: data, from offset
// from.
type freshWindow struct {
	from int64
	data []byte
}

func (w freshWindow) end() int64 { return w.from + int64(len(w.data)) }

// after is the window's bytes from offset p on; none when p is outside.
func (w freshWindow) after(p int64) []byte {
	if p < w.from || p >= w.end() {
		return nil
	}
	return w.data[p-w.from:]
}

func newFreshCache() *freshCache { return &freshCache{tasks: map[string]*freshEntry{}} }

// windows returns the task's cached windows and when they were read,
// first reading them with fetch (given the windows it has) unless a read
// started less than freshInterval ago; a caller arriving while a read is
// in flight waits for it. Only the caller that ran fetch sees its error.
func (c *freshCache) windows(ctx context.Context, id string, now func() time.Time,
	fetch func([2]freshWindow) ([2]freshWindow, error)) ([2]freshWindow, time.Time, error) {
	c.mu.Lock()
	e := c.tasks[id]
	if e == nil {
		e = &freshEntry{}
		c.tasks[id] = e
	}
	for e.flight != nil {
		flight := e.flight
		c.mu.Unlock()
		select {
		case <-flight:
		case <-ctx.Done():
			return [2]freshWindow{}, time.Time{}, ctx.Err()
		}
		c.mu.Lock()
	}
	if !e.at.IsZero() && now().Sub(e.at) < freshInterval {
		defer c.mu.Unlock()
		return e.win, e.readAt, nil
	}
	start := now()
	e.at, e.flight = start, make(chan struct{})
	old := e.win
	c.mu.Unlock()

	win, err := fetch(old)

	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		e.win, e.readAt = win, start
	}
	close(e.flight)
	e.flight = nil
	c.evict(now())
	return e.win, e.readAt, err
}

// evict drops the tasks not read for freshKeep, then the oldest until the
// cache is within its bounds. A task with a read in flight stays.
func (c *freshCache) evict(now time.Time) {
	size := 0
	for id, e := range c.tasks {
		if e.flight == nil && now.Sub(e.at) >= freshKeep {
			delete(c.tasks, id)
			continue
		}
		size += len(e.win[0].data) + len(e.win[1].data)
	}
	if len(c.tasks) <= freshCacheTasks && size <= freshCacheBytes {
		return
	}
	ids := make([]string, 0, len(c.tasks))
	for id, e := range c.tasks {
		if e.flight == nil {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int { return c.tasks[a].at.Compare(c.tasks[b].at) })
	for _, id := range ids {
		if len(c.tasks) <= freshCacheTasks && size <= freshCacheBytes {
			return
		}
		size -= len(c.tasks[id].win[0].data) + len(c.tasks[id].win[1].data)
		delete(c.tasks, id)
	}
}

// freshOutput is the running task's output past what is stored and what
// cur says the reader has, as chunks after the stored ones (seq cur.seq,
// fresh) that take at most room in the page, recorded as given in cur. A
// failed read of the sandbox is logged and answered with nothing: the
// stored output still reads.
func (s *Service) freshOutput(ctx context.Context, t *sandstep.Task, cur *logCursor, room int) []sandstep.LogChunk {
	// Both streams together stay within MAX_TASK_LOG_BYTES for the reader,
	// stdout first as the checks keep it: budget is what it may still be
	// given fresh, and nothing is read past what the watch could keep.
	budget := s.opts.MaxTaskLogBytes - t.LogBytes[0] - t.LogBytes[1]
	var from, limit [2]int64
	for i := range streams {
		from[i] = max(t.LogBytes[i], cur.sent[i])
		limit[i] = s.opts.MaxTaskLogBytes - t.LogBytes[1-i]
		budget -= from[i] - t.LogBytes[i]
	}
	if budget <= 0 {
		return nil
	}
	win, at, err := s.fresh.windows(ctx, t.ID, s.opts.Now, func(old [2]freshWindow) ([2]freshWindow, error) {
		return s.fetchFresh(ctx, t, old, from, limit)
	})
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "task output not read fresh from its sandbox; answering what is stored", "taskId", t.ID, "err", err)
		return nil
	}
	var chunks []sandstep.LogChunk
	for i, stream := range streams {
		data := win[i].after(from[i])
		data = data[:max(0, min(int64(len(data)), budget))]
		data = fitLogPage(data[:runeEnd(data)], room)
		if len(data) == 0 {
			continue
		}
		room -= logPageSize(data)
		budget -= int64(len(data))
		chunks = append(chunks, sandstep.LogChunk{Seq: cur.seq, Stream: stream, Data: string(data), Time: at.UTC(), Fresh: true})
		cur.sent[i] = from[i] + int64(len(data))
	}
	return chunks
}

// fetchFresh reads, in one exec, what follows each stream's window old[i]
// (a new window at from[i] when old[i] does not reach it), up to a read's
// bound and limit[i], and returns the windows grown by it. A window keeps
// at most two reads' worth, and nothing that is stored.
func (s *Service) fetchFresh(ctx context.Context, t *sandstep.Task, old [2]freshWindow, from, limit [2]int64) ([2]freshWindow, error) {
	ctx, cancel := Detached(ctx, freshTimeout) // readers waiting on it share it
	defer cancel()
	bound := s.bothStreamsBound()
	win := old
	var n [2]int
	for i := range streams {
		if w := win[i]; from[i] < w.from || from[i] > w.end() {
			win[i] = freshWindow{from: from[i]}
		}
		if win[i].end()-from[i] < int64(bound) { // else the reader has a read's worth already
			n[i] = int(max(0, min(int64(bound), limit[i]-win[i].end())))
		}
	}
	if n == [2]int{} {
		return win, nil
	}
	sb, err := s.sandboxes.GetSandbox(ctx, t.SandboxID)
	if err != nil {
		return old, fmt.Errorf("get the task's sandbox: %w", err)
	}
	read, err := s.readRanges(ctx, sb.DaytonaID, [2]int64{win[0].end(), win[1].end()}, n, freshTimeout, leaveStopped)
	if err != nil {
		return old, err
	}
	for i := range streams {
		data := read[i]
		w := freshWindow{from: win[i].from, data: append(slices.Clip(win[i].data), data...)}
		if drop := max(t.LogBytes[i], w.end()-2*int64(bound)) - w.from; drop > 0 {
			w = freshWindow{from: w.from + drop, data: slices.Clone(w.data[min(drop, int64(len(w.data))):])}
		}
		win[i] = w
	}
	return win, nil
}

// runeEnd is where data's last complete UTF-8 sequence ends. A character
// cut by the end of what was read is held back for the next read: given
// in two halves, JSON would mangle both.
func runeEnd(data []byte) int {
	for i := len(data) - 1; i >= 0 && i >= len(data)-utf8.UTFMax; i-- {
		if utf8.RuneStart(data[i]) {
			if utf8.FullRune(data[i:]) {
				return len(data)
			}
			return i
		}
	}
	return len(data)
}

// bothStreamsBound is the most a read of both streams at once (a fresh
// read, a check's first) takes of each: both base64 lines fit one exec's
// output.
func (s *Service) bothStreamsBound() int {
	return max(3, (s.opts.MaxOutputBytes/2-2)/4*3)
}

// readRanges reads, in one command, up to n[i] bytes of each stream's file
// from off[i]: both at most bothStreamsBound, or one alone up to a whole
// exec's output, so that the answer fits one exec's. A read that runs out
// of its time is transient: the read ran out, not the task, and the step
// is tried again. stopped says what the read does with a sandbox Daytona
// stopped.
func (s *Service) readRanges(ctx context.Context, daytonaID string, off [2]int64, n [2]int, timeout time.Duration, stopped stoppedSandbox) ([2][]byte, error) {
	var read [2][]byte
	var lines [2]string
	for i, stream := range streams {
		lines[i] = ":" // a stream not asked for: an empty line
		if n[i] > 0 {
			lines[i] = rangeLine(stream, off[i], n[i])
		}
	}
	res, err := s.provider.Exec(ctx, daytonaID, Command{Line: lines[0] + "; echo; " + lines[1] + "; echo", Timeout: timeout, NoStart: stopped == leaveStopped})
	if sandstep.ErrorCode(err) == sandstep.ETIMEOUT {
		return read, sandstep.Wrap(err, sandstep.ETRANSIENT, "reading the task's output took over %s; try again", timeout)
	}
	if err != nil {
		return read, fmt.Errorf("read the task's output: %w", err)
	}
	// Truncated says a stream was cut, stderr included; only stdout
	// matters here, whole when it still ends with the second line's
	// newline.
	cut := res.Truncated && !strings.HasSuffix(res.Stdout, "\n")
	parts := strings.Split(strings.TrimSuffix(res.Stdout, "\n"), "\n")
	if cut || len(parts) != 2 {
		return read, sandstep.Errorf(sandstep.EINTERNAL, "the task's output came back cut or malformed")
	}
	for i := range streams {
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(parts[i]))
		if err != nil || len(data) > n[i] {
			return read, sandstep.Errorf(sandstep.EINTERNAL, "the task's %s came back unreadable", streams[i])
		}
		read[i] = data
	}
	return read, nil
}

// stoppedSandbox is what a read of a task's output does with a sandbox
// Daytona stopped.
type stoppedSandbox int

const (
	// startStopped: the task's check, which starts it as any exec does.
	startStopped stoppedSandbox = iota
	// leaveStopped: a reader's read, which writes nothing
	// (Command.NoStart).
	leaveStopped
)

// rangeLine is a shell line printing n bytes of a stream's file from
// offset off, in base64 on one line.
func rangeLine(stream string, off int64, n int) string {
	return fmt.Sprintf("tail -c +%d %s/%s 2>/dev/null | head -c %d | base64 | tr -d '\\n'", off+1, taskDir, stream, n)
}
