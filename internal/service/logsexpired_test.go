package service

import (
	"context"
	"strings"
	"testing"
)

// The bucket's lifecycle rule (template.yaml, TaskBucket) expires each
// object TASK_RETENTION_DAYS after it was written, rounded up to the next
// midnight UTC, while the task's record expires TASK_RETENTION_DAYS after
// the task ended. A task that runs across a midnight (a 12h task started
// at 20:00 UTC) loses its first chunks hours before its record: GET
// /tasks/{id} still shows it, and its logs are read without them. The
// reader must not be given the rest as if it were the whole output,
// complete, nor read an ended task's output for ever, never complete.
func TestLogsOfATaskWhoseFirstChunksExpiredAreNotGivenAsWhole(t *testing.T) {
	tests := []struct {
		name    string
		expired int64 // the seqs 1..expired are gone from the bucket
	}{
		{"its first chunk gone", 1},
		{"every chunk gone", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, nil)
			for _, line := range []string{"started at 20:00\n", "working\n", "done at 08:00\n"} {
				h.print(t, "stdout", line)
				h.watch(t)
			}
			h.end(t)
			// The lifecycle rule removes what was written before the
			// midnight the task ran across; the record stands.
			h.objects.mu.Lock()
			for key := range h.objects.objs {
				if !strings.HasPrefix(key, logPrefix(h.task.ID)) {
					continue
				}
				if ch, _, ok := parseLogKey(strings.TrimPrefix(key, logPrefix(h.task.ID))); ok && ch.Seq <= tt.expired {
					delete(h.objects.objs, key)
				}
			}
			h.objects.mu.Unlock()
			if _, err := h.svc.GetTask(context.Background(), alice(), h.task.ID); err != nil {
				t.Fatalf("GET /tasks/{id}: %v; the record stands until 30 days after the task's end", err)
			}

			r := newReader()
			var page *TaskLogs
			for range 10 {
				if page = r.next(t, h); page.Complete {
					break
				}
			}
			const whole = "started at 20:00\nworking\ndone at 08:00\n"
			told := strings.Contains(r.got["stderr"], "[sandstep:")
			switch {
			case !page.Complete:
				t.Errorf("the ended task's output never reads complete: 10 pages gave stdout %q, the last cursor %q", r.got["stdout"], r.cursor)
			case r.got["stdout"] != whole && !told:
				t.Errorf("the reader was given stdout %q and stderr %q, complete: the task wrote %q, and nothing says its first %d chunk(s) are gone",
					r.got["stdout"], r.got["stderr"], whole, tt.expired)
			}
		})
	}
}
