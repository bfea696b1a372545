package service

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
	"github.com/sandstep/sandstep/internal/testutil"
)

// The reaper's lines for what it did name the user it did it to as userId,
// the key every other line uses (9dbb5df: "so a Logs Insights search by
// sandboxId or userId finds what the reaper did to it"). Two of its lines
// for what it did still do not: a stray deleted names no owner though its
// label names one, and a repaired quota counter names its user as "id".
func TestReaperLinesNameTheUserAsUserID(t *testing.T) {
	tests := []struct {
		name string
		msg  string // the reaper's line for what it did
		user string
		// setup makes the finding.
		setup func(t *testing.T, p *fakeProvider, client *dynamodb.Client, table string)
	}{
		{
			name: "a stray deleted, its owner labelled", msg: "reaper: deleted a sandbox no live record owns", user: "bob",
			setup: func(t *testing.T, p *fakeProvider, _ *dynamodb.Client, _ string) {
				p.sandboxes["stray"] = &fakeSandbox{id: "dt-stray", state: "started", labels: map[string]string{LabelDeployment: testDeployment, LabelOwner: "bob"}}
			},
		},
		{
			name: "a drifted quota counter repaired", msg: "reaper: quota counter repaired", user: "alice",
			setup: func(t *testing.T, _ *fakeProvider, client *dynamodb.Client, table string) {
				if _, err := client.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
					TableName: aws.String(table),
					Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "USER#alice"},
						"SK": &types.AttributeValueMemberS{Value: "QUOTA"}},
					UpdateExpression:          aws.String("SET active = :n"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: "3"}},
				}); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st, client, table := storetest.New(t, store.Options{DefaultQuota: 10})
			p := newFakeProvider()
			svc := newReaper(t, st, p, st, p)
			logs := &testutil.Buffer{}
			svc.opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
			if _, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{}); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, p, client, table)
			if _, err := svc.Reap(ctx, ReapOptions{}); err != nil {
				t.Fatal(err)
			}
			var line map[string]any
			for l := range strings.SplitSeq(logs.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == tt.msg {
					line = m
				}
			}
			if line == nil {
				t.Fatalf("no line %q in the logs:\n%s", tt.msg, logs.String())
			}
			if line["userId"] != tt.user {
				t.Errorf("the reaper's line %v; want userId %s", line, tt.user)
			}
		})
	}
}
