package sfnlocal_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// TestHuntCrashBetweenEndEventAndRecord: an execution's end is written
// in two steps, its terminal event appended to the history, then its
// record replaced. A kill -9 between the two (the record's write syncs,
// so the window is milliseconds) leaves a history that ends in
// ExecutionSucceeded and a record still RUNNING. The next start must keep
// the end the history records: the execution SUCCEEDED with its output,
// one terminal event, and a SUCCEEDED status change delivered; not an
// ABORTED execution whose history ends twice, which tells the task's
// end rule a finished task was cut short.
func TestHuntCrashBetweenEndEventAndRecord(t *testing.T) {
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
