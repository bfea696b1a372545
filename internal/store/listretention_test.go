package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// TASK_RETENTION_DAYS is a deploy parameter: changed, GetTask (and the
// bucket's lifecycle rule, which counts each object's age) go by the new
// retention at once, while a record keeps the expiresAt written with the
// old one. A list must leave out exactly the tasks GetTask answers not
// found, or GET /tasks?status=all offers tasks GET /tasks/{id} answers 404
// (retention lowered), or hides tasks it still answers (raised).
func TestListTasksAfterARetentionChange(t *testing.T) {
	for _, tc := range []struct {
		name          string
		written, read time.Duration // the retention the task ended under, and the one the reader has
		age           time.Duration // since the task ended
	}{
		{"retention lowered from 30 days to 7", 30 * 24 * time.Hour, 7 * 24 * time.Hour, 10 * 24 * time.Hour},
		{"retention raised from 7 days to 30", 7 * 24 * time.Hour, 30 * 24 * time.Hour, 10 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			_, url := storetest.Server(t)
			c := ctx(t)
			if err := store.CreateTable(context.Background(), storetest.DB(t, url), storetest.Table); err != nil {
				t.Fatal(err)
			}
			open := func(retention time.Duration) *store.Store {
				st, err := store.New(storetest.DB(t, url), storetest.Table, store.Options{Now: clk.Now, DefaultQuota: 1,
					IdempotencyTTL: time.Hour, TaskRetention: retention})
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
			before := open(tc.written)
			if err := before.PutTask(c, &sandstep.Task{ID: "t1", Owner: "alice", Status: sandstep.TaskRunning}); err != nil {
				t.Fatal(err)
			}
			ended := clk.Now()
			if _, err := before.TransitionTask(c, "t1", []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskSucceeded, func(r *sandstep.Task) {
				r.FinishedAt = &ended
			}); err != nil {
				t.Fatal(err)
			}
			clk.Advance(tc.age)
			after := open(tc.read)
			_, gerr := after.GetTask(c, "t1")
			found := gerr == nil
			if gerr != nil && sandstep.ErrorCode(gerr) != sandstep.ENOTFOUND {
				t.Fatal(gerr)
			}
			page, _, err := after.ListTasks(c, "alice", 10, "", sandstep.TaskSucceeded)
			if err != nil {
				t.Fatal(err)
			}
			listed := slices.ContainsFunc(page, func(x *sandstep.Task) bool { return x.ID == "t1" })
			if listed != found {
				t.Errorf("ListTasks lists the task: %v; GetTask finds it: %v (%v); want the same answer", listed, found, gerr)
			}
		})
	}
}
