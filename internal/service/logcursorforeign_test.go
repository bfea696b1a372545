package service

import (
	"context"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// A task log cursor is where a reader is in one task's output. Handed to
// another task's logs (a client following several tasks that mixes its
// cursors up), it must be refused naming cursor, as a list's cursor of
// another list is: taken as a position, it skips that task's output, and
// on an ended task the answer is complete with nothing in it.
func TestLogCursorOfAnotherTaskIsRefused(t *testing.T) {
	// Task A wrote more than task B: A's last cursor lies past B's end.
	a := newTaskHarness(t, nil)
	for _, line := range []string{"a1\n", "a2\n", "a3\n", "a4\n"} {
		a.print(t, "stdout", line)
		a.watch(t)
	}
	a.end(t)
	ra := newReader()
	for range 10 {
		if ra.next(t, a).Complete {
			break
		}
	}

	b := newTaskHarness(t, nil)
	b.print(t, "stdout", "b1\n")
	b.watch(t)
	b.print(t, "stdout", "b2\n")
	b.end(t)

	tests := []struct {
		name, cursor string
	}{
		{"task A's last cursor", ra.cursor},
		{"a bare seq past B's end", "9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := b.svc.ReadTaskLogs(context.Background(), alice(), b.task.ID, tt.cursor)
			if err == nil {
				t.Fatalf("cursor %q on task B: %d chunks, complete %v, next %q; want invalid_input naming cursor (B wrote %q)",
					tt.cursor, len(page.Chunks), page.Complete, page.NextCursor, "b1\nb2\n")
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
	if rb.got["stdout"] != "b1\nb2\n" {
		t.Errorf("task B's own reader was given %q, want %q", rb.got["stdout"], "b1\nb2\n")
	}
	if page := b.read(t, rb.cursor); len(page.Chunks) != 0 || !page.Complete {
		t.Errorf("task B's last cursor: %+v, want complete and empty", page)
	}
}
