package service

import (
	"context"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A task log cursor is where a reader is in one task's output. Handed to
// another task's logs (a client following several tasks that mixes its
// cursors up), it must be refused naming cursor, as a list's cursor of
// another list is: taken as a position, it skips that task's output
// before its seq (one within it) or all of it (one past its end), and on
// an ended task the answer says complete.
func TestLogCursorOfAnotherTaskIsRefused(t *testing.T) {
	// Task A's reader holds a cursor after two chunks, and one after four.
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
	within := ra.cursor
	for _, line := range []string{"a3\n", "a4\n"} {
		a.print(t, "stdout", line)
		a.watch(t)
	}
	a.end(t)
	for range 10 {
		if ra.next(t, a).Complete {
			break
		}
	}

	// Task B, ended, stored three.
	b := newTaskHarness(t, nil)
	for _, line := range []string{"b1\n", "b2\n", "b3\n"} {
		b.print(t, "stdout", line)
		b.watch(t)
	}
	b.end(t)

	tests := []struct {
		name, cursor string
	}{
		{"task A's cursor within B's output", within},
		{"task A's last cursor, past B's end", ra.cursor},
		{"a bare seq past B's end", "9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := b.svc.ReadTaskLogs(context.Background(), alice(), b.task.ID, tt.cursor)
			if err == nil {
				got := ""
				for _, ch := range page.Chunks {
					got += ch.Data
				}
				t.Fatalf("cursor %q on task B gave %q, complete %v, next %q; want invalid_input naming cursor (B wrote %q)",
					tt.cursor, got, page.Complete, page.NextCursor, "b1\nb2\nb3\n")
			}
			wantCode(t, err, sandstep.EINVALID)
			if f := sandstep.ErrorField(err); f != "cursor" {
				t.Errorf("error names %q, want cursor", f)
			}
		})
	}

	// B's own cursors still read: from the start, and at its end.
	rb := newReader()
	for range 10 {
		if rb.next(t, b).Complete {
			break
		}
	}
	if rb.got["stdout"] != "b1\nb2\nb3\n" {
		t.Errorf("task B's own reader was given %q, want %q", rb.got["stdout"], "b1\nb2\nb3\n")
	}
	if page := b.read(t, rb.cursor); len(page.Chunks) != 0 || !page.Complete {
		t.Errorf("task B's last cursor: %+v, want complete and empty", page)
	}
}
