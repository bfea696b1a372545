package local

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/sandstep/sandstep/internal/notify"
)

// noticeJSON is a task's notify as GET /tasks/{id} shows it.
type noticeJSON struct {
	Host       string `json:"host"`
	Signed     bool   `json:"signed"`
	DeliveryID string `json:"deliveryId"`
	Status     string `json:"status"`
	Attempts   int    `json:"attempts"`
	LastError  string `json:"lastError"`
}

func (s *testStack) notice(user, id string) (noticeJSON, string) {
	s.t.Helper()
	res := s.as(user, http.MethodGet, "/tasks/"+id, nil)
	var tk struct {
		Notify *noticeJSON `json:"notify"`
	}
	res.decode(s.t, &tk)
	if tk.Notify == nil {
		s.t.Fatalf("GET /tasks/%s has no notify: %s", id, res.body)
	}
	return *tk.Notify, string(res.body)
}

// putSecret keeps value in the local SSM as name.
func (s *testStack) putSecret(name, value string) {
	s.t.Helper()
	cfg := aws.Config{Region: DefaultRegion, Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
	client := ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = aws.String(s.AWSURL) })
	if _, err := client.PutParameter(context.Background(), &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value),
		Type: ssmtypes.ParameterTypeSecureString}); err != nil {
		s.t.Fatal(err)
	}
}

// endedCleanUps counts the clean-ups of task id that its execution's
// status change ran (the task-ended rule's): each is served, where the
// state machine's own clean-up of a failed task answers the outcome as its
// error.
func (s *testStack) endedCleanUps(id string) int {
	n := 0
	for line := range strings.Lines(s.logs.String()) {
		if strings.Contains(line, `message="invocation served"`) && strings.Contains(line, "taskId="+id+" ") && strings.Contains(line, "function=delete ") {
			n++
		}
	}
	return n
}

// finishes counts the task's task.finish audit events.
func (s *testStack) finishes(id string) int {
	s.t.Helper()
	st, err := ReadStore(s.DynamoDBURL, s.Config.TableName)
	if err != nil {
		s.t.Fatal(err)
	}
	events, _, err := st.ListAudit(context.Background(), "", id, 100, "")
	if err != nil {
		s.t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Action == "task.finish" {
			n++
		}
	}
	return n
}

// A task started through the API with notify tells a receiver on
// loopback (allowed: the stack runs with SANDSTEP_ENV=local) how it ended,
// signed with the secret its secretRef names, once, however many
// clean-ups run.
func TestTaskNotifiesItsCaller(t *testing.T) {
	s := startStack(t, nil)
	const secret = "hook-secret-for-the-local-stack"
	s.putSecret("/sandstep/secrets/users/alice/hook", secret)
	type got struct {
		header http.Header
		body   []byte
		valid  bool
	}
	var mu sync.Mutex
	var deliveries []got
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		valid := notify.Verify([]byte(secret), body, r.Header.Get(notify.HeaderSignature))
		mu.Lock()
		deliveries = append(deliveries, got{r.Header.Clone(), body, valid})
		mu.Unlock()
		if !valid {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)

	// Bad notify input is a 400 naming it, before anything is made.
	for field, body := range map[string]any{
		"notify.url":       map[string]any{"command": "true", "notify": map[string]any{"url": "http://10.0.0.7/hook"}},
		"notify.secretRef": map[string]any{"command": "true", "notify": map[string]any{"url": rc.URL, "secretRef": "ssm:/sandstep/secrets/users/bob/hook"}},
		"notify.secret":    map[string]any{"command": "true", "notify": map[string]any{"url": rc.URL, "secret": "x"}},
	} {
		res := s.as("alice", http.MethodPost, "/tasks", body)
		var e struct {
			Error struct{ Field string } `json:"error"`
		}
		res.decode(t, &e)
		if res.status != http.StatusBadRequest || e.Error.Field != field {
			t.Errorf("%d %s, want 400 naming %s", res.status, res.body, field)
		}
	}

	tk := s.startTask("alice", map[string]any{
		"command": "echo working; exit 3",
		"notify":  map[string]any{"url": rc.URL + "/sandstep?team=blue", "secretRef": "ssm:/sandstep/secrets/users/alice/hook"},
	})
	done := s.waitTask("alice", tk.ID, time.Minute)
	if done.Status != "failed" {
		t.Fatalf("task %+v, want failed (exit 3)", done)
	}
	s.waitExecution(tk.ID, 30*time.Second)
	if st, errName, _ := s.describe(tk.ID); st != "FAILED" || errName != "Task.Failed" {
		t.Errorf("execution %s %s, want FAILED Task.Failed: the notice changes nothing of the task's outcome", st, errName)
	}
	// The execution's FAILED status change cleans up a second time (the
	// task-ended rule): wait for it, then count.
	deadline := time.Now().Add(30 * time.Second)
	for s.endedCleanUps(tk.ID) < 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := s.endedCleanUps(tk.ID); n < 1 {
		t.Fatalf("the status change's clean-up did not run")
	}
	// The task ended once: its trail says so once.
	if n := s.finishes(tk.ID); n != 1 {
		t.Errorf("%d task.finish events, want 1", n)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(deliveries) != 1 {
		t.Fatalf("%d deliveries, want exactly 1", len(deliveries))
	}
	d := deliveries[0]
	if !d.valid {
		t.Errorf("signature %q does not verify", d.header.Get(notify.HeaderSignature))
	}
	var body struct {
		TaskID     string  `json:"taskId"`
		Status     string  `json:"status"`
		ExitCode   *int    `json:"exitCode"`
		StartedAt  *string `json:"startedAt"`
		FinishedAt *string `json:"finishedAt"`
		Error      string  `json:"error"`
		DeliveryID string  `json:"deliveryId"`
	}
	if err := json.Unmarshal(d.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.TaskID != tk.ID || body.Status != "failed" || body.ExitCode == nil || *body.ExitCode != 3 ||
		body.StartedAt == nil || body.FinishedAt == nil || !strings.Contains(body.Error, "3") ||
		body.DeliveryID == "" || body.DeliveryID != d.header.Get(notify.HeaderDelivery) || d.header.Get(notify.HeaderEvent) != "task.ended" {
		t.Errorf("delivery %s with headers %v", d.body, d.header)
	}
	n, raw := s.notice("alice", tk.ID)
	if n.Status != "delivered" || n.Attempts != 1 || !n.Signed || n.DeliveryID != body.DeliveryID || n.Host != strings.TrimPrefix(rc.URL, "http://") {
		t.Errorf("notify %+v, want delivered once, signed, to the receiver's host", n)
	}
	for _, hidden := range []string{"team=blue", "/sandstep?", "secrets/users/alice/hook", secret} {
		if strings.Contains(raw, hidden) {
			t.Errorf("GET /tasks/{id} shows %q: %s", hidden, raw)
		}
	}
	s.assertNothingLeft("alice")
}

// A receiver that never answers does not hold up the task's end: when
// the notice reaches it the task has already ended and let go of its
// sandbox and slot; the execution ends with the task's own outcome, and
// the notice stays pending for the reaper.
func TestTaskEndsWhileItsReceiverHangs(t *testing.T) {
	s := startStack(t, nil)
	entered := make(chan struct{}, 10)
	rc := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		entered <- struct{}{}
		<-t.Context().Done() // never answers while the test runs
	}))
	t.Cleanup(rc.Close)

	tk := s.startTask("alice", map[string]any{"command": "echo done", "notify": map[string]any{"url": rc.URL}})
	select {
	case <-entered:
	case <-time.After(time.Minute):
		t.Fatal("the notice never arrived")
	}
	// The receiver holds the notice: the task has already ended.
	var now taskJSON
	s.as("alice", http.MethodGet, "/tasks/"+tk.ID, nil).decode(t, &now)
	if now.Status != "succeeded" {
		t.Errorf("task %s while its notice was in flight, want succeeded already", now.Status)
	}
	s.assertNothingLeft("alice")

	if st := s.waitExecution(tk.ID, time.Minute); st != "SUCCEEDED" {
		t.Errorf("execution %s, want SUCCEEDED", st)
	}
	if n, _ := s.notice("alice", tk.ID); n.Status != "pending" || n.Attempts != 1 || !strings.Contains(n.LastError, "did not answer") {
		t.Errorf("notify %+v, want pending after one unanswered attempt", n)
	}
	if len(entered) != 0 {
		t.Errorf("%d more attempts, want 1 in all", len(entered))
	}
}
