package service

import (
	"net"
	"net/http"

	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sandstep/sandstep/internal/awsjson"
	"github.com/sandstep/sandstep/internal/stepfunctions"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// downMachine is the local stack's Step Functions API at the reaper's run
// after a restart: bound, not yet served (infra/local/stack.go starts it
// after reconcile); every call fails.
type downMachine struct {
	fakeMachine
	calls *atomic.Int32
}

func (m downMachine) Running(context.Context, string) (bool, time.Time, error) {
	m.calls.Add(1)
	return false, time.Time{}, sandstep.Errorf(sandstep.ETRANSIENT, "dial tcp 127.0.0.1:4566: connection refused")
}

// After a restart no process of the deployment can be at work (ReapOptions
// AfterRestart): an ended task's unreleased sandbox is deleted at once, as
// before, without asking the Step Functions API, which is not up yet.
func TestReaperAfterRestartDeletesAnEndedTasksSandboxWithoutStepFunctions(t *testing.T) {
	tests := []struct {
		name   string
		status sandstep.TaskStatus
	}{
		{"a failed task's", sandstep.TaskFailed},
		{"a timed-out task's", sandstep.TaskTimedOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			svc, st, clk := newTaskService(t, newFakeProvider(), nil)
			tk, step := runningTaskIn(t, svc, TaskInput{Command: "make", TimeoutSeconds: intp(3 * 3600)})
			clk.Set(clk.Now().Add(time.Hour))
			endAs(tt.status)(t, st, tk, clk.Now())
			clk.Set(clk.Now().Add(time.Minute))
			calls := &atomic.Int32{}
			svc.machine = downMachine{calls: calls}
			rep, err := svc.Reap(ctx, ReapOptions{AfterRestart: true})
			if err != nil {
				t.Fatal(err)
			}
			sb, err := st.GetSandbox(ctx, step.SandboxID)
			if err != nil {
				t.Fatal(err)
			}
			if sb.State != sandstep.StateDeleted || rep.Failed != 0 || calls.Load() != 0 {
				t.Errorf("after a restart: sandbox %s, report failed %d, Step Functions asked %d times; want it deleted, nothing failed, none asked",
					sb.State, rep.Failed, calls.Load())
			}
		})
	}
}

// The local stack's reconcile (infra/local/stack.go: reconcile before
// startStepFunctions) runs Reap AfterRestart while the Step Functions
// port is bound but not served: a DescribeExecution there is accepted by
// the kernel and never answered. The run must not wait on it.
func TestReaperAfterRestartDoesNotWaitOnAnUnservedStepFunctions(t *testing.T) {
	tests := []struct {
		name   string
		status sandstep.TaskStatus
	}{
		{"a failed task's sandbox left", sandstep.TaskFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			sfn, err := stepfunctions.New(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")},
				awsjson.Options{Endpoint: "http://" + ln.Addr().String()}, "arn:aws:states:us-east-1:123456789012:stateMachine:tasks")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			svc, st, clk := newTaskService(t, newFakeProvider(), nil)
			tk, _ := runningTaskIn(t, svc, TaskInput{Command: "make", TimeoutSeconds: intp(3 * 3600)})
			clk.Set(clk.Now().Add(time.Hour))
			endAs(tt.status)(t, st, tk, clk.Now())
			svc.machine = sfn
			// The stack's start has no deadline of its own; 5 s stands for "forever".
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			began := time.Now()
			_, err = svc.Reap(rctx, ReapOptions{AfterRestart: true})
			if took := time.Since(began); took > 2*time.Second {
				t.Errorf("Reap AfterRestart took %s (err %v): it waited on the unserved Step Functions API", took.Round(time.Millisecond), err)
			}
		})
	}
}

// After a restart no clean-up can be at work: a notice its clean-up never
// made is attempted at the reaper's run, as before, whatever the Step
// Functions API (not yet up) would say.
func TestReaperAfterRestartMakesTheFirstNoticeWithoutStepFunctions(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration
	}{
		{"a minute after the end", time.Minute},
		{"an hour after the end", time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newHook(t, http.StatusOK)
			h := newNoticeHarness(t, localSender(), nil)
			tk := h.start(t, &NotifyInput{URL: rc.URL})
			h.advance(10 * time.Minute)
			// Its clean-up never came (the stack stopped after the end).
			h.collected(t, tk.ID)
			h.advance(tt.after)
			calls := &atomic.Int32{}
			h.svc.machine = downMachine{calls: calls}
			rep, err := h.svc.Reap(context.Background(), ReapOptions{AfterRestart: true})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(rc.requests()); n != 1 || calls.Load() != 0 {
				t.Errorf("after a restart the receiver was told %d times (report %+v), Step Functions asked %d times; want told once, none asked", n, rep, calls.Load())
			}
		})
	}
}
