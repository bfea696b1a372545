package service

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// lambdaResponseLimit is Lambda's limit on a synchronous invocation's
// response: 6 MB (6,291,456 bytes). Through API Gateway the answer is the
// APIGatewayV2HTTPResponse that carries the page as its body string, which
// wireSize measures.
const lambdaResponseLimit = 6 << 20

// pageReader reads one page of a list after cursor: the answer, its items'
// ids and its nextCursor.
type pageReader func(cursor string) (answer any, ids []string, next string, err error)

// A list's page holds whole records, each within its input's limits
// (README "Limits"): bounded by its item count alone, a page passes
// Lambda's 6 MB response and API Gateway answers 500 for every read of it.
// A page stops where the next item would not fit; its nextCursor goes on
// from there, so that walking the pages gives every item once.
func TestListPagesFitLambdaResponse(t *testing.T) {
	ctx := context.Background()
	// Control characters are JSON-escaped twice on the way out (\u0001,
	// then \\u0001): seven bytes for one.
	ctl := strings.Repeat("\x01", 256)
	labels := map[string]string{}
	for i := range MaxLabels {
		labels[fmt.Sprintf("label-%02d", i)] = ctl
	}
	tests := []struct {
		name    string
		records int
		limit   *int // nil: the default page
		// list makes the records, each as big as its limits let it, and
		// returns their ids and a reader of the list's pages.
		list func(t *testing.T, n int, limit *int) ([]string, pageReader)
	}{
		{"tasks: a page of 100 commands of 64 KiB", MaxListLimit, intp(MaxListLimit),
			tasksOf("echo " + strings.Repeat("a", MaxCommandBytes-5))},
		{"tasks: the default page of commands of control characters", DefaultListLimit, nil,
			tasksOf("echo " + strings.Repeat("\x01", MaxCommandBytes-5))},
		{"sandboxes: a page of 100 with labels of control characters", MaxListLimit, intp(MaxListLimit),
			func(t *testing.T, n int, limit *int) ([]string, pageReader) {
				h, made := sandboxesWith(t, n, labels)
				return made, func(cursor string) (any, []string, string, error) {
					l, err := h.svc.ListSandboxes(ctx, alice(), SandboxListInput{ListInput: ListInput{Limit: limit, Cursor: cursor}})
					if err != nil {
						return nil, nil, "", err
					}
					return l, sandboxIDs(l.Items), l.NextCursor, nil
				}
			}},
		{"a user's usage: a page of 100 such sandboxes", MaxListLimit, intp(MaxListLimit),
			func(t *testing.T, n int, limit *int) ([]string, pageReader) {
				h, made := sandboxesWith(t, n, labels)
				h.svc.quotas = h.store
				return made, func(cursor string) (any, []string, string, error) {
					u, err := h.svc.UserUsage(ctx, root(), "alice", ListInput{Limit: limit, Cursor: cursor})
					if err != nil {
						return nil, nil, "", err
					}
					return u, sandboxIDs(u.Sandboxes), u.NextCursor, nil
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			made, read := tt.list(t, tt.records, tt.limit)
			seen := map[string]bool{}
			cursor := ""
			for page := 1; ; page++ {
				answer, ids, next, err := read(cursor)
				if err != nil {
					t.Fatalf("page %d: %v", page, err)
				}
				n, err := wireSize(answer)
				if err != nil {
					t.Fatal(err)
				}
				if n > lambdaResponseLimit {
					t.Errorf("page %d of %d items takes %d bytes in the Lambda response, over Lambda's %d: it answers 500 in AWS",
						page, len(ids), n, lambdaResponseLimit)
				}
				if len(ids) == 0 && next != "" {
					t.Fatalf("page %d is empty, with a cursor to another", page)
				}
				for _, id := range ids {
					if seen[id] {
						t.Errorf("page %d gives %s again", page, id)
					}
					seen[id] = true
				}
				if cursor = next; cursor == "" {
					break
				}
			}
			for _, id := range made {
				if !seen[id] {
					t.Errorf("no page gives %s", id)
				}
			}
		})
	}
}

// tasksOf makes alice's tasks of command and reads their pages.
func tasksOf(command string) func(t *testing.T, n int, limit *int) ([]string, pageReader) {
	return func(t *testing.T, n int, limit *int) ([]string, pageReader) {
		h := newTaskHarness(t, nil)
		ctx := context.Background()
		// Each command passes the validation StartTask applies.
		if _, err := h.svc.validateExec(&ExecInput{Command: command}); err != nil {
			t.Fatalf("the command is refused: %v", err)
		}
		var made []string
		for i := range n {
			now := h.clock.Now().Add(time.Duration(i) * time.Second)
			tk := &sandstep.Task{ID: NewTaskID(), Owner: "alice", Status: sandstep.TaskSucceeded, Command: command,
				TimeoutSeconds: 3600, CreatedAt: now, FinishedAt: &now}
			if err := h.store.PutTask(ctx, tk); err != nil {
				t.Fatalf("PutTask %d: %v", i, err)
			}
			made = append(made, tk.ID)
		}
		return made, func(cursor string) (any, []string, string, error) {
			l, err := h.svc.ListTasks(ctx, alice(), TaskListInput{ListInput: ListInput{Limit: limit, Cursor: cursor}, Status: "all"})
			if err != nil {
				return nil, nil, "", err
			}
			ids := make([]string, len(l.Items))
			for i, tk := range l.Items {
				ids[i] = tk.ID
			}
			return l, ids, l.NextCursor, nil
		}
	}
}

// sandboxesWith creates n sandboxes of alice's with labels.
func sandboxesWith(t *testing.T, n int, labels map[string]string) (*harness, []string) {
	h := newHarness(t, n)
	var made []string
	for i := range n {
		sb, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{Labels: labels})
		if err != nil {
			t.Fatalf("CreateSandbox %d: %v", i, err)
		}
		made = append(made, sb.ID)
	}
	return h, made
}

func sandboxIDs(items []*sandstep.Sandbox) []string {
	ids := make([]string, len(items))
	for i, sb := range items {
		ids[i] = sb.ID
	}
	return ids
}
