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

// waitErrorLambda is the Lambda Invoke API for the task state machine's
// functions: task-wait answers the errors in waitErrors, one per
// invocation, then nudges (SendTaskSuccess with its token); the check finds
// the command ended. An invocation of type Event runs the same, its answer
// going nowhere, as in Lambda.
type waitErrorLambda struct {
	waitErrors []string

	mu       sync.Mutex
	client   *sfn.Client
	waits    int
	cleanUps []json.RawMessage
}

func (f *waitErrorLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var in struct {
		Action  string          `json:"action"`
		TaskID  string          `json:"taskId"`
		Token   string          `json:"token"`
		Failure json.RawMessage `json:"failure"`
	}
	_ = json.Unmarshal(body, &in)
	async := r.Header.Get("X-Amz-Invocation-Type") == "Event"
	answer := func(v any) {
		if async {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(errorType string) {
		if async {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		_ = json.NewEncoder(w).Encode(map[string]string{"errorType": errorType, "errorMessage": "refused on purpose"})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	step := map[string]any{"taskId": in.TaskID, "userId": "alice", "sandboxId": "sbx-1", "ended": false, "waitSeconds": 1}
	switch in.Action {
	case "task-wait":
		f.waits++
		if f.waits <= len(f.waitErrors) {
			fail(f.waitErrors[f.waits-1])
			return
		}
		client := f.client
		go func() {
			_, _ = client.SendTaskSuccess(context.Background(), &sfn.SendTaskSuccessInput{TaskToken: aws.String(in.Token), Output: aws.String("{}")})
		}()
		answer(map[string]any{})
		return
	case "task-check":
		step["ended"] = true
	case "task-cleanup":
		f.cleanUps = append(f.cleanUps, in.Failure)
		if len(in.Failure) > 0 && string(in.Failure) != "null" {
			fail("Task.Failed")
			return
		}
		answer(map[string]any{"taskId": in.TaskID, "status": "succeeded"})
		return
	}
	answer(step)
}

// TestWaitErrorIsRetried runs task.asl.json with a task-wait that
// fails as it does in production: refused for a moment
// (Sandbox.Transient: "the state machine asks again in seconds"), its
// invocation died (Runtime.ExitError), or refused for good
// (Sandbox.NotFound). AWS invokes the Wait's Lambda synchronously and its
// error fails the Wait: the first two are retried, the last is caught into
// CleanUpAfterFailure and fails the task. Dropped, each would leave the
// wait to run out its backstop and the task to succeed.
func TestWaitErrorIsRetried(t *testing.T) {
	raw, err := os.ReadFile("task.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		waitErrors  []string
		wantStatus  types.ExecutionStatus
		wantWaits   int
		wantFailure string // in the clean-up's failure; "" for none
	}{
		{"refused for a moment", []string{"Sandbox.Transient"}, types.ExecutionStatusSucceeded, 2, ""},
		{"its invocation died", []string{"Runtime.ExitError"}, types.ExecutionStatusSucceeded, 2, ""},
		{"refused for good", []string{"Sandbox.NotFound"}, types.ExecutionStatusFailed, 1, "Sandbox.NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lambda := &waitErrorLambda{waitErrors: tt.waitErrors}
			out := runTask(t, string(raw), lambda, func(c *sfn.Client) {
				lambda.mu.Lock()
				lambda.client = c
				lambda.mu.Unlock()
			})
			lambda.mu.Lock()
			defer lambda.mu.Unlock()
			failures := joinRaw(lambda.cleanUps)
			if out.Status != tt.wantStatus || lambda.waits != tt.wantWaits || (tt.wantFailure == "") != (failures == "[null]" || failures == "[]") ||
				!strings.Contains(failures, tt.wantFailure) {
				t.Errorf("a wait that answered %v: execution %s after %d waits, clean-up failures %s; want %s after %d waits, failure %q: "+
					"the Wait's Retry and Catch must see task-wait's error, as in AWS",
					tt.waitErrors, out.Status, lambda.waits, failures, tt.wantStatus, tt.wantWaits, tt.wantFailure)
			}
		})
	}
}
