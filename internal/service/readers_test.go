package service

import (
	"context"
	"errors"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// fakeReaders: each repository's readers; err fails every answer.
type fakeReaders struct {
	by  map[string][]string
	err error
}

func (r fakeReaders) Readers(_ context.Context, repo string) ([]string, error) {
	return r.by[repo], r.err
}

// A repository's task is seen and cancelled by its readers as by the
// repository itself; to anyone else it does not exist.
func TestReadersOfRepositoryTasks(t *testing.T) {
	ops := map[string]func(*Service, Call, string) error{
		"get": func(s *Service, c Call, id string) error {
			_, err := s.GetTask(context.Background(), c, id)
			return err
		},
		"logs": func(s *Service, c Call, id string) error {
			_, err := s.ReadTaskLogs(context.Background(), c, id, "")
			return err
		},
		"artifacts": func(s *Service, c Call, id string) error {
			_, err := s.TaskArtifacts(context.Background(), c, id)
			return err
		},
		"cancel": func(s *Service, c Call, id string) error {
			_, err := s.CancelTask(context.Background(), c, id)
			return err
		},
		"events": func(s *Service, c Call, id string) error {
			_, err := s.TaskEvents(context.Background(), c, id, ListInput{})
			return err
		},
	}
	tests := []struct {
		name    string
		caller  string
		readers fakeReaders
		want    sandstep.Code // "" for allowed
	}{
		{"the repository itself", "github:octo/hello", fakeReaders{}, ""},
		{"a reader", "alice", fakeReaders{by: map[string][]string{"octo/hello": {"bob", "alice"}}}, ""},
		{"not a reader", "mallory", fakeReaders{by: map[string][]string{"octo/hello": {"alice"}}}, sandstep.ENOTFOUND},
		{"a reader of another repository", "alice", fakeReaders{by: map[string][]string{"octo/other": {"alice"}}}, sandstep.ENOTFOUND},
		{"a reader whose case differs", "Alice", fakeReaders{by: map[string][]string{"octo/hello": {"alice"}}}, sandstep.ENOTFOUND},
		{"readers that cannot be read", "alice", fakeReaders{err: errors.New("ssm down")}, sandstep.ENOTFOUND},
	}
	for _, tt := range tests {
		for op, do := range ops {
			t.Run(tt.name+"/"+op, func(t *testing.T) {
				h := newFaultHarness(t, 5)
				h.svc.readers = tt.readers
				h.svc.auditLog = h.store
				repoTask, err := h.svc.StartTask(context.Background(), Call{UserID: "github:octo/hello", RequestID: "r1"}, TaskInput{Command: "true"})
				if err != nil {
					t.Fatal(err)
				}
				err = do(h.svc, Call{UserID: tt.caller, RequestID: "r2"}, repoTask.ID)
				if got := sandstep.ErrorCode(err); got != tt.want {
					t.Fatalf("%s by %s = %v, want code %q", op, tt.caller, err, tt.want)
				}
				got, _ := h.store.GetTask(context.Background(), repoTask.ID)
				if cancelled := got.Status == sandstep.TaskCancelled; cancelled != (op == "cancel" && tt.want == "") {
					t.Errorf("status %s after %s by %s", got.Status, op, tt.caller)
				}
			})
		}
	}
}

// A user's own task is never anyone's to read, readers or not: only
// repositories have readers.
func TestReadersOfUserTasks(t *testing.T) {
	h := newFaultHarness(t, 5)
	h.svc.readers = fakeReaders{by: map[string][]string{"bob": {"alice"}, "octo/hello": {"alice"}}}
	own, err := h.svc.StartTask(context.Background(), Call{UserID: "bob", RequestID: "r1"}, TaskInput{Command: "true"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.GetTask(context.Background(), Call{UserID: "alice"}, own.ID); sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
		t.Errorf("alice reads bob's task: %v", err)
	}
}

// A reader's list is their own tasks: the repository's are not theirs.
func TestReaderCannotListRepositoryTasks(t *testing.T) {
	ctx := context.Background()
	h := newFaultHarness(t, 5)
	h.svc.readers = fakeReaders{by: map[string][]string{"octo/hello": {"alice"}}}
	if _, err := h.svc.StartTask(ctx, Call{UserID: "github:octo/hello", RequestID: "r1"}, TaskInput{Command: "true"}); err != nil {
		t.Fatal(err)
	}
	mine, err := h.svc.StartTask(ctx, Call{UserID: "alice", RequestID: "r2"}, TaskInput{Command: "true"})
	if err != nil {
		t.Fatal(err)
	}
	for _, status := range []string{"", "all"} {
		list, err := h.svc.ListTasks(ctx, Call{UserID: "alice"}, TaskListInput{Status: status})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 1 || list.Items[0].ID != mine.ID {
			t.Errorf("status %q: alice lists %d tasks, want only her own %s", status, len(list.Items), mine.ID)
		}
	}
}

// A reader's cancel is audited as theirs, naming the repository's task
// and its owner; the task's error names no reader.
func TestReaderCancelIsAudited(t *testing.T) {
	ctx := context.Background()
	h := newFaultHarness(t, 5)
	h.svc.readers = fakeReaders{by: map[string][]string{"octo/hello": {"alice"}}}
	tk, err := h.svc.StartTask(ctx, Call{UserID: "github:octo/hello", RequestID: "r1"}, TaskInput{Command: "true"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.svc.CancelTask(ctx, Call{UserID: "alice", RequestID: "r2"}, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Error != "cancelled by a reader of the repository" {
		t.Errorf("error %q", got.Error)
	}
	events, _, err := h.store.ListAudit(ctx, "", tk.ID, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, ev := range events {
		if ev.Action == ActionTaskCancel {
			found = true
			if ev.UserID != "alice" || ev.Detail["owner"] != "github:octo/hello" || ev.RequestID != "r2" {
				t.Errorf("cancel audited as %+v, want alice's, naming the owner", ev)
			}
		}
	}
	if !found {
		t.Errorf("no %s event in %+v", ActionTaskCancel, events)
	}
}
