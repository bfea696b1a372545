package api

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// storeClaimRefusal is the store's refusal of a task's CreateSandbox
// attempt while another attempt's claim holds (README: the step asked
// again while its first invocation still runs answers Sandbox.Transient),
// as the service hands it on.
func storeClaimRefusal(t *testing.T) error {
	t.Helper()
	st, _, _ := storetest.New(t, store.Options{})
	ctx := context.Background()
	if err := st.PutTask(ctx, &sandstep.Task{ID: testTaskID, Owner: "user-1", Status: sandstep.TaskQueued, TimeoutSeconds: 60}); err != nil {
		t.Fatal(err)
	}
	if err := st.ClaimTaskCreate(ctx, testTaskID, "", time.Now().Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	err := st.ClaimTaskCreate(ctx, testTaskID, "", time.Now().Add(6*time.Minute))
	if sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
		t.Fatalf("a second attempt while the first's claim holds: %v, want transient", err)
	}
	return fmt.Errorf("claim the making of task %s's sandbox: %w", testTaskID, err)
}

// storeRecordedRefusal is the store's refusal of a CreateSandbox attempt
// that read the task before another attempt recorded its sandbox: the
// same overlap's end (the step asked again then finds that sandbox).
func storeRecordedRefusal(t *testing.T) error {
	t.Helper()
	st, _, _ := storetest.New(t, store.Options{})
	ctx := context.Background()
	if err := st.PutTask(ctx, &sandstep.Task{ID: testTaskID, Owner: "user-1", Status: sandstep.TaskQueued, TimeoutSeconds: 60}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TransitionTask(ctx, testTaskID, []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskQueued,
		func(r *sandstep.Task) { r.SandboxID = "sbx_1" }); err != nil {
		t.Fatal(err)
	}
	err := st.ClaimTaskCreate(ctx, testTaskID, "", time.Now().Add(5*time.Minute))
	if sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
		t.Fatalf("an attempt that read no sandbox, one recorded since: %v, want transient", err)
	}
	return fmt.Errorf("claim the making of task %s's sandbox: %w", testTaskID, err)
}

// An attempt of CreateSandbox refused by another attempt's claim is the
// design at work (the state machine retries Sandbox.Transient every few
// seconds for as long as the first invocation may run, up to 20 times):
// counted as a fault, one lost Lambda answer on a quiet deployment puts
// several faults in five minutes and raises <stack>-fault-rate-create,
// each logged at ERROR. It must still answer Sandbox.Transient so the
// state machine asks again.
func TestClaimRefusalIsNoFault(t *testing.T) {
	step := `{"action":"task-sandbox","taskId":"` + testTaskID + `","userId":"user-1"}`
	for _, tt := range []struct {
		name   string
		err    error
		sfn    string
		fault  bool
		errLog bool // logged at ERROR
	}{
		{name: "another attempt's claim holds", err: storeClaimRefusal(t), sfn: "Sandbox.Transient"},
		{name: "another attempt recorded its sandbox meanwhile", err: storeRecordedRefusal(t), sfn: "Sandbox.Transient"},
		{name: "other transient", err: sandstep.Errorf(sandstep.ETRANSIENT, "daytona unavailable"), sfn: "Sandbox.Transient", fault: true, errLog: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := &bytes.Buffer{}
			a, logs := newTestAPI(&fakeService{err: tt.err}, Options{Metrics: MetricsOptions{Namespace: "sandstep-test", Writer: out}})
			_, err := a.Handler(FunctionCreate).Invoke(context.Background(), []byte(step))
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.sfn)) {
				t.Fatalf("Invoke: %v, want %s", err, tt.sfn)
			}
			if got := emittedFaults(t, out.String()); (got > 0) != tt.fault {
				t.Errorf("Faults = %v, want a fault: %v (%v)", got, tt.fault, tt.err)
			}
			errLog := false
			for _, r := range logs.records(t) {
				if r["level"] == "ERROR" {
					errLog = true
				}
			}
			if errLog != tt.errLog {
				t.Errorf("logged at ERROR: %v, want %v\n%s", errLog, tt.errLog, logs.String())
			}
		})
	}
}
