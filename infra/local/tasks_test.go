package local

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/store"
)

// taskJSON is the part of a task the tests look at.
type taskJSON struct {
	ID        string  `json:"id"`
	Owner     string  `json:"owner"`
	Status    string  `json:"status"`
	ExitCode  *int    `json:"exitCode"`
	SandboxID string  `json:"sandboxId"`
	Error     string  `json:"error"`
	Deadline  *string `json:"deadline"`
}

type logsJSON struct {
	Chunks []struct {
		Seq    int64  `json:"seq"`
		Stream string `json:"stream"`
		Data   string `json:"data"`
	} `json:"chunks"`
	NextCursor string `json:"nextCursor"`
	Complete   bool   `json:"complete"`
}

// startTask posts a task as user and returns it; it must be accepted.
func (s *testStack) startTask(user string, spec map[string]any) taskJSON {
	s.t.Helper()
	res := s.as(user, http.MethodPost, "/tasks", spec)
	var tk taskJSON
	res.decode(s.t, &tk)
	if res.status != http.StatusAccepted || tk.ID == "" || tk.Status != "queued" {
		s.t.Fatalf("POST /tasks = %d %s, want 202 and a queued task", res.status, res.body)
	}
	return tk
}

// waitTask polls the task until its status is terminal, or fails the test
// after limit.
func (s *testStack) waitTask(user, id string, limit time.Duration) taskJSON {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		res := s.as(user, http.MethodGet, "/tasks/"+id, nil)
		var tk taskJSON
		res.decode(s.t, &tk)
		switch tk.Status {
		case "succeeded", "failed", "timed_out", "cancelled":
			return tk
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("task %s is still %s after %s: %s", id, tk.Status, limit, res.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitExecution waits for the task's execution to end and returns its
// status as the Step Functions API describes it.
func (s *testStack) waitExecution(id string, limit time.Duration) string {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var out struct {
			Status string `json:"status"`
		}
		s.sfn("DescribeExecution", map[string]any{"executionArn": s.executionARN(id)}, &out)
		if out.Status != "RUNNING" {
			return out.Status
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("execution %s still RUNNING after %s", id, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *testStack) executionARN(id string) string {
	return strings.Replace(s.StateMachineARNs[0], ":stateMachine:", ":execution:", 1) + ":" + id
}

// sfn calls the local Step Functions API.
func (s *testStack) sfn(op string, in, out any) {
	s.t.Helper()
	body, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, s.StepFunctionsURL, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AWSStepFunctions."+op)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		s.t.Fatalf("%s: %d %s", op, res.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s: %s: %v", op, b, err)
		}
	}
}

// readLogs reads all of the task's stored output, page by page.
func (s *testStack) readLogs(user, id string) (stdout, stderr string, complete bool) {
	s.t.Helper()
	cursor := ""
	for range 1000 {
		res := s.as(user, http.MethodGet, "/tasks/"+id+"/logs?cursor="+cursor, nil)
		var page logsJSON
		res.decode(s.t, &page)
		if res.status != http.StatusOK {
			s.t.Fatalf("logs: %d %s", res.status, res.body)
		}
		for _, c := range page.Chunks {
			if c.Stream == "stdout" {
				stdout += c.Data
			} else {
				stderr += c.Data
			}
		}
		if len(page.Chunks) == 0 || page.NextCursor == cursor {
			return stdout, stderr, page.Complete
		}
		cursor = page.NextCursor
	}
	s.t.Fatal("logs never ended")
	return
}

// assertNothingLeft checks the end state every scenario must reach: no
// sandbox on the Daytona server, and the user's quota back to zero.
func (s *testStack) assertNothingLeft(user string) {
	s.t.Helper()
	if n := s.daytonaSandboxes(); n != 0 {
		s.t.Errorf("%d sandboxes left on the Daytona server", n)
	}
	st, err := store.New(DynamoDBClient(s.DynamoDBURL), s.Config.TableName, store.Options{DefaultQuota: 1, IdempotencyTTL: time.Hour})
	if err != nil {
		s.t.Fatal(err)
	}
	if q, err := st.GetQuota(context.Background(), user); err != nil || q.Active != 0 {
		s.t.Errorf("%s's quota = %+v, %v; want nothing held", user, q, err)
	}
}

// daytonaSandboxes counts the sandboxes the Daytona server has.
func (s *testStack) daytonaSandboxes() int {
	s.t.Helper()
	res := do(s.t, http.MethodGet, s.DaytonaURL+"/sandbox", nil, "Authorization: Bearer "+LocalDaytonaKey)
	var list struct {
		Items []json.RawMessage `json:"items"`
		Total int               `json:"total"`
	}
	res.decode(s.t, &list)
	return max(len(list.Items), list.Total)
}

func TestTaskSucceedsWithOutputAndArtifact(t *testing.T) {
	s := startStack(t, nil)
	script := "for i in 1 2 3; do echo \"out $i\"; echo \"err $i\" >&2; done\nmkdir -p dist && echo built > dist/app.txt\n"
	tk := s.startTask("alice", map[string]any{
		"sandbox":   map[string]any{"files": []map[string]any{{"path": "job.sh", "contentBase64": b64(script)}}},
		"command":   "sh job.sh",
		"artifacts": []string{"dist", "missing.txt"},
	})
	done := s.waitTask("alice", tk.ID, time.Minute)
	if done.Status != "succeeded" || done.ExitCode == nil || *done.ExitCode != 0 {
		t.Fatalf("task ended %+v, want succeeded with exit 0", done)
	}
	if st := s.waitExecution(tk.ID, 30*time.Second); st != "SUCCEEDED" {
		t.Errorf("execution %s, want SUCCEEDED", st)
	}
	stdout, stderr, complete := s.readLogs("alice", tk.ID)
	if stdout != "out 1\nout 2\nout 3\n" || stderr != "err 1\nerr 2\nerr 3\n" || !complete {
		t.Errorf("logs: stdout %q, stderr %q, complete %v", stdout, stderr, complete)
	}

	res := s.as("alice", http.MethodGet, "/tasks/"+tk.ID+"/artifacts", nil)
	var arts struct {
		Items []struct {
			Path  string `json:"path"`
			Bytes int64  `json:"bytes"`
			URL   string `json:"url"`
			Error string `json:"error"`
		} `json:"items"`
	}
	res.decode(t, &arts)
	if len(arts.Items) != 2 || arts.Items[0].URL == "" || arts.Items[1].Error == "" {
		t.Fatalf("artifacts %s: want dist with a link and missing.txt with an error", res.body)
	}
	dl := do(t, http.MethodGet, arts.Items[0].URL, nil)
	if dl.status != http.StatusOK || int64(len(dl.body)) != arts.Items[0].Bytes {
		t.Errorf("download: %d, %d bytes, want %d", dl.status, len(dl.body), arts.Items[0].Bytes)
	}

	// Someone else sees none of it.
	if res := s.as("bob", http.MethodGet, "/tasks/"+tk.ID, nil); res.status != http.StatusNotFound {
		t.Errorf("bob's GET of alice's task: %d", res.status)
	}
	s.assertNothingLeft("alice")
}
