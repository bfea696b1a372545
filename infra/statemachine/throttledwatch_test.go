package statemachine

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// throttledLambda is the Lambda Invoke API for the task state machine's
// four functions while Lambda throttles them: from the task's first
// invocation of action from (its first wait or check), every invocation is
// refused (429, TooManyRequestsException) until the
// throttle has lasted its time. The time is simulated: each refusal moves
// the clock by the longest delay the refused state's retrier may wait
// before its next attempt (delays, read from the definition), as if full
// jitter always drew its bound. Out of the throttle, each step answers as
// the real one does for a task whose command ends at its first check; the
// wait is woken at once. With transient, it is Daytona (or DynamoDB) that
// is out instead: only the checks are refused, as the status function
// answers then (Sandbox.Transient).
type throttledLambda struct {
	from      string
	transient bool
	lasts     time.Duration
	delays    map[string][]float64 // by state: the retrier's delays for the refusal

	mu        sync.Mutex
	client    *sfn.Client // set before the execution starts
	started   bool        // the throttle has begun
	clock     time.Duration
	refused   map[string]int // by state: refusals in a row
	cleanUps  []json.RawMessage
	collected bool
}

func (f *throttledLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var in struct {
		Action  string          `json:"action"`
		TaskID  string          `json:"taskId"`
		Token   string          `json:"token"`
		Failure json.RawMessage `json:"failure"`
	}
	_ = json.Unmarshal(body, &in)
	f.mu.Lock()
	defer f.mu.Unlock()
	state := map[string]string{"task-prepare": "Prepare", "task-sandbox": "CreateSandbox", "task-start": "StartCommand",
		"task-wait": "Wait", "task-check": "Check", "task-collect": "Collect", "task-cleanup": "CleanUp"}[in.Action]
	failed := len(in.Failure) > 0 && string(in.Failure) != "null"
	if failed {
		state = "CleanUpAfterFailure"
	}
	f.started = f.started || in.Action == f.from
	if f.started && f.clock < f.lasts && (!f.transient || in.Action == "task-check") {
		n := f.refused[state]
		if d := f.delays[state]; n < len(d) {
			f.clock += time.Duration(d[n] * float64(time.Second))
		} else {
			f.clock = f.lasts // no retry left: the state gives up
		}
		f.refused[state] = n + 1
		if f.transient {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			_ = json.NewEncoder(w).Encode(map[string]string{"errorType": "Sandbox.Transient", "errorMessage": "Daytona is unavailable (503); retry with backoff"})
			return
		}
		w.Header().Set("X-Amzn-ErrorType", "TooManyRequestsException")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"Reason":"ConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}`)
		return
	}
	f.refused[state] = 0
	step := map[string]any{"taskId": in.TaskID, "userId": "alice", "sandboxId": "sbx-1", "ended": false, "waitSeconds": 600}
	switch in.Action {
	case "task-wait":
		client := f.client
		go func() {
			_, _ = client.SendTaskSuccess(context.Background(), &sfn.SendTaskSuccessInput{TaskToken: aws.String(in.Token), Output: aws.String("{}")})
		}()
	case "task-check":
		step["ended"] = true
	case "task-collect":
		f.collected = true
	case "task-cleanup":
		f.cleanUps = append(f.cleanUps, in.Failure)
		if failed {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			_ = json.NewEncoder(w).Encode(map[string]string{"errorType": "Task.Failed", "errorMessage": "task " + in.TaskID + ": " + string(in.Failure)})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"taskId": in.TaskID, "status": "succeeded"})
		return
	}
	_ = json.NewEncoder(w).Encode(step)
}

// retryDelays are, by Task state, the delays of the retrier Step
// Functions picks for the error name (the first that matches), at their
// longest.
func retryDelays(t *testing.T, name string) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	for state, st := range retriers(t).States {
		for _, r := range st.Retry {
			if slices.Contains(r.ErrorEquals, name) {
				out[state] = r.delays()
				break
			}
		}
	}
	return out
}

// TestThrottledWatchIsWaitedOut runs task.asl.json through a Lambda
// throttle that begins while the command runs, and through an outage of
// Daytona's API (or DynamoDB throttling the table) in which every check
// answers Sandbox.Transient while the command goes on. The status function
// serves the API's reads and every running task's Wait and Check, with no
// reserved concurrency: an account's concurrency spent for a few minutes
// (another function's burst, dashboards polling) throttles it. Wait and
// Check are safe to run again and the task's deadline is kept inside
// Check, so a task of hours must outlast a throttle or an outage of
// minutes, not fail with its sandbox and its work deleted.
func TestThrottledWatchIsWaitedOut(t *testing.T) {
	raw, err := os.ReadFile("task.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		lasts time.Duration
		want  types.ExecutionStatus
	}{
		{"two minutes", 2 * time.Minute, types.ExecutionStatusSucceeded},
		{"five minutes", 5 * time.Minute, types.ExecutionStatusSucceeded},
		{"fourteen minutes", 14 * time.Minute, types.ExecutionStatusSucceeded},
		// The watch's patience is bounded: a lasting throttle still ends
		// the task (the ended execution's clean-up, task-ended, finishes
		// it if the clean-up step gives up too).
		{"an hour", time.Hour, types.ExecutionStatusFailed},
	}
	// A throttle meets a task at its next invocation: mostly a check (a
	// wait sits parked between its invocation and its wake); an outage
	// meets its checks.
	kinds := []struct {
		name, from string
		transient  bool
	}{
		{"a throttle from a wait", "task-wait", false},
		{"a throttle from a check", "task-check", false},
		{"an outage", "task-check", true},
	}
	for _, kind := range kinds {
		errorName := "Lambda.TooManyRequestsException"
		if kind.transient {
			errorName = "Sandbox.Transient"
		}
		delays := retryDelays(t, errorName)
		for _, tt := range tests {
			t.Run(kind.name+" of "+tt.name, func(t *testing.T) {
				lambda := &throttledLambda{from: kind.from, transient: kind.transient, lasts: tt.lasts, delays: delays, refused: map[string]int{}}
				out := runTask(t, string(raw), lambda, func(c *sfn.Client) {
					lambda.mu.Lock()
					lambda.client = c
					lambda.mu.Unlock()
				})
				lambda.mu.Lock()
				defer lambda.mu.Unlock()
				if out.Status != tt.want || lambda.collected != (tt.want == types.ExecutionStatusSucceeded) {
					t.Errorf("%s of %s (simulated, every retry at its longest delay): execution %s (%s), collected %v, clean-ups' failures %s; want %s",
						kind.name, tt.lasts, out.Status, aws.ToString(out.Error), lambda.collected, joinRaw(lambda.cleanUps), tt.want)
				}
			})
		}
	}
}
