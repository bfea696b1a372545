package local

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"
)

// Administration over the local stack, as an operator and two users would
// use it: LOCAL_ADMIN_USERS=root makes root's token carry the group.
func TestAdministrationOverLocalStack(t *testing.T) {
	s := startStack(t, map[string]string{"LOCAL_ADMIN_USERS": "root"})
	quota := "/admin/users/alice/quota"

	// Anyone without the group finds nothing there, whatever they send.
	for _, tc := range []struct {
		method string
		body   any
	}{{http.MethodGet, nil}, {http.MethodPut, map[string]any{"limit": 9}}, {http.MethodPut, "not json"}, {http.MethodDelete, nil}} {
		for _, user := range []string{"bob", "alice"} {
			if res := s.as(user, tc.method, quota, tc.body); res.status != http.StatusNotFound || res.errorCode() != "not_found" {
				t.Errorf("%s %s by %s: %d %s, want 404", tc.method, quota, user, res.status, res.body)
			}
		}
	}

	// root sets alice's limit to 1: her second create is refused.
	var q struct {
		UserID   string `json:"userId"`
		Limit    int    `json:"limit"`
		LimitSet bool   `json:"limitSet"`
		Active   int    `json:"active"`
	}
	if res := s.as("root", http.MethodPut, quota, map[string]any{"limit": 1}); res.status != http.StatusOK {
		t.Fatalf("root sets alice's limit: %d %s", res.status, res.body)
	} else if res.decode(t, &q); q.Limit != 1 || !q.LimitSet || q.UserID != "alice" {
		t.Errorf("after the set: %+v", q)
	}
	for _, body := range []any{map[string]any{}, map[string]any{"limit": -1}, map[string]any{"limit": "1"}, map[string]any{"limit": 1, "extra": true}} {
		if res := s.as("root", http.MethodPut, quota, body); res.status != http.StatusBadRequest {
			t.Errorf("PUT %v: %d %s, want 400", body, res.status, res.body)
		}
	}
	sb := s.create("alice", nil)
	if res := s.as("alice", http.MethodPost, "/sandboxes", map[string]any{}); res.status != http.StatusTooManyRequests {
		t.Fatalf("alice's second create: %d %s, want 429", res.status, res.body)
	}

	// root reads alice's usage: her limit, the slot in use, her sandbox.
	var usage struct {
		Limit     int           `json:"limit"`
		LimitSet  bool          `json:"limitSet"`
		Active    int           `json:"active"`
		Sandboxes []sandboxJSON `json:"sandboxes"`
	}
	res := s.as("root", http.MethodGet, quota, nil)
	if res.status != http.StatusOK {
		t.Fatalf("root reads alice's usage: %d %s", res.status, res.body)
	}
	if res.decode(t, &usage); usage.Limit != 1 || !usage.LimitSet || usage.Active != 1 || len(usage.Sandboxes) != 1 || usage.Sandboxes[0].ID != sb.ID {
		t.Errorf("alice's usage = %+v, want limit 1, 1 in use, %s", usage, sb.ID)
	}

	// alice reads her sandbox's events; to bob it does not exist.
	var events struct {
		Items []struct {
			Action string `json:"action"`
			UserID string `json:"userId"`
		} `json:"items"`
		NextCursor string `json:"nextCursor"`
	}
	if res := s.as("alice", http.MethodGet, "/sandboxes/"+sb.ID+"/events?limit=1", nil); res.status != http.StatusOK {
		t.Fatalf("alice reads her sandbox's events: %d %s", res.status, res.body)
	} else if res.decode(t, &events); len(events.Items) != 1 || events.Items[0].Action != "sandbox.create" || events.Items[0].UserID != "alice" {
		t.Errorf("alice's sandbox's events = %+v", events)
	}
	bobs := s.as("bob", http.MethodGet, "/sandboxes/"+sb.ID+"/events", nil)
	missing := s.as("bob", http.MethodGet, "/sandboxes/sbx_aaaaaaaaaaaaaaaaaaaaaaaaaa/events", nil)
	if bobs.status != http.StatusNotFound || missing.status != http.StatusNotFound || bobs.errorCode() != missing.errorCode() {
		t.Errorf("bob reads alice's sandbox's events: %d %s; a sandbox that does not exist: %d %s", bobs.status, bobs.body, missing.status, missing.body)
	}
	if res := s.as("alice", http.MethodGet, "/sandboxes/"+sb.ID+"/events?limit=0", nil); res.status != http.StatusBadRequest {
		t.Errorf("limit=0: %d %s, want 400", res.status, res.body)
	}

	// root clears the limit: alice is back on the default.
	if res := s.as("root", http.MethodDelete, quota, nil); res.status != http.StatusOK {
		t.Fatalf("root clears alice's limit: %d %s", res.status, res.body)
	} else if res.decode(t, &q); q.LimitSet || q.Limit != s.Config.DefaultUserQuota {
		t.Errorf("after the clear: %+v, want the default %d", q, s.Config.DefaultUserQuota)
	}
	s.create("alice", nil)

	// A repository's user is named with its "/" escaped.
	var repo struct {
		UserID string `json:"userId"`
		Limit  int    `json:"limit"`
	}
	if res := s.as("root", http.MethodGet, "/admin/users/github:octo%2Fhello/quota", nil); res.status != http.StatusOK {
		t.Errorf("a repository's usage: %d %s", res.status, res.body)
	} else if res.decode(t, &repo); repo.UserID != "github:octo/hello" || repo.Limit != s.Config.GitHubRepoQuota {
		t.Errorf("a repository's usage = %+v, want its GITHUB_REPO_QUOTA %d", repo, s.Config.GitHubRepoQuota)
	}

	// Each admin action is on the record under alice, root the actor.
	st, err := ReadStore(s.DynamoDBURL, s.Config.TableName)
	if err != nil {
		t.Fatal(err)
	}
	trail, _, err := st.ListUserAudit(context.Background(), "alice", 100, "")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range trail {
		if ev.UserID != "root" || ev.TargetUserID != "alice" || ev.Outcome != "ok" {
			t.Errorf("admin event %+v: want root acting on alice", ev)
		}
		actions = append(actions, ev.Action)
	}
	want := []string{"admin.quota.set", "admin.usage.read", "admin.quota.clear"}
	if !slices.Equal(actions, want) {
		t.Errorf("alice's admin trail = %v, want %v", actions, want)
	}
}

// A task's audit trail over the API: its owner reads it, paged; to anyone
// else the task does not exist.
func TestTaskEventsOverLocalStack(t *testing.T) {
	s := startStack(t, nil)
	tk := s.startTask("alice", map[string]any{"command": "true"})
	if done := s.waitTask("alice", tk.ID, time.Minute); done.Status != "succeeded" {
		t.Fatalf("task ended %+v", done)
	}
	// The execution has ended: so has everything written of the task.
	if st := s.waitExecution(tk.ID, 30*time.Second); st != "SUCCEEDED" {
		t.Fatalf("execution %s, want SUCCEEDED", st)
	}
	var actions []string
	cursor := ""
	for range 20 {
		res := s.as("alice", http.MethodGet, "/tasks/"+tk.ID+"/events?limit=1&cursor="+cursor, nil)
		if res.status != http.StatusOK {
			t.Fatalf("alice reads her task's events: %d %s", res.status, res.body)
		}
		var page struct {
			Items []struct {
				Action string `json:"action"`
				TaskID string `json:"taskId"`
			} `json:"items"`
			NextCursor string `json:"nextCursor"`
		}
		res.decode(t, &page)
		for _, ev := range page.Items {
			if ev.TaskID != tk.ID {
				t.Errorf("event of task %q in %s's trail", ev.TaskID, tk.ID)
			}
			actions = append(actions, ev.Action)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if len(actions) == 0 || actions[0] != "task.start" || !slices.Contains(actions, "task.finish") {
		t.Errorf("the task's trail = %v, want task.start first and task.finish", actions)
	}
	if res := s.as("bob", http.MethodGet, "/tasks/"+tk.ID+"/events", nil); res.status != http.StatusNotFound {
		t.Errorf("bob reads alice's task's events: %d %s, want 404", res.status, res.body)
	}
}
