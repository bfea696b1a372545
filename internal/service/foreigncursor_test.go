package service

import (
	"context"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A task log cursor is a position in one task's output. Another task's
// cursor whose seq lies within this task's output (a client following
// several tasks that mixes its cursors up) must be refused naming cursor,
// not taken as a position: it skips the output before its seq and, on an
// ended task, calls what is left complete.
func TestLogCursorOfAnotherTaskWithinRange(t *testing.T) {
	// Task A has stored two chunks: its reader's cursor is at seq 2.
	a := newTaskHarness(t, nil)
	for _, line := range []string{"a1\n", "a2\n"} {
		a.print(t, "stdout", line)
		a.watch(t)
	}
	ra := newReader()
	ra.next(t, a)
	if ra.got["stdout"] != "a1\na2\n" {
		t.Fatalf("task A's reader was given %q, want %q", ra.got["stdout"], "a1\na2\n")
	}

	// Task B, ended, stored three.
	b := newTaskHarness(t, nil)
	for _, line := range []string{"b1\n", "b2\n", "b3\n"} {
		b.print(t, "stdout", line)
		b.watch(t)
	}
	b.end(t)

	page, err := b.svc.ReadTaskLogs(context.Background(), alice(), b.task.ID, ra.cursor)
	if err == nil {
		got := ""
		for _, ch := range page.Chunks {
			got += ch.Data
		}
		t.Fatalf("task A's cursor %q on task B gave %q, complete %v; want invalid_input naming cursor (B wrote %q)",
			ra.cursor, got, page.Complete, "b1\nb2\nb3\n")
	}
	wantCode(t, err, sandstep.EINVALID)
	if f := sandstep.ErrorField(err); f != "cursor" {
		t.Errorf("error names %q, want cursor", f)
	}

	// B's own reader is given all of it.
	rb := newReader()
	for range 10 {
		if rb.next(t, b).Complete {
			break
		}
	}
	if rb.got["stdout"] != "b1\nb2\nb3\n" {
		t.Errorf("task B's own reader was given %q, want %q", rb.got["stdout"], "b1\nb2\nb3\n")
	}
}
