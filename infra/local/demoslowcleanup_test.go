package local

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

// slowCleanup delays the delete function's task clean-up, as a real
// Daytona's sandbox delete (seconds) or a busy machine does.
type slowCleanup struct{ lambda.Handler }

func (h slowCleanup) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	if bytes.Contains(payload, []byte(`"task-cleanup"`)) {
		time.Sleep(1500 * time.Millisecond)
	}
	return h.Handler.Invoke(ctx, payload)
}

// The demo's last check waits for the task's clean-up, which deletes its
// sandbox after the task's status is written: a real Daytona's delete, or
// a busy machine, takes seconds.
func TestDemoWaitsForTheTasksCleanup(t *testing.T) {
	s := startStack(t, nil, func(o *Options) {
		o.WrapHandler = func(function string, h lambda.Handler) lambda.Handler {
			if function == "delete" {
				return slowCleanup{h}
			}
			return h
		}
	})
	var out strings.Builder
	if err := RunDemo(context.Background(), demoOptions(s, &out)); err != nil {
		t.Fatalf("RunDemo with a task clean-up of 1.5 s: %v\noutput:\n%s", err, out.String())
	}
}
