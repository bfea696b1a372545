package statemachine

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// diedPayloads are the function errors Lambda answers for an invocation
// whose process died, as the Invoke API gives them (X-Amz-Function-Error:
// Unhandled) and Step Functions names them (the payload's errorType).
// A Go process that runs out of memory is killed by the kernel; one whose
// goroutine panics outside the handler (the handler's own panic is
// recovered, Sandbox.Internal) exits with status 2.
var diedPayloads = map[string]string{
	"Sandbox.Timedout":    "Task timed out after 300.00 seconds",
	"Runtime.OutOfMemory": "Runtime exited with error: signal: killed",
	"Runtime.ExitError":   "Runtime exited with error: exit status 2",
}

// diedLambda is the Lambda Invoke API for the four functions of the task
// state machine: each action answers as the real step does for a task
// whose command has ended by its first answered check, except that the
// first invocation of step (task-check or task-collect) dies with died.
// The wait is woken at once.
type diedLambda struct {
	step, died string

	mu       sync.Mutex
	client   *sfn.Client // set before the execution starts
	calls    map[string]int
	cleanUps []json.RawMessage // each clean-up's failure (null: none)
}

func (f *diedLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var in struct {
		Action  string          `json:"action"`
		TaskID  string          `json:"taskId"`
		Token   string          `json:"token"`
		Failure json.RawMessage `json:"failure"`
	}
	_ = json.Unmarshal(body, &in)
	step := map[string]any{"taskId": in.TaskID, "userId": "alice", "sandboxId": "sbx-1", "ended": false, "waitSeconds": 600}
	fail := func(errorType, message string) {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		_ = json.NewEncoder(w).Encode(map[string]string{"errorType": errorType, "errorMessage": message})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[in.Action]++
	if in.Action == f.step && f.calls[in.Action] == 1 {
		fail(f.died, "RequestId: 7d1c3a52-0b8e-4f0e-9d4e-3b0f3d6f1a11 Error: "+diedPayloads[f.died])
		return
	}
	switch in.Action {
	case "task-wait":
		// The command's nudge: the wait ends at once.
		client := f.client
		go func() {
			_, _ = client.SendTaskSuccess(context.Background(), &sfn.SendTaskSuccessInput{TaskToken: aws.String(in.Token), Output: aws.String("{}")})
		}()
	case "task-check":
		step["ended"] = true
	case "task-cleanup":
		f.cleanUps = append(f.cleanUps, in.Failure)
		if len(in.Failure) > 0 && string(in.Failure) != "null" {
			fail("Task.Failed", "task "+in.TaskID+": "+string(in.Failure))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"taskId": in.TaskID, "status": "succeeded"})
		return
	}
	_ = json.NewEncoder(w).Encode(step)
}

// TestStepWhoseInvocationDiedIsRunAgain runs task.asl.json with a Check
// or a Collect whose one invocation dies as Lambda reports it: a Lambda
// timeout (Sandbox.Timedout), out of memory (Runtime.OutOfMemory; older
// runtimes' Runtime.ExitError, "signal: killed"), a crash outside the
// handler (Runtime.ExitError, "exit status 2"). Check only polls. Collect
// is safe to run again from wherever it was killed: the output's stores go
// on from the record, the artifacts are put again under the same keys and
// their manifest last, the stage is made again and the push of the same
// commits is no change, OpenPullRequest finds the open pull request, and
// the outcome is written only from running. Not run again, a healthy task
// of hours, or one whose command succeeded, fails with its sandbox
// deleted (and a pull request already opened on GitHub).
//
// A Wait's task-wait fails the same way, and is refused for a moment
// (Sandbox.Transient: "the state machine asks again in seconds") or for
// good (Sandbox.NotFound). AWS invokes the Wait's Lambda synchronously and
// its error fails the Wait: the first are retried, the last is caught into
// CleanUpAfterFailure and fails the task. Dropped, as the local Step
// Functions once did, each would leave the wait to its backstop and the
// task to succeed.
func TestStepWhoseInvocationDiedIsRunAgain(t *testing.T) {
	raw, err := os.ReadFile("task.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		step, name, died string
		want             types.ExecutionStatus
		calls            int    // of step
		failure          string // in the clean-up's failure; "" for none
	}
	var tests []row
	for _, step := range []string{"task-check", "task-collect"} {
		for _, d := range []struct{ name, died string }{
			{"a function timeout", "Sandbox.Timedout"},
			{"out of memory", "Runtime.OutOfMemory"},
			{"the process exited (killed, or a goroutine's panic)", "Runtime.ExitError"},
		} {
			tests = append(tests, row{step, d.name, d.died, types.ExecutionStatusSucceeded, 2, ""})
		}
	}
	tests = append(tests,
		row{"task-wait", "refused for a moment", "Sandbox.Transient", types.ExecutionStatusSucceeded, 2, ""},
		row{"task-wait", "its invocation died", "Runtime.ExitError", types.ExecutionStatusSucceeded, 2, ""},
		row{"task-wait", "refused for good", "Sandbox.NotFound", types.ExecutionStatusFailed, 1, "Sandbox.NotFound"})
	for _, tt := range tests {
		t.Run(tt.step+": "+tt.name, func(t *testing.T) {
			lambda := &diedLambda{step: tt.step, died: tt.died, calls: map[string]int{}}
			out := runTask(t, string(raw), lambda, func(c *sfn.Client) {
				lambda.mu.Lock()
				lambda.client = c
				lambda.mu.Unlock()
			})
			lambda.mu.Lock()
			defer lambda.mu.Unlock()
			failures := joinRaw(lambda.cleanUps)
			if out.Status != tt.want || lambda.calls[tt.step] != tt.calls ||
				(tt.failure == "") != (failures == "[null]" || failures == "[]") || !strings.Contains(failures, tt.failure) {
				t.Errorf("a %s that answered %s: execution %s (%s: %s) after %d of them, clean-ups' failures %s; "+
					"want %s after %d, failure %q: its Retry and Catch must see the error, as in AWS",
					tt.step, tt.died, out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), lambda.calls[tt.step], failures,
					tt.want, tt.calls, tt.failure)
			}
		})
	}
}

func joinRaw(rs []json.RawMessage) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return "[" + strings.Join(s, ", ") + "]"
}
