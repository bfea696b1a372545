package sfnlocal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/sandstep/sandstep/internal/sfnlocal"
)

func TestListExecutions(t *testing.T) {
	quick := `{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}`
	slow := `{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}`
	h := start(t, newFakeLambda(t, nil), map[string]string{"quick": quick, "slow": slow})
	ctx := context.Background()
	for i := range 5 {
		h.waitDone(t, h.startExecution(t, "quick", fmt.Sprintf("q%d", i), `{}`))
	}
	h.startExecution(t, "slow", "s0", `{}`)
	h.startExecution(t, "slow", "s1", `{}`)

	names := func(t *testing.T, in *sfn.ListExecutionsInput) (pages [][]string) {
		t.Helper()
		p := sfn.NewListExecutionsPaginator(h.client, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var ns []string
			for _, e := range page.Executions {
				ns = append(ns, aws.ToString(e.Name))
			}
			pages = append(pages, ns)
		}
		return pages
	}
	tests := []struct {
		name string
		in   sfn.ListExecutionsInput
		want [][]string
	}{
		{"all, newest first", sfn.ListExecutionsInput{StateMachineArn: aws.String(machineARN("quick"))},
			[][]string{{"q4", "q3", "q2", "q1", "q0"}}},
		{"paged", sfn.ListExecutionsInput{StateMachineArn: aws.String(machineARN("quick")), MaxResults: 2},
			[][]string{{"q4", "q3"}, {"q2", "q1"}, {"q0"}}},
		{"SUCCEEDED", sfn.ListExecutionsInput{StateMachineArn: aws.String(machineARN("quick")), StatusFilter: types.ExecutionStatusSucceeded},
			[][]string{{"q4", "q3", "q2", "q1", "q0"}}},
		{"RUNNING", sfn.ListExecutionsInput{StateMachineArn: aws.String(machineARN("slow")), StatusFilter: types.ExecutionStatusRunning},
			[][]string{{"s1", "s0"}}},
		{"RUNNING, none", sfn.ListExecutionsInput{StateMachineArn: aws.String(machineARN("quick")), StatusFilter: types.ExecutionStatusRunning},
			[][]string{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(t, &tt.in); !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("pages %q, want %q", got, tt.want)
			}
		})
	}

	refused := []struct {
		name string
		in   sfn.ListExecutionsInput
		want string
	}{
		{"a token not ours", sfn.ListExecutionsInput{StateMachineArn: aws.String(machineARN("quick")), NextToken: aws.String("%%%")}, "InvalidToken"},
		{"too many results", sfn.ListExecutionsInput{StateMachineArn: aws.String(machineARN("quick")), MaxResults: 1001}, "ValidationException"},
		{"unknown status", sfn.ListExecutionsInput{StateMachineArn: aws.String(machineARN("quick")), StatusFilter: "DONE"}, "ValidationException"},
		{"unknown state machine", sfn.ListExecutionsInput{StateMachineArn: aws.String(machineARN("nope"))}, "StateMachineDoesNotExist"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := h.client.ListExecutions(ctx, &tt.in); apiErrorCode(err) != tt.want {
				t.Errorf("err %v, want %s", err, tt.want)
			}
		})
	}
}

func TestHistoryCountsPerIteration(t *testing.T) {
	lambda := newFakeLambda(t, map[string]func(json.RawMessage) lambdaReply{
		"counter": func(p json.RawMessage) lambdaReply {
			var in struct{ I int }
			_ = json.Unmarshal(p, &in)
			return lambdaReply{Payload: map[string]int{"i": in.I + 1}}
		},
	})
	// A loop: Work (Lambda Task) -> More? (Choice) -> Pause (Wait) -> Work.
	def := `{
	  "StartAt": "Work",
	  "States": {
	    "Work": {"Type": "Task", "Resource": "` + fnARN("counter") + `", "TimeoutSeconds": 30, "Next": "More?"},
	    "More?": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericLessThan": 5, "Next": "Pause"}], "Default": "Done"},
	    "Pause": {"Type": "Wait", "Seconds": 3600, "Next": "Work"},
	    "Done": {"Type": "Succeed"}
	  }
	}`
	h := start(t, lambda, map[string]string{"loop": def}, func(o *sfnlocal.Options) {
		o.WaitOverrides = map[string]time.Duration{"Pause": time.Millisecond}
	})
	arn := h.startExecution(t, "loop", "", `{"i":0}`)
	if out := h.waitDone(t, arn); out.Status != types.ExecutionStatusSucceeded || aws.ToString(out.Output) != `{"i":5}` {
		t.Fatalf("status %s output %s", out.Status, aws.ToString(out.Output))
	}
	all := h.history(t, arn)

	// As AWS counts: 5 events per Lambda Task, 2 per Choice, Wait and
	// Succeed, and the execution's own 2.
	const iterations = 5
	perIteration := 5 + 2 + 2
	want := 1 + iterations*perIteration - 2 /* no Wait after the last Choice */ + 2 + 1
	if len(all) != want {
		t.Fatalf("%d events, want %d: %v", len(all), want, eventTypes(all))
	}
	counts := map[string]int{}
	for _, e := range all {
		counts[string(e.Type)]++
	}
	for typ, n := range map[string]int{
		"TaskStateEntered": 5, "LambdaFunctionScheduled": 5, "LambdaFunctionStarted": 5, "LambdaFunctionSucceeded": 5, "TaskStateExited": 5,
		"ChoiceStateEntered": 5, "ChoiceStateExited": 5, "WaitStateEntered": 4, "WaitStateExited": 4,
	} {
		if counts[typ] != n {
			t.Errorf("%d %s events, want %d", counts[typ], typ, n)
		}
	}
	// One iteration, in order.
	if got, want := eventTypes(all[1:10]), []string{"TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted",
		"LambdaFunctionSucceeded", "TaskStateExited", "ChoiceStateEntered", "ChoiceStateExited", "WaitStateEntered", "WaitStateExited"}; !slices.Equal(got, want) {
		t.Errorf("first iteration %v, want %v", got, want)
	}

	ctx := context.Background()
	pages := func(in sfn.GetExecutionHistoryInput) (events []types.HistoryEvent, n int) {
		p := sfn.NewGetExecutionHistoryPaginator(h.client, &in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, page.Events...)
			n++
		}
		return events, n
	}
	ids := func(events []types.HistoryEvent) []int64 {
		out := make([]int64, len(events))
		for i, e := range events {
			out[i] = e.Id
		}
		return out
	}
	t.Run("paged", func(t *testing.T) {
		got, n := pages(sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 10})
		if n != (want+9)/10 || !slices.Equal(ids(got), ids(all)) {
			t.Errorf("%d pages of ids %v, want %d pages of %v", n, ids(got), (want+9)/10, ids(all))
		}
	})
	t.Run("reverse order", func(t *testing.T) {
		got, _ := pages(sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 7, ReverseOrder: true})
		rev := ids(all)
		slices.Reverse(rev)
		if !slices.Equal(ids(got), rev) {
			t.Errorf("ids %v, want %v", ids(got), rev)
		}
	})
	t.Run("without execution data", func(t *testing.T) {
		got, err := h.client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), IncludeExecutionData: aws.Bool(false)})
		if err != nil {
			t.Fatal(err)
		}
		if d := got.Events[0].ExecutionStartedEventDetails; d == nil || d.Input != nil || aws.ToString(d.RoleArn) == "" {
			t.Errorf("ExecutionStarted details %+v, want the role and no input", d)
		}
	})
	t.Run("a token not ours", func(t *testing.T) {
		_, err := h.client.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), NextToken: aws.String("x")})
		if apiErrorCode(err) != "InvalidToken" {
			t.Errorf("err %v, want InvalidToken", err)
		}
	})
}
