package service

import (
	"context"
	"errors"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// While the repositories document cannot be read, someone who is not a
// repository's reader is answered for its task as for an id that does not
// exist: the answer must not tell them the id is a task.
func TestUnreadableReadersHideTasks(t *testing.T) {
	ops := []struct {
		name string
		do   func(*Service, Call, string) error
	}{
		{"get", func(s *Service, c Call, id string) error {
			_, err := s.GetTask(context.Background(), c, id)
			return err
		}},
		{"logs", func(s *Service, c Call, id string) error {
			_, err := s.ReadTaskLogs(context.Background(), c, id, "")
			return err
		}},
		{"artifacts", func(s *Service, c Call, id string) error {
			_, err := s.TaskArtifacts(context.Background(), c, id)
			return err
		}},
		{"cancel", func(s *Service, c Call, id string) error {
			_, err := s.CancelTask(context.Background(), c, id)
			return err
		}},
		{"events", func(s *Service, c Call, id string) error {
			_, err := s.TaskEvents(context.Background(), c, id, ListInput{})
			return err
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			h := newFaultHarness(t, 5)
			h.svc.readers = fakeReaders{err: errors.New("ssm throttled")}
			h.svc.auditLog = h.store
			tk, err := h.svc.StartTask(context.Background(), Call{UserID: "github:octo/hello", RequestID: "r1"}, TaskInput{Command: "true"})
			if err != nil {
				t.Fatal(err)
			}
			mallory := Call{UserID: "mallory", RequestID: "r2"}
			missing := op.do(h.svc, mallory, "tsk_"+randomID())
			if sandstep.ErrorCode(missing) != sandstep.ENOTFOUND {
				t.Fatalf("%s of a missing id = %v, want not found", op.name, missing)
			}
			existing := op.do(h.svc, mallory, tk.ID)
			if got, want := sandstep.ErrorCode(existing), sandstep.ErrorCode(missing); got != want {
				t.Errorf("%s of a repository's task by a stranger = %v (code %q), of a missing id code %q: the id is told to exist", op.name, existing, got, want)
			}
			got, _ := h.store.GetTask(context.Background(), tk.ID)
			if got.Status == sandstep.TaskCancelled {
				t.Errorf("%s by a stranger cancelled the repository's task", op.name)
			}
		})
	}
}
