package store_test

import (
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// A task whose record has expired (TaskRetention after it ended) is gone
// to GetTask, though DynamoDB deletes it up to days later: a list must not
// show it either, or GET /tasks?status=all offers a task that
// GET /tasks/{id} answers 404 (and whose output and artifacts the
// bucket's lifecycle rule has deleted).
func TestListTasksLeavesOutExpiredTasks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses []sandstep.TaskStatus
	}{
		{"every status", nil},
		{"its own status", []sandstep.TaskStatus{sandstep.TaskSucceeded}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			st, _, _ := storetest.New(t, store.Options{Now: clk.Now, TaskRetention: 48 * time.Hour})
			c := ctx(t)
			for _, id := range []string{"old", "new"} {
				if err := st.PutTask(c, &sandstep.Task{ID: id, Owner: "alice", Status: sandstep.TaskRunning}); err != nil {
					t.Fatal(err)
				}
				ended := clk.Now()
				if _, err := st.TransitionTask(c, id, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskSucceeded, func(r *sandstep.Task) {
					r.FinishedAt = &ended
				}); err != nil {
					t.Fatal(err)
				}
				clk.Advance(24 * time.Hour)
			}
			clk.Advance(time.Hour) // "old" ended 49 h ago, "new" 25 h ago
			if _, err := st.GetTask(c, "old"); sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
				t.Fatalf("GetTask(old) = %v; want not found (expired)", err)
			}
			got, next, err := st.ListTasks(c, "alice", 10, "", tc.statuses...)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, task := range got {
				ids = append(ids, task.ID)
			}
			if len(ids) != 1 || ids[0] != "new" || next != "" {
				t.Errorf("ListTasks = %v (next %q); want [new]: the expired task is not found by GetTask", ids, next)
			}
		})
	}
}
