package statemachine

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// diedCollectLambda is the Lambda Invoke API for the task state machine's
// four functions, for a task whose command exited 0 at its first check,
// except that the first collect's invocation dies with died.
type diedCollectLambda struct {
	died string

	mu       sync.Mutex
	client   *sfn.Client // set before the execution starts
	collects int
	cleanUps []json.RawMessage
}

func (f *diedCollectLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	switch in.Action {
	case "task-wait":
		client := f.client
		go func() {
			_, _ = client.SendTaskSuccess(context.Background(), &sfn.SendTaskSuccessInput{TaskToken: aws.String(in.Token), Output: aws.String("{}")})
		}()
	case "task-check":
		step["ended"] = true
	case "task-collect":
		f.collects++
		if f.collects == 1 {
			fail(f.died, "RequestId: 0c4f9a8e-6d1b-4c7e-8a55-2f0b9e3d7c21 Error: "+diedPayloads[f.died])
			return
		}
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

// TestDiedCollectIsRunAgain runs task.asl.json with a Collect
// whose one invocation dies after the command exited 0 (a function
// timeout, out of memory, the process exited). Collect is safe to run
// again from wherever it was killed: the output's stores go on from the
// record, the artifacts are put again under the same keys and their
// manifest last, the stage is made again and the push of the same commits
// is no change (its credential file is removed by the push's own trap),
// OpenPullRequest finds the open pull request, and the outcome is written
// only from running. Not retried, the died invocation fails the task: its
// sandbox is deleted with the artifacts not stored, and a pull request
// already opened is on GitHub while the task says it failed.
func TestDiedCollectIsRunAgain(t *testing.T) {
	raw, err := os.ReadFile("task.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		died string
	}{
		{"a function timeout", "Sandbox.Timedout"},
		{"out of memory", "Runtime.OutOfMemory"},
		{"the process exited (killed, or a goroutine's panic)", "Runtime.ExitError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lambda := &diedCollectLambda{died: tt.died}
			out := runTask(t, string(raw), lambda, func(c *sfn.Client) {
				lambda.mu.Lock()
				lambda.client = c
				lambda.mu.Unlock()
			})
			lambda.mu.Lock()
			defer lambda.mu.Unlock()
			if out.Status != types.ExecutionStatusSucceeded || lambda.collects != 2 {
				t.Errorf("a Collect whose invocation died (%s) after the command exited 0: execution %s (%s) after %d collects, clean-ups' failures %s; "+
					"want it collected again and SUCCEEDED: the task that succeeded is failed, its artifacts lost",
					tt.died, out.Status, aws.ToString(out.Error), lambda.collects, joinRaw(lambda.cleanUps))
			}
		})
	}
}
