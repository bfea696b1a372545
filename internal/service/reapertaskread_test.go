package service

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/testutil"
)

// unreadTasks is the store whose task reads fail (throttled) while fail
// is set.
type unreadTasks struct {
	*store.Store
	fail atomic.Bool
}

func (u *unreadTasks) GetTask(ctx context.Context, id string) (*sandstep.Task, error) {
	if u.fail.Load() {
		return nil, sandstep.Errorf(sandstep.ETRANSIENT, "dynamodb: throttled")
	}
	return u.Store.GetTask(ctx, id)
}

// TestReaperTaskReadLineNamesTheOwner: a ready sandbox made for a
// task, whose task the reaper cannot read, counts in the run's failed
// (the reaper-failed alarm); its ERROR line names the sandbox and the
// task, and, as the reaper's other lines about a user's sandbox do, the
// owner the sandbox's record names.
func TestReaperTaskReadLineNamesTheOwner(t *testing.T) {
	p := newFakeProvider()
	var tasks *unreadTasks
	svc, st, clk := newTaskService(t, p, func(st *store.Store, d *Deps) {
		tasks = &unreadTasks{Store: st}
		d.Tasks = tasks
	})
	logs := &testutil.Buffer{}
	svc.opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	tk, step := runningTaskIn(t, svc, TaskInput{Command: "make", TimeoutSeconds: intp(3 * 3600)})
	endAs(sandstep.TaskFailed)(t, st, tk, clk.Now())
	clk.Set(clk.Now().Add(20 * time.Minute))
	tasks.fail.Store(true)
	rep, err := svc.Reap(context.Background(), ReapOptions{})
	if err != nil || rep.Failed == 0 {
		t.Fatalf("Reap = %+v, %v; want a failed finding", rep, err)
	}
	const msg = "reaper: the task of a sandbox not read"
	var line map[string]any
	for l := range strings.SplitSeq(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no line %q in the logs:\n%s", msg, logs.String())
	}
	if line["userId"] != "alice" || line["sandboxId"] != step.SandboxID {
		t.Errorf("the reaper's line %v; want userId alice and sandboxId %s", line, step.SandboxID)
	}
}
