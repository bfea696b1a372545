package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// A transition keeps the attributes of the item it read that this version
// does not know (a newer version's). The item read fits DynamoDB's 400 KB,
// but this version's write may grow what it knows: a task failed with the
// state machine's cause (up to 32 KiB) on a record a newer version filled
// to 380 KiB is over the limit with the newer attribute, and refused
// (ETOOLARGE naming that attribute, which the caller cannot shrink): the
// clean-up, the ended execution's and every reaper run fail alike, and the
// task never ends (its issue's claim held, its sandbox kept). Every
// version before the rule wrote such an end by dropping what it did not
// know, and every newer version must bear that drop; none bears a record
// that cannot end.
func TestTransitionEndsWhenKeptAttributesOverflow(t *testing.T) {
	cause := strings.Repeat("e", 32*1024) // Step Functions' Cause, at most
	tests := []struct {
		name  string
		pk    string
		setup func(c context.Context, st *store.Store) error
		end   func(c context.Context, st *store.Store) error
	}{
		{
			name:  "a task failed by its clean-up",
			pk:    "TASK#t1",
			setup: putTask(&sandstep.Task{ID: "t1", Owner: "u", Status: sandstep.TaskRunning, TimeoutSeconds: 60}),
			end: func(c context.Context, st *store.Store) error {
				_, err := st.TransitionTask(c, "t1", []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskFailed,
					func(r *sandstep.Task) { r.Error = cause })
				return err
			},
		},
		{
			name:  "a sandbox whose create failed",
			pk:    "SBX#s1",
			setup: func(c context.Context, st *store.Store) error { return reserve(c, st, "u", "s1") },
			end: func(c context.Context, st *store.Store) error {
				_, err := st.TransitionSandbox(c, "s1", []sandstep.State{sandstep.StateCreating}, sandstep.StateFailed,
					func(r *sandstep.Sandbox) { r.Error = cause })
				return err
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, client, table := storetest.New(t, store.Options{DefaultQuota: 1})
			c := ctx(t)
			if err := tt.setup(c, st); err != nil {
				t.Fatal(err)
			}
			item := rawItem(t, client, table, tt.pk, "META")
			item["newerField"] = strAV(strings.Repeat("n", 380*1024))
			if _, err := client.PutItem(c, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
				t.Fatal(err)
			}
			if err := tt.end(c, st); err != nil {
				t.Fatalf("the end of a record a newer version filled: %v (%s); want it written, as every version before the rule wrote it", err, sandstep.ErrorCode(err))
			}
			after := rawItem(t, client, table, tt.pk, "META")
			if got := avString(after["error"]); got != cause {
				t.Errorf("error after the end is %d bytes, want the cause's %d", len(got), len(cause))
			}
			// minidyn takes an item of any size; DynamoDB refuses one over
			// 400 KB.
			if n := itemBytes(after); n > store.MaxItemSize {
				t.Errorf("the item written is %d bytes, over DynamoDB's %d: DynamoDB refuses the write", n, store.MaxItemSize)
			}
		})
	}
}

// itemBytes is about the size DynamoDB gives item: names and values.
func itemBytes(item map[string]types.AttributeValue) int {
	n := 0
	for name, av := range item {
		n += len(name) + valueBytes(av)
	}
	return n
}

func valueBytes(av types.AttributeValue) int {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return len(v.Value)
	case *types.AttributeValueMemberM:
		return itemBytes(v.Value) + 3
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueBytes(e)
		}
		return n
	}
	return 1
}
