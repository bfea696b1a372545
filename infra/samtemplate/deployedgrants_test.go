package samtemplate

import (
	"encoding/json"
	"maps"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/githublocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// deployedTemplate is the template as deployed with samconfig's
// placeholders for the identity provider and the extra parameter
// overrides, and its table's logical id.
func deployedTemplate(t *testing.T, extra map[string]string) (*Template, string) {
	t.Helper()
	params := map[string]string{"JwtIssuer": "https://issuer.example.com/", "JwtAudience": "sandstep-api"}
	maps.Copy(params, extra)
	tpl, err := Load(repoTemplate, WithParameters(params))
	if err != nil {
		t.Fatal(err)
	}
	table, err := tpl.TableLogicalID()
	if err != nil {
		t.Fatal(err)
	}
	return tpl, table
}

// deployedFn is the function id of tpl.
func deployedFn(t *testing.T, tpl *Template, id string) Function {
	t.Helper()
	fn, ok := tpl.Function(id)
	if !ok {
		t.Fatalf("no %s", id)
	}
	return fn
}

// parametersOf fills aws's SSM with what a deployment keeps there (the
// template's default parameter names): the Daytona key, the webhook's
// secret, the repositories document and the App's key.
func parametersOf(t *testing.T, aws *asDeployed, doc string) {
	t.Helper()
	key, _, err := githublocal.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	putParameter(t, aws, "/sandstep/daytona-api-key", deployedDaytonaKey)
	putParameter(t, aws, "/sandstep/github/webhook-secret", "webhook-secret-deployed")
	putParameter(t, aws, "/sandstep/github/app-key", string(key))
	putParameter(t, aws, "/sandstep/github/config", doc)
}

const oneRepository = `{"repositories": {"octo/hello": {"task": {"command": "./agent.sh"}}}}`

// With a GitHub App (GitHubAppId set), every function's cold start reads
// the App's key (internal/app Lifecycle -> Service -> gitHubDeps ->
// GitHubApp), since every function gets GITHUB_APP_KEY_REF from Globals.
// Each function's role must be allowed that read, or the function exits
// at init (app.Main) and serves nothing: the functions' bootstraps are
// built as deployed, their SSM refusing what their own policy does not
// grant.
func TestDeployedColdStartWithGitHubApp(t *testing.T) {
	tpl, table := deployedTemplate(t, map[string]string{"GitHubAppId": "123456"})
	for _, fn := range tpl.Functions() {
		t.Run(fn.LogicalID, func(t *testing.T) {
			aws := newAsDeployed(t, fn, table)
			parametersOf(t, aws, oneRepository)
			if _, err := deployFunction(t, fn, aws, nil); err != nil {
				t.Errorf("the function does not start: %v\n(refused: %v)", err, aws.Denied())
			}
		})
	}
}

// An issue's task that ends lets the issue's claim go in the same write
// (store.TransitionTask: a transaction with a Delete of the claim item),
// and IAM authorises a transaction's Delete as dynamodb:DeleteItem. The
// state machine's clean-up (DeleteFunction, task-cleanup) ends every issue
// task that its own steps did not: one whose sandbox could not be made,
// whose command failed to start, whose watch failed. Run as deployed, the
// clean-up of a running issue task must end it.
func TestDeployedCleanUpEndsAnIssueTask(t *testing.T) {
	tpl, table := deployedTemplate(t, nil)
	fn := deployedFn(t, tpl, "DeleteFunction")
	aws := newAsDeployed(t, fn, table)
	parametersOf(t, aws, oneRepository)
	st := aws.Store(t, table)
	task := &sandstep.Task{
		ID: service.NewTaskID(), Owner: sandstep.RepoUser("octo/hello"), Status: sandstep.TaskRunning,
		Command: "./agent.sh", TimeoutSeconds: 600, CreatedAt: time.Now().Add(-time.Minute),
		Metadata: sandstep.Metadata{Repo: "octo/hello", IssueID: "7", InstallationID: "42"},
	}
	if err := st.PutTask(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	f, err := deployFunction(t, fn, aws, nil)
	if err != nil {
		t.Fatalf("the function does not start: %v", err)
	}
	_, err = f.invoke(t, map[string]any{
		"action": "task-cleanup", "taskId": task.ID,
		"failure": map[string]string{"Error": "Sandbox.Failed", "Cause": `{"errorMessage": "the sandbox could not be created"}`},
	})
	// The clean-up of a task that failed answers its outcome, Task.Failed.
	if err == nil || !strings.Contains(err.Error(), "Task.Failed") {
		t.Errorf("task-cleanup = %v, want the outcome Task.Failed", err)
	}
	got, gerr := st.GetTask(t.Context(), task.ID)
	if gerr != nil {
		t.Fatal(gerr)
	}
	if got.Status != sandstep.TaskFailed {
		t.Errorf("the issue's task is %s after its clean-up, want failed; refused: %v", got.Status, aws.Denied())
	}
	if d := aws.Denied(); len(d) > 0 {
		t.Errorf("DeleteFunction's role was refused %v", d)
	}
}

// A repository's task may ask for a signed completion notice
// (notify.secretRef, a secret of the repository's tree below
// SecretsPathPrefix: internal/service checkIssueTask accepts it). The
// GitHub function, which starts issues' tasks, may read no caller's
// secret: run as deployed, the webhook's delivery of the label must start
// the task all the same.
func TestDeployedIssueTaskWithASignedNotice(t *testing.T) {
	tpl, table := deployedTemplate(t, map[string]string{"GitHubAppId": "123456"})
	fn := deployedFn(t, tpl, "GithubFunction")
	gh := gitHubStandIn(t, 123456, 42, "octo", "hello", "alice")
	aws := newAsDeployed(t, fn, table)
	parametersOf(t, aws, `{"repositories": {"octo/hello": {"task": {"command": "./agent.sh",
		"notify": {"url": "https://hooks.example.com/sandstep", "secretRef": "ssm:/sandstep/secrets/repos/octo/hello/notify"}}}}}`)
	putParameter(t, aws, "/sandstep/github/app-key", string(gh.key))
	putParameter(t, aws, "/sandstep/secrets/repos/octo/hello/notify", "notice-signing-secret")
	f, err := deployFunction(t, fn, aws, map[string]string{"GITHUB_API_URL": gh.url})
	if err != nil {
		t.Fatalf("the function does not start: %v", err)
	}
	status, body := deliverIssue(t, f, gh, "webhook-secret-deployed", "labeled")
	if status != 202 {
		t.Errorf("the label's delivery = %d %s, want 202 started", status, body)
	}
	if d := aws.Denied(); len(d) > 0 {
		t.Errorf("GithubFunction's role was refused %v", d)
	}
}

// deliverIssue is GitHub's delivery of the issues event action (labeled,
// unlabeled) of the sandstep label on gh's issue, through the HTTP API
// (payload format 2.0) as GitHub sends it: the webhook's answer.
func deliverIssue(t *testing.T, f *deployedFunction, gh *gitHub, secret, action string) (int, string) {
	t.Helper()
	sender := map[string]any{"login": gh.sender, "type": "User"}
	payload, err := json.Marshal(map[string]any{
		"action": action, "label": map[string]any{"name": "sandstep"},
		"issue":        map[string]any{"number": gh.issue, "title": "Fix it", "body": "please", "user": sender},
		"repository":   map[string]any{"full_name": gh.repo, "default_branch": "main", "clone_url": gh.url + "/" + gh.repo + ".git"},
		"installation": map[string]any{"id": gh.installation}, "sender": sender,
	})
	if err != nil {
		t.Fatal(err)
	}
	const route = "POST /webhooks/github"
	ev := map[string]any{
		"version": "2.0", "routeKey": route, "rawPath": "/webhooks/github", "body": string(payload),
		"headers": map[string]string{
			"content-type": "application/json", "x-github-event": "issues", "x-github-delivery": "delivery-" + action,
			"x-hub-signature-256": githublocal.SignWebhook(secret, payload),
		},
		"requestContext": map[string]any{"routeKey": route, "requestId": "req-" + action, "stage": "$default",
			"http": map[string]any{"method": "POST", "path": "/webhooks/github"}},
	}
	out, err := f.invoke(t, ev)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	var resp struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("answer %s: %v", out, err)
	}
	return resp.StatusCode, resp.Body
}

// gitHub is a GitHub stand-in with the App installed on owner, its
// repository name, sender a writer of it and one issue open.
type gitHub struct {
	url, repo, sender   string
	key                 []byte
	installation, issue int64
}

func gitHubStandIn(t *testing.T, appID, installation int64, owner, name, sender string) *gitHub {
	t.Helper()
	srv, err := githublocal.New(githublocal.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	key, pub, err := githublocal.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	repo := owner + "/" + name
	if err := srv.AddApp(githublocal.App{ID: appID, PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.CreateRepository(githublocal.Repository{Owner: owner, Name: name}); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddInstallation(githublocal.Installation{ID: installation, AppID: appID, Account: owner}); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetCollaborator(repo, sender, "write"); err != nil {
		t.Fatal(err)
	}
	issue, err := srv.CreateIssue(repo, "Fix it", "please", sender)
	if err != nil {
		t.Fatal(err)
	}
	return &gitHub{url: hs.URL, repo: repo, sender: sender, key: key, installation: installation, issue: int64(issue)}
}

// The same end, in the two other functions that end a running issue task
// its own steps did not: the watch (StatusFunction, task-check) when the
// task's sandbox has vanished, and the reaper (ReaperFunction) when the
// task's execution has ended without its clean-up (its status-change
// event lost). Each must end the task, as deployed.
func TestDeployedOtherEndsOfAnIssueTask(t *testing.T) {
	tpl, table := deployedTemplate(t, nil)
	tests := []struct {
		fn      string
		sandbox bool // the task has a sandbox (ready), which Daytona has lost
		payload func(task *sandstep.Task) any
	}{
		{"StatusFunction", true, func(task *sandstep.Task) any {
			return map[string]any{"action": "task-check", "taskId": task.ID, "userId": task.Owner, "sandboxId": task.SandboxID}
		}},
		{"ReaperFunction", false, func(*sandstep.Task) any { return map[string]any{"action": "reap"} }},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			fn := deployedFn(t, tpl, tt.fn)
			aws := newAsDeployed(t, fn, table)
			parametersOf(t, aws, oneRepository)
			daytonaURL := daytonaStandIn(t, deployedDaytonaKey)
			st := aws.Store(t, table)
			owner := sandstep.RepoUser("octo/hello")
			task := &sandstep.Task{
				ID: service.NewTaskID(), Owner: owner, Status: sandstep.TaskRunning,
				Command: "./agent.sh", TimeoutSeconds: 600, CreatedAt: time.Now().Add(-time.Hour),
				Metadata: sandstep.Metadata{Repo: "octo/hello", IssueID: "7", InstallationID: "42"},
			}
			if tt.sandbox {
				sb := &sandstep.Sandbox{ID: service.NewSandboxID(), Owner: owner, State: sandstep.StateCreating, TaskID: task.ID,
					Metadata: task.Metadata}
				if err := st.RecordCreating(t.Context(), sb); err != nil {
					t.Fatal(err)
				}
				sb.DaytonaID = "lost-sandbox"
				if err := st.CommitSandbox(t.Context(), sb); err != nil {
					t.Fatal(err)
				}
				task.SandboxID, task.SessionID, task.CommandID = sb.ID, "session-1", "command-1"
			}
			if err := st.PutTask(t.Context(), task); err != nil {
				t.Fatal(err)
			}
			f, err := deployFunction(t, fn, aws, map[string]string{"DAYTONA_API_URL": daytonaURL})
			if err != nil {
				t.Fatalf("the function does not start: %v", err)
			}
			_, err = f.invoke(t, tt.payload(task))
			got, gerr := st.GetTask(t.Context(), task.ID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if got.Status != sandstep.TaskFailed {
				t.Errorf("the issue's task is %s after %s (answered %v), want failed", got.Status, tt.fn, err)
			}
			if d := aws.Denied(); len(d) > 0 {
				t.Errorf("%s's role was refused %v", tt.fn, d)
			}
		})
	}
}

// daytonaStandIn is a Daytona API (the local server) taking key; its URL
// is DAYTONA_API_URL's.
func daytonaStandIn(t *testing.T, key string) string {
	t.Helper()
	srv, err := daytonalocal.New(daytonalocal.Options{Root: t.TempDir(), APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return hs.URL + "/api"
}
