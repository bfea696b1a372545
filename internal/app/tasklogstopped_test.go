package app

import (
	"context"
	"net/http"
	"testing"

	"github.com/sandstep/sandstep/internal/testutil"
)

// README (GET /tasks/{id}/logs): a reader who has everything stored is
// given the newer bytes straight from the sandbox, and "such reads write
// nothing". A running task's sandbox Daytona stopped (an operator, the
// organisation suspended) must stay stopped when someone reads the logs:
// the read goes through the exec path, which starts again a sandbox it
// finds stopped, so a reader (a repository's reader too) restarts it,
// running and billing it behind the task's watch, whose check then
// meets a started sandbox with its command gone instead of the stop.
func TestTaskLogReadLeavesAStoppedSandboxStopped(t *testing.T) {
	rec := &testutil.Recorder{}
	s := newTaskStack(t, rec, testutil.DynamoDBLatency(0, 0), testutil.DaytonaLatency(testutil.DaytonaDelays{}), testutil.AWSLatency(0))
	id, st := s.startedTask(t, "echo out; sleep 60")
	ctx := context.Background()

	sb, err := s.store.GetSandbox(ctx, st.SandboxID)
	if err != nil {
		t.Fatal(err)
	}
	// Daytona stops it behind sandstep's back.
	req, err := http.NewRequest(http.MethodPost, s.client.APIURL()+"/sandbox/"+sb.DaytonaID+"/stop", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+daytonaKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stop: %s", res.Status)
	}

	status, logs := s.call(t, "alice", "GET /tasks/{id}/logs", "/tasks/"+id+"/logs", nil)
	if status != 200 {
		t.Fatalf("GET logs: %d %v", status, logs)
	}
	got, err := s.client.GetSandbox(ctx, sb.DaytonaID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != "stopped" {
		t.Errorf("after a read of the task's logs the stopped sandbox is %s (desired %s): the read started it", got.State, got.DesiredState)
	}
}
