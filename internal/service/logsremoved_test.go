package service

import (
	"context"
	"strings"
	"sync"
	"testing"
)

// removingObjects is the bucket as its lifecycle rule removes a task's
// first chunk: after a listing names it, before it is read (S3 removes
// an expired object asynchronously, at a moment of its own).
type removingObjects struct {
	*fakeObjects
	once sync.Once
	seq  int64 // the chunk removed
}

func (o *removingObjects) List(ctx context.Context, prefix, after string, limit int) ([]string, error) {
	keys, err := o.fakeObjects.List(ctx, prefix, after, limit)
	for _, key := range keys {
		if ch, _, ok := parseLogKey(key[strings.LastIndex(key, "/")+1:]); ok && ch.Seq == o.seq {
			o.once.Do(func() {
				o.mu.Lock()
				delete(o.objs, key)
				o.mu.Unlock()
			})
		}
	}
	return keys, err
}

// A reader of a task whose first chunk the lifecycle removes between the
// page's listing and its read is given the output with the marker that
// says so (giveExpired), as it is when the chunk went before the listing;
// not an error (GET /tasks/{id}/logs answering 404 Sandbox.NotFound for a
// task GET /tasks/{id} shows).
func TestLogsOfAChunkRemovedBetweenListAndRead(t *testing.T) {
	tests := []struct {
		name   string
		seq    int64  // the chunk removed
		stdout string // what is left of it
	}{
		{"its first chunk", 1, "working\ndone at 08:00\n"},
		{"its last chunk", 3, "started at 20:00\nworking\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, nil)
			for _, line := range []string{"started at 20:00\n", "working\n", "done at 08:00\n"} {
				h.print(t, "stdout", line)
				h.watch(t)
			}
			h.end(t)
			h.svc.objects = &removingObjects{fakeObjects: h.objects, seq: tt.seq}
			var got []string // the stderr chunks given
			stdout := ""
			cursor, complete := "", false
			for range 10 {
				page, err := h.svc.ReadTaskLogs(context.Background(), alice(), h.task.ID, cursor)
				if err != nil {
					t.Fatalf("ReadTaskLogs(%q): %v; want the output with the marker saying a chunk is gone", cursor, err)
				}
				for _, ch := range page.Chunks {
					if ch.Stream == "stderr" {
						got = append(got, ch.Data)
					} else {
						stdout += ch.Data
					}
				}
				if cursor, complete = page.NextCursor, page.Complete; complete {
					break
				}
			}
			if !complete || !strings.Contains(strings.Join(got, ""), "no longer kept") || stdout != tt.stdout {
				t.Errorf("complete %v, stdout given %q, stderr given %q; want it complete, stdout %q, with the marker saying output is no longer kept",
					complete, stdout, got, tt.stdout)
			}
		})
	}
}
