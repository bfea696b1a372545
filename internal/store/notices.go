package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// PendingNotices returns every ended task, of every owner, whose
// completion notice is still pending: what the reaper attempts again.
func (s *Store) PendingNotices(ctx context.Context) ([]*sandstep.Task, error) {
	ended := stringsOf([]sandstep.TaskStatus{sandstep.TaskSucceeded, sandstep.TaskFailed, sandstep.TaskTimedOut, sandstep.TaskCancelled})
	filter := ofType(typeTask).
		And(inValues("notify.status", []string{string(sandstep.NoticePending)})).
		And(inValues("status", ended))
	var out []*sandstep.Task
	err := s.scan(ctx, filter, "pending notices", func(it map[string]types.AttributeValue) error {
		t, err := unmarshalRecord[sandstep.Task](it, typeTask)
		if err == nil {
			out = append(out, t)
		}
		return err
	})
	return out, err
}
