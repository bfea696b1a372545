package service

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Finding: a failed release after a failed commit left the slot reserved
// for ever, and the user was refused with 429 holding no sandbox.
func TestFailedReleaseAfterFailedCommitIsReaped(t *testing.T) {
	h := newFaultHarness(t, 1)
	// reserve, create, commit (fails), delete, failed, release (fails).
	h.f.arm(2, faultOutage)
	_, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{})
	if err == nil {
		t.Fatal("the create succeeded")
	}
	h.f.disarm()
	_, err = h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{})
	wantCode(t, err, sandstep.EQUOTA)
	h.reap(t)
	h.checkNothingLeaked(t)
	if _, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{}); err != nil {
		t.Errorf("after the reaper the user still cannot create: %v", err)
	}
}

// Finding: when the cleanup's Daytona delete failed, the sandbox ran on
// with no record and no slot, invisible to its owner.
func TestFailedCleanupDeleteLeavesTheSandboxOnRecord(t *testing.T) {
	h := newFaultHarness(t, 2)
	h.provider.failOn("upload", sandstep.Errorf(sandstep.ETRANSIENT, "toolbox down"))
	h.provider.failOn("delete", sandstep.Errorf(sandstep.ETRANSIENT, "daytona down"))
	_, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{
		Files: []File{{Path: "a.txt", ContentBase64: base64.StdEncoding.EncodeToString([]byte("a"))}}})
	if err == nil {
		t.Fatal("the create succeeded")
	}
	list, lerr := h.svc.ListSandboxes(context.Background(), alice(), SandboxListInput{})
	if lerr != nil || len(list.Items) != 1 || len(h.provider.live()) != 1 {
		t.Fatalf("owner sees %+v (%v) while %d sandboxes run; want the running one listed", list, lerr, len(h.provider.live()))
	}
	if got := list.Items[0]; got.State != sandstep.StateDeleting {
		t.Errorf("its record is %s, want deleting", got.State)
	}
	h.provider.failOn("upload", nil)
	h.provider.failOn("delete", nil)
	rep := h.reap(t)
	if rep.Finished != 1 {
		t.Errorf("reaper = %+v, want one delete finished", rep)
	}
	h.checkNothingLeaked(t)
	if n := len(h.provider.live()); n != 0 {
		t.Errorf("%d sandboxes run after the reaper", n)
	}
}

// Finding: agent-execute whose command and final delete both failed held
// the slot, and its 503 did not say which sandbox to clean up.
func TestAgentExecuteFailedDeleteNamesTheSandbox(t *testing.T) {
	h := newFaultHarness(t, 2)
	h.provider.failOn("exec", sandstep.Errorf(sandstep.ETRANSIENT, "toolbox down"))
	h.provider.failOn("delete", sandstep.Errorf(sandstep.ETRANSIENT, "daytona down"))
	_, err := h.svc.AgentExecute(context.Background(), alice(), AgentExecuteInput{Command: "make"})
	wantCode(t, err, sandstep.ETRANSIENT)
	id := sandstep.ErrorSandboxID(err)
	if id == "" || len(h.provider.live()) != 1 {
		t.Fatalf("error %v names sandbox %q; %d running", err, id, len(h.provider.live()))
	}
	sb, gerr := h.svc.GetSandbox(context.Background(), alice(), id)
	if gerr != nil || sb.State != sandstep.StateDeleting {
		t.Errorf("its record = %+v, %v; want deleting", sb, gerr)
	}
	h.provider.failOn("exec", nil)
	h.provider.failOn("delete", nil)
	h.reap(t)
	h.checkNothingLeaked(t)
	if n := len(h.provider.live()); n != 0 {
		t.Errorf("%d sandboxes run after the reaper", n)
	}
}

// A process killed between the reservation and the commit leaves a record
// the reaper finishes.
func TestKilledCreateIsReaped(t *testing.T) {
	h := newFaultHarness(t, 1)
	h.f.arm(2, faultKill) // at the commit
	if _, died := h.run(func() error {
		_, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{})
		return err
	}); !died {
		t.Fatal("the process did not die")
	}
	h.f.disarm()
	if rep := h.reap(t); rep.Abandoned != 1 {
		t.Errorf("reaper = %+v, want one abandoned create", rep)
	}
	h.checkNothingLeaked(t)
}

// A create killed while Daytona creates leaves no write of its own
// running: the creating record, written beside Daytona's create, has
// landed when the kill reaches the caller, and the reaper finds it.
func TestKilledCreateLeavesNoWriteRunning(t *testing.T) {
	h := newFaultHarness(t, 1)
	h.f.recordDelay = 50 * time.Millisecond
	h.f.arm(1, faultKill)
	if _, died := h.run(func() error {
		_, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{})
		return err
	}); !died {
		t.Fatal("the process did not die")
	}
	if calls := h.f.trace(); len(calls) != 2 || calls[1] != "daytona create" {
		t.Fatalf("calls %q, want the kill at Daytona's create", calls)
	}
	found, err := h.store.LiveRecords(context.Background())
	if err != nil || len(found.Sandboxes) != 1 || found.Sandboxes[0].State != sandstep.StateCreating {
		t.Fatalf("live records %+v, %v; want the creating record written", found, err)
	}
	h.f.disarm()
	if rep := h.reap(t); *rep != (ReapReport{Abandoned: 1}) {
		t.Errorf("reaper = %+v, want one abandoned create", rep)
	}
	h.checkNothingLeaked(t)
}

// faultOp is one operation of the matrix: setup runs without faults and
// returns the sandbox it made ("" for none); run is what the faults hit.
type faultOp struct {
	name  string
	setup bool
	run   func(h *faultHarness, id string) error
}

// start makes a harness and, for an op with setup, the sandbox it works
// on, without faults.
func (op faultOp) start(t *testing.T) (*faultHarness, string) {
	t.Helper()
	h := newFaultHarness(t, 3)
	if !op.setup {
		return h, ""
	}
	sb, err := h.svc.CreateSandbox(context.Background(), alice(), fullCreate)
	if err != nil {
		t.Fatal(err)
	}
	return h, sb.ID
}

var fullCreate = CreateSandboxInput{
	SecretEnv: map[string]string{"TOKEN": "ssm:/sandstep/secrets/users/alice/token"},
	Files:     []File{{Path: "a.txt", ContentBase64: base64.StdEncoding.EncodeToString([]byte("a"))}},
	Git:       &GitSource{URL: "https://github.com/sandstep/example.git"},
}

var faultOps = []faultOp{
	{name: "create", run: func(h *faultHarness, _ string) error {
		_, err := h.svc.CreateSandbox(context.Background(), alice(), fullCreate)
		return err
	}},
	{name: "exec", setup: true, run: func(h *faultHarness, id string) error {
		_, err := h.svc.Exec(context.Background(), alice(), id, ExecInput{Command: "make"})
		return err
	}},
	{name: "status", setup: true, run: func(h *faultHarness, id string) error {
		_, err := h.svc.GetSandbox(context.Background(), alice(), id)
		return err
	}},
	{name: "delete", setup: true, run: func(h *faultHarness, id string) error {
		_, err := h.svc.DeleteSandbox(context.Background(), alice(), id)
		return err
	}},
	{name: "task", run: func(h *faultHarness, _ string) error {
		ctx := context.Background()
		tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Sandbox: fullCreate, Command: "make", TimeoutSeconds: intp(600)})
		if err != nil {
			return err
		}
		next, err := h.svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: "alice"})
		if err == nil {
			_, err = h.svc.StartTaskCommand(ctx, *next)
		}
		// The state machine's Catch, or the end of the task: clean up.
		var caught *TaskFailure
		if err != nil {
			caught = &TaskFailure{Error: "Sandbox.Transient", Cause: err.Error()}
		}
		_, cerr := h.svc.CleanUpTask(ctx, tk.ID, caught)
		if _, outcome := cerr.(*OutcomeError); outcome {
			cerr = nil
		}
		return errors.Join(err, cerr)
	}},
	{name: "agent-execute", run: func(h *faultHarness, _ string) error {
		_, err := h.svc.AgentExecute(context.Background(), alice(), AgentExecuteInput{CreateSandboxInput: fullCreate, Command: "make"})
		return err
	}},
}

// Every call to Daytona or DynamoDB of each operation fails in each way —
// an error, a timeout after the work was done, an outage that hits the
// cleanup too, the process killed there — and after one reaper run
// nothing is leaked and a second run finds nothing.
func TestFaultMatrix(t *testing.T) {
	scenarios := 0
	for _, op := range faultOps {
		steps := faultSteps(t, op)
		for i, step := range steps {
			for _, mode := range []faultMode{faultError, faultTimeout, faultOutage, faultKill} {
				scenarios++
				t.Run(fmt.Sprintf("%s/%d-%s/%s", op.name, i, step, mode), func(t *testing.T) {
					h, id := op.start(t)
					h.f.arm(i, mode)
					h.run(func() error { return op.run(h, id) })
					h.f.disarm()
					h.reap(t)
					h.checkNothingLeaked(t)
				})
			}
		}
	}
	t.Logf("%d fault scenarios", scenarios)
	if scenarios < 40 {
		t.Errorf("only %d scenarios", scenarios)
	}
}

// faultSteps is the calls op makes when nothing fails.
func faultSteps(t *testing.T, op faultOp) []string {
	t.Helper()
	h, id := op.start(t)
	h.f.arm(-1, faultNone)
	if err := op.run(h, id); err != nil {
		t.Fatalf("%s without faults: %v", op.name, err)
	}
	steps := h.f.trace()
	if len(steps) == 0 {
		t.Fatalf("%s made no calls", op.name)
	}
	return steps
}

// An agent's sandbox lives no longer than its call, so a delete that
// fails leaves it to the provider's backstop soon after.
func TestAgentSandboxLivesNoLongerThanItsCall(t *testing.T) {
	h := newHarness(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := h.svc.AgentExecute(ctx, alice(), AgentExecuteInput{Command: "make"}); err != nil {
		t.Fatal(err)
	}
	if ttl := h.provider.specs[0].TTLMinutes; ttl < 5 || ttl > 7 {
		t.Errorf("ttlMinutes = %d, want the call's 5 minutes and a little", ttl)
	}
	kept := AgentExecuteInput{Command: "make", KeepSandbox: true}
	h = newHarness(t, 1)
	if _, err := h.svc.AgentExecute(ctx, alice(), kept); err != nil {
		t.Fatal(err)
	}
	if ttl := h.provider.specs[0].TTLMinutes; ttl != testLimits().DefaultTTLMinutes {
		t.Errorf("a kept sandbox's ttlMinutes = %d, want the default %d", ttl, testLimits().DefaultTTLMinutes)
	}
}

// A task whose execution ended is the reaper's to clean up; the slot that
// clean-up frees was in the reaper's scan, and is not a second finding.
func TestReapedTaskIsOneFinding(t *testing.T) {
	h := newFaultHarness(t, 3)
	ctx := context.Background()
	tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Sandbox: fullCreate, Command: "make", TimeoutSeconds: intp(600)})
	if err != nil {
		t.Fatal(err)
	}
	next, err := h.svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.StartTaskCommand(ctx, *next); err != nil {
		t.Fatal(err)
	}
	// Its execution ends without the clean-up (its status change lost).
	if rep := h.reap(t); *rep != (ReapReport{Tasks: 1}) {
		t.Errorf("reap = %+v, want the task cleaned up and nothing else", rep)
	}
	h.checkNothingLeaked(t)
}
