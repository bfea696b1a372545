package statemachine

import (
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
)

// TestDaytonaOutageIsWaitedOut runs task.asl.json through an outage
// of Daytona's API (or DynamoDB throttling the table) while the command
// runs: every check answers Sandbox.Transient (CommandExit, or the task's
// record, could not be read), while the command goes on in its sandbox.
// Check is safe to run again and keeps the deadline itself, so a task of
// hours must outlast an outage of minutes, not fail with its sandbox and
// its work deleted.
func TestDaytonaOutageIsWaitedOut(t *testing.T) {
	raw, err := os.ReadFile("task.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	delays := retryDelays(t, "Sandbox.Transient")
	tests := []struct {
		name  string
		lasts time.Duration
		want  types.ExecutionStatus
	}{
		{"an outage of two minutes", 2 * time.Minute, types.ExecutionStatusSucceeded},
		{"an outage of five minutes", 5 * time.Minute, types.ExecutionStatusSucceeded},
		{"an outage of fourteen minutes", 14 * time.Minute, types.ExecutionStatusSucceeded},
		{"an outage of an hour", time.Hour, types.ExecutionStatusFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lambda := &throttledLambda{from: "task-check", transient: true, lasts: tt.lasts, delays: delays, refused: map[string]int{}}
			out := runTask(t, string(raw), lambda, func(c *sfn.Client) {
				lambda.mu.Lock()
				lambda.client = c
				lambda.mu.Unlock()
			})
			lambda.mu.Lock()
			defer lambda.mu.Unlock()
			if out.Status != tt.want || lambda.collected != (tt.want == types.ExecutionStatusSucceeded) {
				t.Errorf("an outage of %s (simulated, every retry at its longest delay): execution %s (%s), collected %v, clean-ups' failures %s; want %s",
					tt.lasts, out.Status, aws.ToString(out.Error), lambda.collected, joinRaw(lambda.cleanUps), tt.want)
			}
		})
	}
}
