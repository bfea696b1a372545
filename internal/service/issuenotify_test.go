package service

import (
	"context"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// An issue's task's notify.secretRef is not read where the issue starts
// it (the GitHub function may read no secret), but by its sandbox step,
// before anything is made: a reference that does not exist (a typo in the
// repositories document) fails the task at once, naming it, rather than
// after the task has run, when only its notice would fail.
func TestAnIssueTasksMissingNoticeSecretIsRefusedBeforeItRuns(t *testing.T) {
	ctx := context.Background()
	h := issueHarness(t, nil)
	h.svc.secrets = fakeSecrets{} // the repository holds no such secret
	h.svc.notifier = &fakeNotifier{}
	h.svc.repos = fakeRepos{"octo/hello": {Command: "./agent.sh", TimeoutSeconds: intp(600),
		Notify: &NotifyInput{URL: "https://hooks.example.com/done", SecretRef: "ssm:/sandstep/secrets/users/github:octo/hello/notfy"}}}

	// The issue starts its task, reading no secret.
	out, err := h.svc.HandleIssue(ctx, IssueEvent{Delivery: "d1", Repo: "octo/hello", InstallationID: 7, Issue: 3, Sender: "maintainer"})
	if err != nil || out == nil || out.Action != "started" {
		t.Fatalf("HandleIssue = %+v, %v; want the task started", out, err)
	}
	_, err = h.svc.CreateTaskSandbox(ctx, TaskStep{TaskID: out.TaskID, UserID: sandstep.RepoUser("octo/hello")})
	tk, gerr := h.store.GetTask(ctx, out.TaskID)
	if gerr != nil {
		t.Fatal(gerr)
	}
	if sandstep.ErrorField(err) != "notify.secretRef" || tk.SandboxID != "" {
		t.Errorf("an issue's task whose notify.secretRef does not exist: its sandbox step answered %v, and the task has sandbox %q; want it refused naming notify.secretRef, before any sandbox is made",
			err, tk.SandboxID)
	}
}
