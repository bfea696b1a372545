package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytonalocal"
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
		Fresh  bool   `json:"fresh"`
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
	if n := s.held(user); n != 0 {
		s.t.Errorf("%s holds %d quota slots; want none", user, n)
	}
}

// held is the quota slots user holds.
func (s *testStack) held(user string) int {
	s.t.Helper()
	st, err := ReadStore(s.DynamoDBURL, s.Config.TableName)
	if err != nil {
		s.t.Fatal(err)
	}
	q, err := st.GetQuota(context.Background(), user)
	if err != nil {
		s.t.Fatal(err)
	}
	return q.Active
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
	// It sleeps past the wait's start, so only its nudge ends the wait
	// (a wait that starts after the command ended ends itself on seeing it).
	script := "sleep 2\nfor i in 1 2 3; do echo \"out $i\"; echo \"err $i\" >&2; done\nmkdir -p dist && echo built > dist/app.txt\n"
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
	if !s.historyHas(tk.ID, "TaskSucceeded", "") {
		t.Error("no wait was woken: the command's nudge did not arrive")
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

	// Someone else sees none of it, nor cancels it.
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		if res := s.as("bob", method, "/tasks/"+tk.ID, nil); res.status != http.StatusNotFound {
			t.Errorf("bob's %s of alice's task: %d", method, res.status)
		}
	}
	if res := s.as("bob", http.MethodGet, "/tasks/"+tk.ID+"/logs", nil); res.status != http.StatusNotFound {
		t.Errorf("bob's read of alice's logs: %d", res.status)
	}
	// Its audit trail: started and finished.
	st, err := ReadStore(s.DynamoDBURL, s.Config.TableName)
	if err != nil {
		t.Fatal(err)
	}
	events, _, err := st.ListAudit(context.Background(), "", tk.ID, 100, "")
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	if err != nil || !slices.Contains(actions, "task.start") || !slices.Contains(actions, "task.finish") {
		t.Errorf("audit of the task: %v (%v), want task.start and task.finish", actions, err)
	}
	s.assertNothingLeft("alice")
}

// fastRetries makes the state machine's retries immediate.
func fastRetries(o *Options) {
	o.RetryIntervalOverrides = map[string]time.Duration{}
	for _, st := range []string{"Prepare", "CreateSandbox", "StartCommand", "Wait", "Check", "Collect", "CleanUp", "CleanUpAfterFailure"} {
		o.RetryIntervalOverrides[st] = 10 * time.Millisecond
	}
}

// describe returns the task's execution as the Step Functions API has it.
func (s *testStack) describe(id string) (status, errName, cause string) {
	s.t.Helper()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Cause  string `json:"cause"`
	}
	s.sfn("DescribeExecution", map[string]any{"executionArn": s.executionARN(id)}, &out)
	return out.Status, out.Error, out.Cause
}

// waitRunning waits for the task to be running.
func (s *testStack) waitRunning(user, id string) taskJSON {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var tk taskJSON
		s.as(user, http.MethodGet, "/tasks/"+id, nil).decode(s.t, &tk)
		if tk.Status == "running" {
			return tk
		}
		if tk.Status != "queued" || time.Now().After(deadline) {
			s.t.Fatalf("task %s is %s, want running", id, tk.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTaskScenarios runs tasks through the real state machine and
// handlers, each ending with no sandbox left and the quota back to zero.
func TestTaskScenarios(t *testing.T) {
	type scenario struct {
		name string
		spec map[string]any
		// env and opts configure the stack; act runs while the task runs.
		env  map[string]string
		opts []func(*Options)
		act  func(t *testing.T, s *testStack, tk taskJSON)
		// The task's end and its execution's.
		status, errorHas string
		exitCode         *int
		execStatus       string
		execError        string
		// retried: a step failed as transient and was retried (its
		// history says so).
		retried bool
		// polled: the end was noticed by the backstop alone: no wait was
		// woken.
		polled bool
	}
	exit := func(n int) *int { return &n }
	scenarios := []scenario{
		{
			name: "non-zero exit", spec: map[string]any{"command": "echo failing >&2; exit 3"},
			status: "failed", exitCode: exit(3), execStatus: "FAILED", execError: "Task.Failed",
		},
		{
			name: "deadline exceeded", spec: map[string]any{"command": "sleep 60", "timeoutSeconds": 2},
			status: "timed_out", errorHas: "2s", execStatus: "FAILED", execError: "Task.TimedOut",
		},
		{
			name: "Daytona answers 503 to creates, then succeeds", spec: map[string]any{"command": "echo ok"},
			opts:   []func(*Options){fastRetries},
			status: "succeeded", exitCode: exit(0), execStatus: "SUCCEEDED", retried: true,
		},
		{
			name: "permanent create failure", spec: map[string]any{"command": "echo never"},
			opts:   []func(*Options){fastRetries},
			status: "failed", errorHas: "Sandbox.InvalidInput", execStatus: "FAILED", execError: "Task.Failed",
		},
		{
			name: "sandbox deleted from outside mid-task", spec: map[string]any{"command": "sleep 60"},
			env: map[string]string{"TASK_BACKSTOP": "1s"},
			act: func(t *testing.T, s *testStack, tk taskJSON) {
				running := s.waitRunning("alice", tk.ID)
				var sb struct {
					DaytonaID string `json:"daytonaId"`
				}
				s.as("alice", http.MethodGet, "/sandboxes/"+running.SandboxID, nil).decode(t, &sb)
				res := do(t, http.MethodDelete, s.DaytonaURL+"/sandbox/"+sb.DaytonaID, nil, "Authorization: Bearer "+LocalDaytonaKey)
				if res.status != http.StatusOK {
					t.Fatalf("delete at Daytona: %d %s", res.status, res.body)
				}
			},
			status: "failed", errorHas: "no longer exists", execStatus: "FAILED", execError: "Task.Failed",
		},
		{
			name: "cancel while running", spec: map[string]any{"command": "echo before; sleep 60"},
			act: func(t *testing.T, s *testStack, tk taskJSON) {
				s.waitRunning("alice", tk.ID)
				// Running says the command started, not that it wrote:
				// on a loaded machine its shell may not have run the echo
				// by the time a cancel kills it.
				deadline := time.Now().Add(10 * time.Second)
				for stdout, _, _ := s.readLogs("alice", tk.ID); stdout != "before\n"; stdout, _, _ = s.readLogs("alice", tk.ID) {
					if time.Now().After(deadline) {
						t.Fatalf("the running task's output: %q after 10s, want %q", stdout, "before\n")
					}
					time.Sleep(50 * time.Millisecond)
				}
				for range 2 { // cancelling again is no error
					res := s.as("alice", http.MethodDelete, "/tasks/"+tk.ID, nil)
					var got taskJSON
					res.decode(t, &got)
					if res.status != http.StatusOK || got.Status != "cancelled" {
						t.Fatalf("DELETE /tasks: %d %s", res.status, res.body)
					}
				}
				// What it wrote is kept, whether a check or the cancel
				// stored it.
				if stdout, _, complete := s.readLogs("alice", tk.ID); stdout != "before\n" || !complete {
					t.Errorf("a cancelled task's output: %q (complete %v), want %q", stdout, complete, "before\n")
				}
			},
			status: "cancelled", execStatus: "ABORTED", execError: "Task.Cancelled",
		},
		{
			// The command outlasts the step that keeps the wait's token,
			// which would otherwise see it ended and wake the wait itself.
			name: "network blockAll: noticed by the backstop alone", spec: map[string]any{
				"sandbox": map[string]any{"network": map[string]any{"blockAll": true}}, "command": "sleep 2; echo offline"},
			status: "succeeded", exitCode: exit(0), execStatus: "SUCCEEDED", polled: true,
		},
		{
			name: "a silent command outlives the sandbox's auto-stop", spec: map[string]any{
				"sandbox": map[string]any{"autoStopMinutes": 1}, "command": "sleep 3; echo done"},
			opts: []func(*Options){func(o *Options) {
				// A minute of the Daytona server's time per real second.
				start := time.Now()
				o.DaytonaClock = func() time.Time { return start.Add(time.Since(start) * 60) }
			}},
			status: "succeeded", exitCode: exit(0), execStatus: "SUCCEEDED",
		},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			s := startStack(t, sc.env, sc.opts...)
			switch sc.name {
			case "Daytona answers 503 to creates, then succeeds":
				if _, err := s.daytona.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultUnavailable, Match: daytonalocal.Match{Operation: "createSandbox"}, Times: 8}); err != nil {
					t.Fatal(err)
				}
			case "permanent create failure":
				if _, err := s.daytona.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultError, Status: 400, Message: "image not found", Match: daytonalocal.Match{Operation: "createSandbox"}}); err != nil {
					t.Fatal(err)
				}
			}
			tk := s.startTask("alice", sc.spec)
			if sc.act != nil {
				sc.act(t, s, tk)
			}
			done := s.waitTask("alice", tk.ID, time.Minute)
			if done.Status != sc.status || !strings.Contains(done.Error, sc.errorHas) {
				t.Errorf("task ended %s (%q), want %s with %q", done.Status, done.Error, sc.status, sc.errorHas)
			}
			if (sc.exitCode == nil) != (done.ExitCode == nil) || (sc.exitCode != nil && *sc.exitCode != *done.ExitCode) {
				t.Errorf("exit code %v, want %v", done.ExitCode, sc.exitCode)
			}
			s.waitExecution(tk.ID, 30*time.Second)
			if st, errName, cause := s.describe(tk.ID); st != sc.execStatus || errName != sc.execError {
				t.Errorf("execution %s %s (%s), want %s %s", st, errName, cause, sc.execStatus, sc.execError)
			}
			if sc.polled && s.historyHas(tk.ID, "TaskSucceeded", "") {
				t.Error("a wait was woken; want the backstop alone")
			}
			if retried := s.historyHas(tk.ID, "LambdaFunctionFailed", "Sandbox.Transient"); retried != sc.retried {
				t.Errorf("a step failed and was retried: %v, want %v", retried, sc.retried)
			}
			s.waitNothingLeft("alice")
		})
	}
}

// historyHas says whether the task's execution history has an event of
// type typ, a failure named errName.
func (s *testStack) historyHas(id, typ, errName string) bool {
	s.t.Helper()
	for _, e := range s.history(id) {
		if e.Type == typ && (e.Failed == nil || e.Failed.Error == errName) {
			return true
		}
	}
	return false
}

// historyEvent is the part of a history event the tests read.
type historyEvent struct {
	ID   int64  `json:"id"`
	Type string `json:"type"`
	// StateEnteredEventDetails names the state.
	Entered *struct {
		Name string `json:"name"`
	} `json:"stateEnteredEventDetails"`
	Failed *struct {
		Error string `json:"error"`
	} `json:"lambdaFunctionFailedEventDetails"`
}

// history returns the task's execution history, all pages.
func (s *testStack) history(id string) []historyEvent {
	s.t.Helper()
	var all []historyEvent
	token := ""
	for {
		in := map[string]any{"executionArn": s.executionARN(id), "maxResults": 1000}
		if token != "" {
			in["nextToken"] = token
		}
		var page struct {
			Events    []historyEvent `json:"events"`
			NextToken string         `json:"nextToken"`
		}
		s.sfn("GetExecutionHistory", in, &page)
		all = append(all, page.Events...)
		if page.NextToken == "" {
			return all
		}
		token = page.NextToken
	}
}

// waitNothingLeft waits briefly for the clean-up of an execution that
// ended without its own (the status-change rule runs after the end), then
// asserts nothing is left.
func (s *testStack) waitNothingLeft(user string) {
	s.t.Helper()
	// Daytona forgets a sandbox before its delete returns and the slot is
	// released: wait for both.
	deadline := time.Now().Add(10 * time.Second)
	for (s.daytonaSandboxes() != 0 || s.held(user) != 0) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	s.assertNothingLeft(user)
}

// Bad input to POST /tasks is a 400 naming the field, before anything is
// made: no execution, no record, no object.
func TestStartTaskBadInput(t *testing.T) {
	s := startStack(t, nil)
	many := make([]string, 21)
	for i := range many {
		many[i] = fmt.Sprintf("out/%d.txt", i)
	}
	tests := []struct {
		name  string
		body  any
		field string
	}{
		{"unknown field", map[string]any{"command": "true", "tiemoutSeconds": 5}, "tiemoutSeconds"},
		{"no command", map[string]any{"sandbox": map[string]any{}}, "command"},
		{"timeout over the maximum", map[string]any{"command": "true", "timeoutSeconds": 43201}, "timeoutSeconds"},
		{"malformed sandbox", map[string]any{"command": "true", "sandbox": map[string]any{"files": []map[string]any{{"path": "/etc/passwd", "contentBase64": ""}}}}, "sandbox.files[0].path"},
		{"bad network", map[string]any{"command": "true", "sandbox": map[string]any{"network": map[string]any{"allowList": []string{"10.0.0.0/33"}}}}, "sandbox.network.allowList[0]"},
		{"too many artifacts", map[string]any{"command": "true", "artifacts": many}, "artifacts"},
		{"an artifact outside the sandbox", map[string]any{"command": "true", "artifacts": []string{"../../etc"}}, "artifacts[0]"},
		{"not JSON", "{", "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s.as("alice", http.MethodPost, "/tasks", tt.body)
			var e struct {
				Error struct {
					Code, Field string
				} `json:"error"`
			}
			res.decode(t, &e)
			if res.status != http.StatusBadRequest || e.Error.Field != tt.field {
				t.Errorf("%d %s, want 400 naming %s", res.status, res.body, tt.field)
			}
		})
	}
	var list struct {
		Executions []json.RawMessage `json:"executions"`
	}
	s.sfn("ListExecutions", map[string]any{"stateMachineArn": s.StateMachineARNs[0]}, &list)
	if len(list.Executions) != 0 {
		t.Errorf("%d executions started", len(list.Executions))
	}
	var tasks struct {
		Items []json.RawMessage `json:"items"`
	}
	s.as("alice", http.MethodGet, "/tasks?status=all", nil).decode(t, &tasks)
	if len(tasks.Items) != 0 {
		t.Errorf("%d tasks recorded", len(tasks.Items))
	}
	s.assertNothingLeft("alice")
}
