package local

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/service"
)

// makeSwitch runs `make drain` or `make resume` against the stack's SSM,
// as README tells an operator to.
func makeSwitch(t *testing.T, s *testStack, target string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "-s", "-C", "../..", target, "AWS_ENDPOINT_URL="+s.AWSURL)
	home := t.TempDir()
	cmd.Env = []string{
		"PATH=/usr/bin:/bin", "HOME=" + home,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", target, err, out)
	}
}

// The drain switch over the local stack, flipped with make drain and make
// resume: while drained a create and a task get 503 with the message, a
// read and a delete work, a running task finishes, a console start fails
// at Prepare with Sandbox.Draining, and an issue's task waits, its
// comment saying paused; once resumed, that task runs to its end.
func TestDrainAndResume(t *testing.T) {
	needAWSCLI(t)
	s := startStack(t, nil, func(o *Options) {
		// Every call reads the switch, so the test looks right after a flip.
		o.DrainMaxAge = -1
		o.RetryIntervalOverrides = map[string]time.Duration{"CreateSandbox": 200 * time.Millisecond}
	})
	if s.GitHubDemo == nil {
		t.Fatal("no demo GitHub App")
	}
	sb := s.create("alice", nil)
	running := s.startTask("alice", map[string]any{"command": "sleep 2; echo finished"})
	s.waitRunning("alice", running.ID)

	makeSwitch(t, s, "drain")
	for _, post := range []struct{ path, body string }{
		{"/sandboxes", `{}`},
		{"/tasks", `{"command":"true"}`},
		{"/api/agent/execute", `{"command":"true"}`},
	} {
		res := s.as("alice", http.MethodPost, post.path, json.RawMessage(post.body))
		if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") != "60" ||
			!strings.Contains(string(res.body), `"code":"draining"`) || !strings.Contains(string(res.body), service.DrainedMessage) {
			t.Errorf("POST %s while drained: %d %v %s, want 503 draining with Retry-After", post.path, res.status, res.header, res.body)
		}
	}
	if res := s.as("alice", http.MethodGet, "/sandboxes/"+sb.ID, nil); res.status != http.StatusOK {
		t.Errorf("a read while drained: %d %s", res.status, res.body)
	}
	if res := s.as("alice", http.MethodDelete, "/sandboxes/"+sb.ID, nil); res.status != http.StatusOK {
		t.Errorf("a delete while drained: %d %s", res.status, res.body)
	}
	if done := s.waitTask("alice", running.ID, time.Minute); done.Status != "succeeded" {
		t.Errorf("the task running when drained ended %+v", done)
	}

	// A console start stops at its first state.
	console := service.NewTaskID()
	s.sfn("StartExecution", map[string]any{"stateMachineArn": s.StateMachineARNs[0], "name": console,
		"input": `{"userId":"carol","task":{"command":"true"}}`}, nil)
	s.waitExecution(console, 30*time.Second)
	if st, errName, cause := s.describe(console); st != "FAILED" || errName != "Sandbox.Draining" || !strings.Contains(cause, service.DrainedMessage) {
		t.Errorf("console start while drained: %s %s %q, want FAILED Sandbox.Draining with the message", st, errName, cause)
	}
	if !s.historyHas(console, "LambdaFunctionFailed", "Sandbox.Draining") {
		t.Errorf("Prepare did not fail with Sandbox.Draining: %+v", s.history(console))
	}
	if res := s.as("carol", http.MethodGet, "/tasks/"+console, nil); res.status != http.StatusNotFound {
		t.Errorf("the refused console start kept a task: %d %s", res.status, res.body)
	}

	// An issue's delivery is accepted; its task waits, paused.
	issueTask := deliverIssue(t, s, "Say hello", "")
	comment := waitComment(t, s, "paused task `"+issueTask+"`")
	if !strings.Contains(comment, "drained for maintenance") {
		t.Errorf("the paused comment: %q", comment)
	}
	if res := s.as("alice", http.MethodGet, "/tasks", nil); res.status != http.StatusOK {
		t.Errorf("a list while drained: %d", res.status)
	}

	makeSwitch(t, s, "resume")
	waitComment(t, s, "started task `"+issueTask+"`")
	waitComment(t, s, "succeeded")
	if res := s.as("alice", http.MethodPost, "/sandboxes", json.RawMessage(`{}`)); res.status != http.StatusCreated {
		t.Errorf("a create once resumed: %d %s", res.status, res.body)
	}
}

// waitComment waits for the demo issue's comment to say want, and returns it.
func waitComment(t *testing.T, s *testStack, want string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		comments, err := s.github.Comments(DemoGitHubRepo, s.GitHubDemo.Issue)
		if err != nil {
			t.Fatal(err)
		}
		if len(comments) == 1 && strings.Contains(comments[0].Body, want) {
			return comments[0].Body
		}
		if time.Now().After(deadline) {
			t.Fatalf("the issue's comments do not say %q: %+v", want, comments)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
