package sfnlocal_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sandstep/sandstep/internal/sfnlocal"
)

func TestRestart(t *testing.T) {
	machines := map[string]string{
		"callback": tokenASL(lambdaCallback, lambdaParams, `"TimeoutSeconds": 60`),
		"quick":    `{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}`,
	}
	ctx := context.Background()
	// The first server delivers every status change but that of
	// "undelivered", whose call is still blocked when the server closes.
	blocked := make(chan struct{})
	h := start(t, newFakeLambda(t, nil), machines, func(o *sfnlocal.Options) {
		record := o.OnStatusChange
		o.OnStatusChange = func(ctx context.Context, c sfnlocal.StatusChange) {
			if c.Name == "undelivered" {
				close(blocked)
				<-ctx.Done()
				return
			}
			record(ctx, c)
		}
	})
	first := h.srv
	finished := h.startExecution(t, "quick", "finished", `{"n":1}`)
	h.waitDone(t, finished)
	h.statuses.waitFor(t, finished)
	undelivered := h.startExecution(t, "quick", "undelivered", `{}`)
	h.waitDone(t, undelivered)
	inflight := h.startExecution(t, "callback", "inflight", `{"job":"restart"}`)
	tok := workerToken(t, h.lambda, "restart")
	before := h.history(t, inflight)
	<-blocked // so "finished" was marked delivered
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// A kill -9 while appending leaves a torn last line.
	f, err := os.OpenFile(filepath.Join(h.dir, "executions", "callback", "inflight.history.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"id":99,"ty`)
	f.Close()

	h.statuses = &statusLog{}
	h.open(t, machines)

	d, err := h.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(inflight)})
	if err != nil || d.Status != types.ExecutionStatusAborted || d.StopDate == nil || aws.ToString(d.Cause) == "" {
		t.Fatalf("the execution running at the restart: %+v, %v; want ABORTED with a cause", d, err)
	}
	after := h.history(t, inflight)
	if len(after) != len(before)+1 || after[len(after)-1].Type != types.HistoryEventTypeExecutionAborted || after[len(after)-1].Id != int64(len(after)) {
		t.Errorf("history after the restart %v, want %v and ExecutionAborted", eventTypes(after), eventTypes(before))
	}
	if c := h.statuses.waitFor(t, inflight); c.Status != "ABORTED" || c.StopDate == nil {
		t.Errorf("status change %+v, want ABORTED", c)
	}
	if c := h.statuses.waitFor(t, undelivered); c.Status != "SUCCEEDED" {
		t.Errorf("the undelivered status change, delivered again: %+v", c)
	}
	_, err = h.client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(tok), Output: aws.String("{}")})
	if apiErrorCode(err) != "TaskDoesNotExist" {
		t.Errorf("the old token: %v, want TaskDoesNotExist", err)
	}

	d, err = h.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(finished)})
	if err != nil || d.Status != types.ExecutionStatusSucceeded || aws.ToString(d.Output) != `{"n":1}` {
		t.Errorf("the finished execution: %+v, %v", d, err)
	}
	if got := eventTypes(h.history(t, finished)); !slices.Equal(got, []string{"ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"}) {
		t.Errorf("the finished execution's history %v", got)
	}
	list, err := h.client.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(machineARN("quick"))})
	if err != nil || len(list.Executions) != 2 {
		t.Errorf("ListExecutions after the restart: %+v, %v", list, err)
	}
	h.statuses.mu.Lock()
	for _, c := range h.statuses.all {
		if c.ExecutionArn == finished {
			t.Errorf("the finished execution's status change was delivered again")
		}
	}
	h.statuses.mu.Unlock()
	// Its name is still taken.
	_, err = h.client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(machineARN("quick")), Name: aws.String("finished"), Input: aws.String(`{"n":1}`)})
	if apiErrorCode(err) != "ExecutionAlreadyExists" {
		t.Errorf("reusing the name: %v, want ExecutionAlreadyExists", err)
	}
	// And the new server runs executions.
	if out := h.waitDone(t, h.startExecution(t, "quick", "", `{}`)); out.Status != types.ExecutionStatusSucceeded {
		t.Errorf("a new execution: %s", out.Status)
	}
}

// An execution's end is written
// in two steps, its terminal event appended to the history, then its
// record replaced. A kill -9 between the two (the record's write syncs,
// so the window is milliseconds) leaves a history that ends in
// ExecutionSucceeded and a record still RUNNING. The next start must keep
// the end the history records: the execution SUCCEEDED with its output,
// one terminal event, and a SUCCEEDED status change delivered; not an
// ABORTED execution whose history ends twice, which tells the task's
// end rule a finished task was cut short.
func TestCrashBetweenEndEventAndRecord(t *testing.T) {
	machines := map[string]string{
		"quick": `{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": true}, "End": true}}}`,
	}
	ctx := context.Background()
	h := start(t, newFakeLambda(t, nil), machines)
	arn := h.startExecution(t, "quick", "done", `{}`)
	if d := h.waitDone(t, arn); d.Status != types.ExecutionStatusSucceeded {
		t.Fatalf("first run: %s", d.Status)
	}
	h.statuses.waitFor(t, arn)
	before := h.history(t, arn)
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}

	// The record as it was before finish saved it: RUNNING, undelivered.
	path := filepath.Join(h.dir, "executions", "quick", "done.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	rec["status"] = "RUNNING"
	for _, k := range []string{"output", "stopDate", "notified", "error", "cause"} {
		delete(rec, k)
	}
	if b, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}

	h.statuses = &statusLog{}
	h.open(t, machines)

	d, err := h.client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != types.ExecutionStatusSucceeded || aws.ToString(d.Output) != `{"ok":true}` || d.StopDate == nil {
		t.Errorf("after the restart: status %s, output %q, stop %v; want SUCCEEDED with {\"ok\":true}", d.Status, aws.ToString(d.Output), d.StopDate)
	}
	after := h.history(t, arn)
	if len(after) != len(before) || after[len(after)-1].Type != types.HistoryEventTypeExecutionSucceeded {
		t.Errorf("history after the restart %v, want %v", eventTypes(after), eventTypes(before))
	}
	if c := h.statuses.waitFor(t, arn); c.Status != "SUCCEEDED" {
		t.Errorf("status change delivered after the restart: %s, want SUCCEEDED", c.Status)
	}
}
