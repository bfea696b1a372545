package service

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// githubFunctionSecrets are the caller secrets as the GitHub function sees
// them: it may check a reference (checkSecrets reads nothing), but its role
// may not read any value (template.yaml: GithubFunction has no
// ssm:GetParameter on SecretsPathPrefix, no secretsmanager:GetSecretValue).
type githubFunctionSecrets struct{ fakeSecrets }

func (githubFunctionSecrets) Resolve(_ context.Context, _, field, ref string) (string, error) {
	return "", sandstep.Errorf(sandstep.EINTERNAL, "AccessDeniedException: not authorized to perform ssm:GetParameter on %s", ref)
}

// An issue's task the GitHub function could not start is told on
// its issue by the GitHub function itself (tellNotStarted). Its error is
// sandstep's own text ("the task could not be started: ..."), with nothing
// of the agent's in it; the comment must still say why.
func TestNotStartedCommentSaysWhyFromTheGitHubFunction(t *testing.T) {
	const ref = "ssm:/sandstep/secrets/users/github:octo/hello/key"
	tests := []struct {
		name    string
		secrets SecretResolver
	}{
		{"a task without secrets", nil},
		{"a task with the repository's secret, from the GitHub function", githubFunctionSecrets{fakeSecrets{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			comments := &fakeComments{bodies: map[int64]string{}}
			h := issueHarness(t, comments)
			if tt.secrets != nil {
				h.svc.repos = fakeRepos{"octo/hello": TaskInput{Command: "./agent.sh", TimeoutSeconds: intp(600),
					Sandbox: CreateSandboxInput{SecretEnv: map[string]string{"KEY": ref}}}}
				h.svc.secrets = tt.secrets
			}
			h.svc.machine = &startWatcher{tasks: h.store, fail: true}
			if _, err := h.svc.HandleIssue(ctx, IssueEvent{Delivery: "d1", Repo: "octo/hello", InstallationID: 7, Issue: 3, Sender: "maintainer"}); err == nil {
				t.Fatal("HandleIssue started a task whose execution could not start")
			}
			if body := comments.bodies[1]; !strings.Contains(body, "the task could not be started") {
				t.Errorf("the issue's comment does not say why the task failed:\n%s", body)
			}
		})
	}
}
