package service

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/testutil"
)

// unknownMachine cannot say whether an execution runs (Step Functions
// throttled or unavailable).
type unknownMachine struct{ fakeMachine }

func (unknownMachine) Running(context.Context, string) (bool, time.Time, error) {
	return false, time.Time{}, sandstep.Errorf(sandstep.ETRANSIENT, "states: ThrottlingException")
}

// TestReaperFailedLinesNameTheOwner: a finding the reaper could not
// judge counts in its failed (the reaper-failed alarm), and its ERROR
// line is what the operator has; the reaper's lines name the owner as
// userId (TestReaperLinesNameTheUserAsUserID), so a search by the user
// finds these too. The owner is on the record or task at hand.
func TestReaperFailedLinesNameTheOwner(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		// setup makes the finding the reaper cannot judge.
		setup func(t *testing.T, svc *Service, st *store.Store, p *fakeProvider, clk *settableClock)
	}{
		{
			name: "a record the listing lacks, Daytona's get failing", msg: "reaper: the sandbox of a record the listing lacks not read",
			setup: func(t *testing.T, svc *Service, _ *store.Store, p *fakeProvider, _ *settableClock) {
				if _, err := svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{}); err != nil {
					t.Fatal(err)
				}
				p.mu.Lock()
				for _, sb := range p.sandboxes {
					sb.labels = nil // out of the deployment's listing
				}
				p.mu.Unlock()
				p.failOn("get", sandstep.Errorf(sandstep.ETRANSIENT, "daytona: 503"))
			},
		},
		{
			name: "a live task, its execution unknown", msg: "reaper: execution status unknown",
			setup: func(t *testing.T, svc *Service, _ *store.Store, _ *fakeProvider, clk *settableClock) {
				runningTaskIn(t, svc, TaskInput{Command: "make", TimeoutSeconds: intp(3 * 3600)})
				clk.Set(clk.Now().Add(20 * time.Minute))
				svc.machine = unknownMachine{}
			},
		},
		{
			name: "an ended task holding its sandbox, its execution unknown", msg: "reaper: execution status unknown",
			setup: func(t *testing.T, svc *Service, st *store.Store, _ *fakeProvider, clk *settableClock) {
				tk, _ := runningTaskIn(t, svc, TaskInput{Command: "make", TimeoutSeconds: intp(3 * 3600)})
				endAs(sandstep.TaskFailed)(t, st, tk, clk.Now())
				clk.Set(clk.Now().Add(20 * time.Minute))
				svc.machine = unknownMachine{}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newFakeProvider()
			svc, st, clk := newTaskService(t, p, nil)
			logs := &testutil.Buffer{}
			svc.opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
			tt.setup(t, svc, st, p, clk)
			rep, err := svc.Reap(context.Background(), ReapOptions{})
			if err != nil || rep.Failed == 0 {
				t.Fatalf("Reap = %+v, %v; want a failed finding", rep, err)
			}
			var line map[string]any
			for l := range strings.SplitSeq(logs.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == tt.msg {
					line = m
				}
			}
			if line == nil {
				t.Fatalf("no line %q in the logs:\n%s", tt.msg, logs.String())
			}
			if line["userId"] != "alice" {
				t.Errorf("the reaper's line %v; want userId alice", line)
			}
		})
	}
}
