package local

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A running task's output is readable while it runs, though the watch
// stores it only every TASK_BACKSTOP (10m here): a reader
// at the end of the stored output is given it fresh from the sandbox. Once
// the task ends and its output is stored, reading on with the same cursor
// gives the rest, and nothing twice.
func TestTaskOutputIsReadableWhileItRuns(t *testing.T) {
	s := startStack(t, nil)
	// Each line carries the time it was printed, in ns since the epoch;
	// the command runs on past the second line for longer than a fresh
	// read's interval, so only a fresh read can deliver it.
	tk := s.startTask("alice", map[string]any{
		"command": `echo "one $(date +%s%N)"; sleep 7; echo "two $(date +%s%N)"; sleep 8`,
	})
	s.waitRunning("alice", tk.ID)

	cursor, stdout := "", ""
	lines := 0
	deadline := time.Now().Add(time.Minute)
	for lines < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after a minute the reader has %q", stdout)
		}
		page := s.readPage("alice", tk.ID, cursor)
		read := time.Now()
		for _, c := range page.Chunks {
			if !c.Fresh {
				t.Fatalf("a stored chunk %+v while the task runs: the watch stored output before its backstop", c)
			}
			stdout += c.Data
		}
		cursor = page.NextCursor
		for ; strings.Count(stdout, "\n") > lines; lines++ {
			line := strings.Split(stdout, "\n")[lines]
			_, stamp, _ := strings.Cut(line, " ")
			printed, slack := printedAt(t, stamp)
			// Reported, not asserted (a timing on a noisy machine): that
			// the line came fresh while the command ran is what is checked.
			t.Logf("%s: read %s after it was printed (±%s)", line, read.Sub(printed).Round(time.Millisecond), slack)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The command ends, its output is stored; the same reader reads on.
	s.waitTask("alice", tk.ID, time.Minute)
	complete := false
	for range 100 {
		page := s.readPage("alice", tk.ID, cursor)
		for _, c := range page.Chunks {
			stdout += c.Data
		}
		if cursor, complete = page.NextCursor, page.Complete; complete {
			break
		}
	}
	if n := strings.Count(stdout, "\n"); !complete || n != 2 || !strings.HasPrefix(stdout, "one ") || !strings.Contains(stdout, "\ntwo ") {
		t.Errorf("after the end the reader has %q (complete %v), want each line once", stdout, complete)
	}
	fresh, _, done := s.readLogs("alice", tk.ID)
	if fresh != stdout || !done {
		t.Errorf("a reader from the start reads %q (complete %v), the follower %q", fresh, done, stdout)
	}
	s.waitNothingLeft("alice")
}

// readPage reads one page of the task's output after cursor.
func (s *testStack) readPage(user, id, cursor string) logsJSON {
	s.t.Helper()
	res := s.as(user, http.MethodGet, "/tasks/"+id+"/logs?cursor="+url.QueryEscape(cursor), nil)
	if res.status != http.StatusOK {
		s.t.Fatalf("logs: %d %s", res.status, res.body)
	}
	var page logsJSON
	res.decode(s.t, &page)
	return page
}

// printedAt reads the stamp of date +%s%N. A date without %N (BSD's
// prints a literal N) gives whole seconds: the time is then the start of
// that second, which overstates a lag by up to the slack returned.
func printedAt(t *testing.T, stamp string) (time.Time, time.Duration) {
	t.Helper()
	if sec, ok := strings.CutSuffix(stamp, "N"); ok {
		if n, err := strconv.ParseInt(sec, 10, 64); err == nil {
			return time.Unix(n, 0), time.Second
		}
	}
	ns, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil || len(stamp) < 19 {
		t.Fatalf("%q is not a time of date +%%s%%N", stamp)
	}
	return time.Unix(0, ns), 0
}
