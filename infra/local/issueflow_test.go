package local

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v88/github"

	"github.com/sandstep/sandstep/internal/awslocal"
	"github.com/sandstep/sandstep/internal/githublocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// The agent's command of the end-to-end test: it commits on the default
// branch of its clone, then tries to push with the token it holds.
const agentCommand = `cd hello &&
echo bonjour > hello.txt && git add hello.txt &&
git -c user.name=agent -c user.email=agent@example.test commit -qm 'Say bonjour' &&
if git push -q origin HEAD:refs/heads/agent-own 2>/dev/null; then echo AGENT-PUSHED; else echo AGENT-PUSH-REFUSED; fi`

// The whole flow over the local stack: a labelled issue's delivery starts
// a task; the agent's command commits and cannot push with its token;
// sandstep pushes sandstep/<taskId> through the GitHub stand-in and opens
// a pull request; the issue's one comment tells how it ended.
func TestIssueToPullRequestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	// The repositories' document, in the local SSM before the stack reads it.
	doc, err := json.Marshal(map[string]any{"repositories": map[string]any{
		DemoGitHubRepo: map[string]any{"task": map[string]any{"command": agentCommand, "timeoutSeconds": 300}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	edge, err := awslocal.New(awslocal.Options{Dir: filepath.Join(dir, "aws"), Region: DefaultRegion, AccountID: AccountID})
	if err != nil {
		t.Fatal(err)
	}
	if err := edge.PutSecureParameter("/sandstep-local/github-config", string(doc)); err != nil {
		t.Fatal(err)
	}
	if err := edge.Close(); err != nil { // the stack opens the directory next
		t.Fatal(err)
	}
	s := startStack(t, map[string]string{"GITHUB_CONFIG_REF": "ssm:/sandstep-local/github-config"}, func(o *Options) { o.DataDir = dir })
	if s.GitHubDemo == nil {
		t.Fatal("no demo GitHub App")
	}
	ctx := context.Background()

	// GitHub's delivery of the label, as the stand-in describes the repository.
	mainBefore := branchSHA(t, s, "main")
	taskID := deliverIssue(t, s, "Say hello in French; $(touch /tmp/pwned)", "hello.sh should say bonjour.")

	// The task runs to its end.
	svc, err := s.appEnv.Service(ctx)
	if err != nil {
		t.Fatal(err)
	}
	owner := service.Call{UserID: sandstep.RepoUser(DemoGitHubRepo), RequestID: "test"}
	var task *sandstep.Task
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		task, err = svc.GetTask(ctx, owner, taskID)
		if err != nil {
			t.Fatal(err)
		}
		if task.Status.Terminal() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task still %s after 2 minutes", task.Status)
		}
	}
	if task.Status != sandstep.TaskSucceeded {
		t.Fatalf("task %s: %s", task.Status, task.Error)
	}

	// The agent could not push; sandstep pushed its commit and opened the
	// pull request; the default branch did not move.
	logs, err := svc.ReadTaskLogs(ctx, owner, task.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	for _, ch := range logs.Chunks {
		stdout.WriteString(ch.Data)
	}
	if !strings.Contains(stdout.String(), "AGENT-PUSH-REFUSED") {
		t.Errorf("the agent's own push was not refused; its output:\n%s", stdout.String())
	}
	branches, err := s.github.Branches(DemoGitHubRepo)
	if err != nil {
		t.Fatal(err)
	}
	var pushed string
	for _, b := range branches {
		if b.Name == "agent-own" {
			t.Error("the agent's branch reached GitHub")
		}
		if b.Name == service.PushBranch(task.ID) {
			pushed = b.SHA
		}
	}
	if pushed == "" {
		t.Fatalf("no %s at GitHub; branches %+v", service.PushBranch(task.ID), branches)
	}
	if got := branchSHA(t, s, "main"); got != mainBefore {
		t.Errorf("main moved: %s -> %s", mainBefore, got)
	}
	pulls, err := s.github.Pulls(DemoGitHubRepo)
	if err != nil {
		t.Fatal(err)
	}
	if len(pulls) != 1 || pulls[0].Head != service.PushBranch(task.ID) || pulls[0].Base != "main" || pulls[0].HeadSHA != pushed ||
		!strings.Contains(pulls[0].Title, "$(touch /tmp/pwned)") {
		t.Fatalf("pull requests: %+v", pulls)
	}
	if want := "/pull/" + strconv.Itoa(pulls[0].Number); !strings.HasSuffix(task.PullRequest, want) {
		t.Errorf("the task's pull request: %q", task.PullRequest)
	}

	// One comment, edited to the outcome, with the pull request, once the
	// task's clean-up (the execution's last step) has run.
	var comments []githublocal.Comment
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if comments, err = s.github.Comments(DemoGitHubRepo, s.GitHubDemo.Issue); err != nil {
			t.Fatal(err)
		}
		if len(comments) != 1 || strings.Contains(comments[0].Body, "succeeded") || time.Now().After(deadline) {
			break
		}
	}
	if len(comments) != 1 || !strings.Contains(comments[0].Body, "succeeded") || !strings.Contains(comments[0].Body, task.PullRequest) {
		t.Errorf("issue comments: %+v", comments)
	}
	// No token reached the task's record or its command's log.
	if strings.Contains(stdout.String(), "ghs_") || strings.Contains(s.logs.String(), "ghs_") {
		t.Error("a GitHub token is in the task's output or the stack's log")
	}
}

func branchSHA(t *testing.T, s *testStack, name string) string {
	t.Helper()
	branches, err := s.github.Branches(DemoGitHubRepo)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range branches {
		if b.Name == name {
			return b.SHA
		}
	}
	t.Fatalf("no branch %s", name)
	return ""
}

// deliverIssue sends GitHub's delivery of the demo issue's label, the issue
// titled title with body, and returns the task it started.
func deliverIssue(t *testing.T, s *testStack, title, body string) string {
	t.Helper()
	ctx := context.Background()
	base := s.GitHubURL + "/"
	anon, err := github.NewClient(github.WithURLs(&base, &base))
	if err != nil {
		t.Fatal(err)
	}
	repo, _, err := anon.Repositories.Get(ctx, DemoGitHubOwner, "hello")
	if err != nil {
		t.Fatal(err)
	}
	sender := &github.User{Login: github.Ptr(DemoGitHubCollaborator), Type: github.Ptr("User")}
	payload, err := json.Marshal(github.IssuesEvent{
		Action: github.Ptr("labeled"), Label: &github.Label{Name: github.Ptr("sandstep")},
		Issue: &github.Issue{Number: github.Ptr(s.GitHubDemo.Issue), Title: github.Ptr(title), Body: github.Ptr(body), User: sender},
		Repo:  repo, Installation: &github.Installation{ID: github.Ptr(s.GitHubDemo.InstallationID)}, Sender: sender,
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := githublocal.SendWebhook(ctx, nil, s.APIURL+"/webhooks/github", githublocal.Webhook{Event: "issues", Payload: payload, Secret: LocalWebhookSecret})
	if err != nil {
		t.Fatal(err)
	}
	var out service.IssueOutcome
	if res.StatusCode != http.StatusAccepted || json.Unmarshal(res.Body, &out) != nil || out.Action != "started" {
		t.Fatalf("delivery: %d %s, want 202 started", res.StatusCode, res.Body)
	}
	return out.TaskID
}
