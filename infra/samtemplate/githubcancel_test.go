package samtemplate

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// README ("GitHub issues"): removing the label, or commenting cancel,
// cancels the issue's task. The GitHub function serves that cancel within
// its template Timeout (10 s, less the answer's reserve), and the cancel
// first stores what the command wrote since the last check for up to
// 10 s (the budget sized for DELETE /tasks/{id}'s 29 s). When Daytona is
// slow to answer that read (a runaway agent's sandbox, the very thing one
// cancels), the store spends the whole invocation: the task is never
// marked cancelled nor its execution stopped, and it runs on to its pull
// request. The same cancel through DELETE /tasks/{id} has the time left.
func TestGitHubCancelOutlastsItsTimeout(t *testing.T) {
	tpl, table := deployedTemplate(t, map[string]string{"GitHubAppId": "123456"})
	fn := deployedFn(t, tpl, "GithubFunction")
	gh := gitHubStandIn(t, 123456, 42, "octo", "hello", "alice")
	aws := newAsDeployed(t, fn, table)
	parametersOf(t, aws, oneRepository)
	putParameter(t, aws, "/sandstep/github/app-key", string(gh.key))
	st := aws.Store(t, table)

	owner := sandstep.RepoUser(gh.repo)
	meta := sandstep.Metadata{Repo: gh.repo, IssueID: strconv.FormatInt(gh.issue, 10), InstallationID: "42"}
	task := &sandstep.Task{
		ID: service.NewTaskID(), Owner: owner, Status: sandstep.TaskRunning,
		Command: "./agent.sh", TimeoutSeconds: 3600, CreatedAt: time.Now().Add(-10 * time.Minute), Metadata: meta,
	}
	sb := &sandstep.Sandbox{ID: service.NewSandboxID(), Owner: owner, State: sandstep.StateCreating, TaskID: task.ID, Metadata: meta}
	if err := st.RecordCreating(t.Context(), sb); err != nil {
		t.Fatal(err)
	}
	sb.DaytonaID = "daytona-1"
	if err := st.CommitSandbox(t.Context(), sb); err != nil {
		t.Fatal(err)
	}
	machine := strings.TrimSuffix(fn.Environment["STATE_MACHINE_ARN"], ":live")
	task.SandboxID, task.SessionID, task.CommandID = sb.ID, "session-1", "command-1"
	task.ExecutionARN = strings.Replace(machine, ":stateMachine:", ":execution:", 1) + ":" + task.ID
	started := time.Now().Add(-9 * time.Minute)
	task.StartedAt = &started
	if err := st.PutTask(t.Context(), task); err != nil {
		t.Fatal(err)
	}

	f, err := deployFunction(t, fn, aws, map[string]string{"GITHUB_API_URL": gh.url, "DAYTONA_API_URL": slowDaytona(t, 20*time.Second)})
	if err != nil {
		t.Fatalf("the function does not start: %v", err)
	}
	begun := time.Now()
	status, body := deliverIssue(t, f, gh, "webhook-secret-deployed", "unlabeled")
	took := time.Since(begun).Round(100 * time.Millisecond)

	got, err := st.GetTask(t.Context(), task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != sandstep.TaskCancelled {
		t.Errorf("the label removed (answered %d %s after %s, within the function's %d s), the issue's task is %s, want cancelled",
			status, body, took, fn.Timeout, got.Status)
	}
	if !slices.Contains(aws.Stopped(), task.ExecutionARN) {
		t.Errorf("the task's execution was not stopped (stopped: %v)", aws.Stopped())
	}
}

// slowDaytona is a Daytona API that answers nothing for delay (or until
// its caller gives up): a sandbox's toolbox under load.
func slowDaytona(t *testing.T, delay time.Duration) string {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(delay):
		}
		http.Error(w, `{"message": "slow"}`, http.StatusServiceUnavailable)
	}))
	t.Cleanup(func() { hs.CloseClientConnections(); hs.Close() })
	return hs.URL + "/api"
}
