package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// README: complete is true once the task has ended and everything is
// stored; TaskLogs: there is nothing after NextCursor, now or later. A
// check at the deadline kills the command, stores its output and ends the
// task timed_out; the collect that follows stores again. What a process
// that outlived the kill (one in a session of its own: a database's
// server started by the agent, writing to the task's stdout) wrote
// between the two must not come after a reader was told the output is
// complete.
func TestNoOutputAfterATimedOutTaskReadComplete(t *testing.T) {
	h := newTaskHarness(t, nil)
	ctx := context.Background()
	h.print(t, "stdout", "working\n")
	past := h.clock.Now().Add(-time.Minute)
	if _, err := h.store.TransitionTask(ctx, h.task.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskRunning,
		func(r *sandstep.Task) { r.Deadline = &past }); err != nil {
		t.Fatal(err)
	}
	step := TaskStep{TaskID: h.task.ID, UserID: h.task.Owner, SandboxID: h.task.SandboxID}
	if next, err := h.svc.CheckTask(ctx, step); err != nil || !next.Ended {
		t.Fatalf("check = %+v, %v; want the watch ended", next, err)
	}
	r := newReader()
	if page := r.next(t, h); !page.Complete || r.got["stdout"] != "working\n" {
		t.Fatalf("after the deadline's check: complete %v, stdout %q; want complete with %q", page.Complete, r.got["stdout"], "working\n")
	}
	h.print(t, "stdout", "LOG: database system is shut down\n") // a process the kill missed
	if _, err := h.svc.CollectTask(ctx, step); err != nil {
		t.Fatal(err)
	}
	if page := r.next(t, h); len(page.Chunks) != 0 {
		t.Errorf("the reader told complete at cursor %q is given %d chunk(s) after it (%+v); complete said nothing more would come",
			r.cursor, len(page.Chunks), page.Chunks)
	}
}
