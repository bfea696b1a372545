package service

import (
	"context"
	"strings"
	"testing"
)

// GitHub allows owners of 39 characters and repository names of 100: the
// repository's user id ("github:" + owner/name) is then 147 bytes, and its
// issues start tasks as any other's do.
func TestAnIssueOfTheLongestRepositoryNameStartsItsTask(t *testing.T) {
	h := issueHarness(t, nil)
	repo := strings.Repeat("o", 39) + "/" + strings.Repeat("r", 100)
	h.svc.repos = fakeRepos{repo: {Command: "./agent.sh", TimeoutSeconds: intp(600)}}
	out, err := h.svc.HandleIssue(context.Background(), IssueEvent{Delivery: "d1", Repo: repo, InstallationID: 7, Issue: 1,
		Sender: "maintainer", CloneURL: "https://github.com/" + repo + ".git", DefaultBranch: "main"})
	if err != nil || out.Action != "started" {
		t.Fatalf("HandleIssue = %+v, %v; want started", out, err)
	}
	tk, err := h.store.GetTask(context.Background(), out.TaskID)
	if err != nil || tk.Owner != "github:"+repo {
		t.Fatalf("task %+v, %v; want the repository's", tk, err)
	}
}
