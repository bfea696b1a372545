package service

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// olderVersionsWrite rewrites the task's record as a function version
// from before earlierSandboxMs does when it writes the task (a put of
// the whole item, from the fields it knows): the usage without that
// attribute, everything else as it was.
func olderVersionsWrite(t *testing.T, client *dynamodb.Client, table, taskID string) {
	t.Helper()
	key := map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "TASK#" + taskID}, "SK": &types.AttributeValueMemberS{Value: "META"}}
	got, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil || got.Item == nil {
		t.Fatalf("read the task's item: %v", err)
	}
	u, ok := got.Item["usage"].(*types.AttributeValueMemberM)
	if !ok {
		t.Fatalf("the task's item has no usage: %v", got.Item)
	}
	delete(u.Value, "earlierSandboxMs")
	if _, err := client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: got.Item}); err != nil {
		t.Fatalf("write the task's item: %v", err)
	}
}

// The state machine calls the older function versions for hours after a
// deploy, and a task's record is written by both; the store writes a task
// whole. The failed attempt's sandbox's life must survive an older
// version's write: a task's sandbox seconds only grow (README, "Task
// cost": the counters only grow), and a GET must not show a cost lower
// than the one before.
func TestEarlierSandboxSurvivesAnOlderVersionsWrite(t *testing.T) {
	tests := []struct {
		name string
		// remade: the second attempt made the task's sandbox before the
		// older version's write.
		remade bool
	}{
		{"an older version's write before the create is asked again", false},
		{"an older version's write after the second sandbox was made", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			st, client, table := storetest.New(t, store.Options{DefaultQuota: 5, IdempotencyTTL: time.Hour, Now: clk.Now})
			p := &slowFailingClone{fakeProvider: newFakeProvider(), clk: clk, took: 2 * time.Minute}
			svc := taskServiceOn(t, clk, st, p)
			ctx := context.Background()
			tk := cloneTask(t, svc)
			step := TaskStep{TaskID: tk.ID, UserID: "alice"}
			if _, err := svc.CreateTaskSandbox(ctx, step); sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
				t.Fatalf("the first attempt answered %v; want the clone's transient failure", err)
			}
			if tt.remade {
				if _, err := svc.CreateTaskSandbox(ctx, step); err != nil {
					t.Fatal(err)
				}
				clk.Set(clk.Now().Add(10 * time.Second))
			}
			before, err := svc.GetTask(ctx, alice(), tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if before.Usage == nil || before.Usage.SandboxSeconds < 120 {
				t.Fatalf("before the older version's write: usage %+v; want the first sandbox's 120 s at least", before.Usage)
			}
			olderVersionsWrite(t, client, table, tk.ID)
			after, err := svc.GetTask(ctx, alice(), tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if after.Usage == nil || after.Usage.SandboxSeconds < before.Usage.SandboxSeconds {
				t.Errorf("sandbox seconds went from %v to %v after an older version's write of the task (cost %v, then %v)",
					before.Usage.SandboxSeconds, sandboxSecondsOf(after), before.Cost, after.Cost)
			}
		})
	}
}

func sandboxSecondsOf(t *sandstep.Task) any {
	if t.Usage == nil {
		return nil
	}
	return t.Usage.SandboxSeconds
}
