package service

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/metrics"
	"github.com/sandstep/sandstep/internal/notify"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

const (
	hookRef    = "ssm:/sandstep/secrets/users/alice/hook"
	hookSecret = "hook-s3cret-value"
)

// noticeHarness is a task service with completion notices, on a clock the
// test moves.
type noticeHarness struct {
	svc      *Service
	store    *store.Store
	clock    *settableClock
	objects  *fakeObjects
	provider *fakeProvider
	secrets  fakeSecrets
	// metrics gathers what the clean-ups and the reaper's runs record.
	metrics metrics.Set
}

func newNoticeHarness(t *testing.T, n Notifier, set func(*Options)) *noticeHarness {
	t.Helper()
	clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, Now: clk.Now})
	p := newFakeProvider()
	objs := newFakeObjects()
	secrets := fakeSecrets{hookRef: hookSecret}
	opts := Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now}
	if set != nil {
		set(&opts)
	}
	deps := Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st, Secrets: secrets,
		Inventory: st, Catalog: p, Tasks: st, Objects: objs, Machine: fakeMachine{}, Sessions: fakeSessions{}}
	if n != nil {
		deps.Notifier = n
	}
	svc, err := New(deps, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &noticeHarness{svc: svc, store: st, clock: clk, objects: objs, provider: p, secrets: secrets}
}

// start accepts a task asking for a notice and runs it up to its command.
func (h *noticeHarness) start(t *testing.T, in *NotifyInput) *sandstep.Task {
	t.Helper()
	ctx := context.Background()
	tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "make", Notify: in})
	if err != nil {
		t.Fatalf("StartTask: %v", err)
	}
	step, err := h.svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: "alice"})
	if err != nil {
		t.Fatalf("CreateTaskSandbox: %v", err)
	}
	if _, err := h.svc.StartTaskCommand(ctx, *step); err != nil {
		t.Fatalf("StartTaskCommand: %v", err)
	}
	return h.record(t, tk.ID)
}

// succeed ends the task's command with exit code 0, as the watch and
// collect do, then cleans up as the state machine's last step does.
func (h *noticeHarness) succeed(t *testing.T, id string) {
	t.Helper()
	ctx := h.ctx()
	h.collected(t, id)
	if _, err := h.svc.CleanUpTask(ctx, id, nil); err != nil {
		t.Fatalf("CleanUpTask: %v", err)
	}
}

// collected ends the task's command with exit code 0 as the watch and
// collect do, its clean-up still to come, and answers when it ended.
func (h *noticeHarness) collected(t *testing.T, id string) time.Time {
	t.Helper()
	zero, now := 0, h.clock.Now()
	if _, err := h.store.TransitionTask(h.ctx(), id, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskSucceeded,
		func(r *sandstep.Task) { r.ExitCode, r.FinishedAt = &zero, &now }); err != nil {
		t.Fatal(err)
	}
	return now
}

func (h *noticeHarness) record(t *testing.T, id string) *sandstep.Task {
	t.Helper()
	tk, err := h.store.GetTask(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func (h *noticeHarness) advance(d time.Duration) { h.clock.Set(h.clock.Now().Add(d)) }

// reap runs the reaper, which attempts the notices that are due.
// ctx is a context that gathers the service's metrics into h.metrics.
func (h *noticeHarness) ctx() context.Context {
	return metrics.NewContext(context.Background(), &h.metrics)
}

func (h *noticeHarness) reap(t *testing.T) int {
	t.Helper()
	rep, err := h.svc.Reap(h.ctx(), ReapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Notices
}

// hook is a receiver on loopback that answers with statuses in turn (the
// last one from then on) and keeps every request.
type hook struct {
	*httptest.Server
	mu       sync.Mutex
	got      []hookRequest
	statuses []int
	// during runs inside the handler, before it answers.
	during func()
}

type hookRequest struct {
	header http.Header
	body   []byte
	status int
}

func newHook(t *testing.T, statuses ...int) *hook {
	h := &hook{statuses: statuses}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		status := h.statuses[min(len(h.got), len(h.statuses)-1)]
		h.got = append(h.got, hookRequest{r.Header.Clone(), body, status})
		during := h.during
		h.mu.Unlock()
		if during != nil {
			during()
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

// localSender is the sender of the local stack: loopback receivers allowed.
func localSender() *notify.Sender { return notify.NewSender(notify.Options{Local: true}) }

func TestNotifyInputIsRefusedBeforeAnythingIsMade(t *testing.T) {
	tests := []struct {
		name     string
		notifier Notifier
		in       NotifyInput
		field    string
	}{
		{"http in AWS", notify.NewSender(notify.Options{}), NotifyInput{URL: "http://hooks.example.com/x"}, "notify.url"},
		{"loopback in AWS", notify.NewSender(notify.Options{}), NotifyInput{URL: "https://127.0.0.1/x"}, "notify.url"},
		{"localhost in AWS", notify.NewSender(notify.Options{}), NotifyInput{URL: "https://localhost/x"}, "notify.url"},
		{"private", localSender(), NotifyInput{URL: "http://10.0.0.8/x"}, "notify.url"},
		{"metadata", localSender(), NotifyInput{URL: "http://169.254.169.254/latest/meta-data/"}, "notify.url"},
		{"credentials", localSender(), NotifyInput{URL: "https://u:p@hooks.example.com/x"}, "notify.url"},
		{"no url", localSender(), NotifyInput{SecretRef: hookRef}, "notify.url"},
		{"unreadable secret", localSender(), NotifyInput{URL: "https://hooks.example.com/x", SecretRef: "ssm:/sandstep/secrets/users/alice/nope"}, "notify.secretRef"},
		{"another user's secret", localSender(), NotifyInput{URL: "https://hooks.example.com/x", SecretRef: "ssm:/sandstep/secrets/users/bob/hook"}, "notify.secretRef"},
		{"not enabled", nil, NotifyInput{URL: "https://hooks.example.com/x"}, "notify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newNoticeHarness(t, tt.notifier, nil)
			ctx := context.Background()
			_, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "make", Notify: &tt.in})
			if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != tt.field {
				t.Errorf("POST /tasks: %v (field %q), want invalid_input naming %s", err, sandstep.ErrorField(err), tt.field)
			}
			// The console's start names the field inside its input.
			spec, _ := json.Marshal(map[string]any{"userId": "alice", "task": TaskInput{Command: "make", Notify: &tt.in}})
			_, err = h.svc.PrepareTask(ctx, NewTaskID(), spec)
			if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != "task."+tt.field {
				t.Errorf("console start: %v (field %q), want invalid_input naming task.%s", err, sandstep.ErrorField(err), tt.field)
			}
			if n := h.objects.writes(); n != 0 {
				t.Errorf("%d objects written", n)
			}
			if list, err := h.svc.ListTasks(ctx, alice(), TaskListInput{Status: "all"}); err != nil || len(list.Items) != 0 {
				t.Errorf("tasks %v (%v), want none", list, err)
			}
		})
	}
}

func TestNoticeIsSignedAndSaysHowTheTaskEnded(t *testing.T) {
	rc := newHook(t, http.StatusNoContent)
	h := newNoticeHarness(t, localSender(), nil)
	ctx := context.Background()
	url := rc.URL + "/hooks/sandstep?token=t0k3n-in-query"
	tk := h.start(t, &NotifyInput{URL: url, SecretRef: hookRef})
	if n := tk.Notify; n == nil || n.Status != sandstep.NoticePending || n.DeliveryID == "" || !n.Signed || n.Host != strings.TrimPrefix(rc.URL, "http://") {
		t.Fatalf("accepted notice %+v, want pending, signed, to the hook's host", n)
	}
	if len(rc.requests()) != 0 {
		t.Fatal("notified before the task ended")
	}
	// What the receiver sees of the task when the notice arrives.
	var seen *sandstep.Task
	var quota int
	rc.during = func() {
		seen = h.record(t, tk.ID)
		q, _ := h.store.GetQuota(ctx, "alice")
		quota = q.Active
	}
	h.succeed(t, tk.ID)

	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if !notify.Verify([]byte(hookSecret), r.body, r.header.Get(notify.HeaderSignature)) {
		t.Errorf("signature %q does not verify", r.header.Get(notify.HeaderSignature))
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range body {
			if !yield(k) {
				return
			}
		}
	})
	if want := []string{"cost", "deliveryId", "exitCode", "finishedAt", "startedAt", "status", "taskId", "usage"}; !slices.Equal(keys, want) {
		t.Errorf("body %s has %v, want %v", r.body, keys, want)
	}
	if body["taskId"] != tk.ID || body["status"] != "succeeded" || body["exitCode"] != 0.0 ||
		body["deliveryId"] != r.header.Get(notify.HeaderDelivery) || body["deliveryId"] != tk.Notify.DeliveryID {
		t.Errorf("body %s, headers %v", r.body, r.header)
	}
	if r.header.Get(notify.HeaderEvent) != notify.EventTaskEnded {
		t.Errorf("event %q", r.header.Get(notify.HeaderEvent))
	}
	// The task had ended, let go of its sandbox and slot before.
	if seen == nil || seen.Status != sandstep.TaskSucceeded || quota != 0 || len(h.provider.live()) != 0 {
		t.Errorf("when notified: task %+v, quota %d, sandboxes %v; want it ended and released", seen, quota, h.provider.live())
	}

	got, err := h.svc.GetTask(ctx, alice(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := got.Notify; n.Status != sandstep.NoticeDelivered || n.Attempts != 1 || n.DeliveredAt == nil || n.LastError != "" {
		t.Errorf("notice %+v, want delivered at the first attempt", n)
	}
	shown, _ := json.Marshal(got)
	for _, hidden := range []string{"t0k3n", "/hooks/sandstep", hookRef, hookSecret} {
		if strings.Contains(string(shown), hidden) {
			t.Errorf("GET /tasks/{id} shows %q: %s", hidden, shown)
		}
	}

	// Cleaning up again (the status-change rule after the state machine's
	// own clean-up) sends nothing more.
	_, _ = h.svc.CleanUpTask(ctx, tk.ID, nil)
	if h.reap(t) != 0 || len(rc.requests()) != 1 {
		t.Errorf("%d requests after a second clean-up and a reaper run, want 1", len(rc.requests()))
	}
}

func TestNoticeWithoutSecretIsUnsigned(t *testing.T) {
	rc := newHook(t, http.StatusOK)
	h := newNoticeHarness(t, localSender(), nil)
	tk := h.start(t, &NotifyInput{URL: rc.URL})
	h.succeed(t, tk.ID)
	if reqs := rc.requests(); len(reqs) != 1 || reqs[0].header.Get(notify.HeaderSignature) != "" {
		t.Errorf("requests %+v, want one without a signature", reqs)
	}
	if n := h.record(t, tk.ID).Notify; n.Signed || n.Status != sandstep.NoticeDelivered {
		t.Errorf("notice %+v, want delivered, not signed", n)
	}
}

// A receiver that fails twice and then accepts gets exactly one accepted
// delivery: the reaper retries with backoff, every attempt the same
// notice under the same delivery id, and nothing once it is accepted.
func TestNoticeIsRetriedUntilAccepted(t *testing.T) {
	rc := newHook(t, http.StatusInternalServerError, http.StatusBadGateway, http.StatusNoContent)
	h := newNoticeHarness(t, localSender(), nil)
	tk := h.start(t, &NotifyInput{URL: rc.URL, SecretRef: hookRef})
	h.succeed(t, tk.ID)

	n := h.record(t, tk.ID).Notify
	if n.Status != sandstep.NoticePending || n.Attempts != 1 || !strings.Contains(n.LastError, "500") {
		t.Fatalf("after the first attempt: %+v, want pending with the 500", n)
	}
	if got := h.reap(t); got != 0 {
		t.Errorf("the reaper attempted %d before the backoff passed", got)
	}
	h.advance(time.Minute)
	if got := h.reap(t); got != 1 {
		t.Errorf("after 1m the reaper attempted %d, want 1", got)
	}
	n = h.record(t, tk.ID).Notify
	if n.Attempts != 2 || n.NextAttemptAt == nil || n.NextAttemptAt.Sub(h.clock.Now()) != 2*time.Minute {
		t.Errorf("after the second attempt: %+v, want the next in 2m", n)
	}
	h.advance(time.Minute)
	if got := h.reap(t); got != 0 {
		t.Errorf("1m into a 2m backoff the reaper attempted %d", got)
	}
	h.advance(time.Minute)
	if got := h.reap(t); got != 1 {
		t.Errorf("after 2m the reaper attempted %d, want 1", got)
	}
	for range 3 {
		h.advance(time.Hour)
		h.reap(t)
	}

	reqs := rc.requests()
	accepted := 0
	for i, r := range reqs {
		if r.status/100 == 2 {
			accepted++
		}
		if r.header.Get(notify.HeaderDelivery) != reqs[0].header.Get(notify.HeaderDelivery) || string(r.body) != string(reqs[0].body) {
			t.Errorf("attempt %d: delivery %q, body %s; want attempt 1's (%q, %s)", i+1,
				r.header.Get(notify.HeaderDelivery), r.body, reqs[0].header.Get(notify.HeaderDelivery), reqs[0].body)
		}
		if !notify.Verify([]byte(hookSecret), r.body, r.header.Get(notify.HeaderSignature)) {
			t.Errorf("attempt %d: signature does not verify", i+1)
		}
	}
	if len(reqs) != 3 || accepted != 1 {
		t.Errorf("%d requests, %d accepted; want 3 and exactly 1", len(reqs), accepted)
	}
	n = h.record(t, tk.ID).Notify
	if n.Status != sandstep.NoticeDelivered || n.Attempts != 3 || n.NextAttemptAt != nil {
		t.Errorf("notice %+v, want delivered at attempt 3", n)
	}
	if !h.audited(t, tk.ID, "delivered") {
		t.Error("no task.notify audit event saying delivered")
	}
}

// audited says whether the task's audit trail has a task.notify event with
// status.
func (h *noticeHarness) audited(t *testing.T, id, status string) bool {
	t.Helper()
	return slices.Contains(h.notified(t, id), status)
}

// notified is the status of each task.notify event of task id, in order.
func (h *noticeHarness) notified(t *testing.T, id string) []string {
	t.Helper()
	events, _, err := h.store.ListAudit(context.Background(), "", id, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, e := range events {
		if e.Action == ActionTaskNotify {
			statuses = append(statuses, e.Detail["status"])
		}
	}
	return statuses
}

// fakeNotifier answers every attempt with err and counts them.
type fakeNotifier struct {
	mu       sync.Mutex
	err      error
	attempts int
}

func (f *fakeNotifier) CheckURL(string) error { return nil }

func (f *fakeNotifier) Send(context.Context, string, string, []byte, string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	return f.err
}

func TestNoticeGivesUp(t *testing.T) {
	tests := []struct {
		name string
		err  error
		// lose, when set, makes the secret unreadable after the start.
		lose bool
		// attempts before it is failed; its last error says why.
		attempts int
		says     string
	}{
		{"receiver down for good", sandstep.Errorf(sandstep.ETRANSIENT, "hooks.example.com answered 503"), false, 5, "503"},
		{"no answer ever", sandstep.Errorf(sandstep.ETIMEOUT, "hooks.example.com did not answer"), false, 5, "did not answer"},
		{"address refused", sandstep.Errorf(sandstep.EINVALID, "refused: hooks.example.com resolves to 10.0.0.1"), false, 1, "refused"},
		{"secret gone", nil, true, 1, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn := &fakeNotifier{err: tt.err}
			h := newNoticeHarness(t, fn, func(o *Options) { o.NotifyRetryFor = 10 * time.Minute })
			tk := h.start(t, &NotifyInput{URL: "https://hooks.example.com/x", SecretRef: hookRef})
			if tt.lose {
				delete(h.secrets, hookRef)
			}
			h.succeed(t, tk.ID)
			// 1m, 2m, 4m, then 3m (the 8m wait cut short): the last
			// attempt is made when the 10m window ends.
			for range 30 {
				h.advance(time.Minute)
				h.reap(t)
			}
			n := h.record(t, tk.ID).Notify
			attempts := fn.attempts
			if tt.lose {
				attempts = n.Attempts // the secret failed before anything was sent
			}
			if n.Status != sandstep.NoticeFailed || n.Attempts != tt.attempts || attempts != tt.attempts || !strings.Contains(n.LastError, tt.says) || n.NextAttemptAt != nil {
				t.Errorf("notice %+v after %d sends; want failed after %d attempts, saying %q", n, fn.attempts, tt.attempts, tt.says)
			}
			if !h.audited(t, tk.ID, "failed") {
				t.Error("no task.notify audit event saying failed")
			}
			var emf bytes.Buffer
			if err := h.metrics.WriteTo(&emf, "test", time.Now()); err != nil || !strings.Contains(emf.String(), `"NoticesGivenUp":1,`) {
				t.Errorf("metrics %s (%v), want NoticesGivenUp 1", emf.String(), err)
			}
		})
	}
}

// A receiver that never answers does not hold up the task's end: the
// task has ended and let go of everything when the notice is first
// attempted, a cancel answers without attempting it at all, and the
// clean-up returns the task's own outcome with the notice left pending.
func TestNoticeNeverDelaysTheEnd(t *testing.T) {
	rc := newHook(t, http.StatusOK)
	// Registered after the server's Close, so it runs before it.
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var entered []string // the task's status each time the receiver was reached
	sender := notify.NewSender(notify.Options{Local: true, Timeout: 200 * time.Millisecond})
	h := newNoticeHarness(t, sender, nil)
	ctx := context.Background()
	tk := h.start(t, &NotifyInput{URL: rc.URL})
	rc.during = func() {
		entered = append(entered, string(h.record(t, tk.ID).Status))
		if q, _ := h.store.GetQuota(ctx, "alice"); q.Active != 0 || len(h.provider.live()) != 0 {
			entered = append(entered, "still holding its sandbox")
		}
		<-release
	}

	// DELETE /tasks/{id} answers without attempting the notice.
	cancelled, err := h.svc.CancelTask(ctx, alice(), tk.ID)
	if err != nil || cancelled.Status != sandstep.TaskCancelled {
		t.Fatalf("cancel: %+v, %v", cancelled, err)
	}
	if len(rc.requests()) != 0 {
		t.Errorf("the cancel reached the receiver %d times", len(rc.requests()))
	}
	// The execution's end (the status-change rule) cleans up, then
	// attempts it once; the receiver never answers.
	_, err = h.svc.CleanUpTask(ctx, tk.ID, &TaskFailure{Error: "States.Aborted", Cause: "stopped"})
	if oe, ok := err.(*OutcomeError); !ok || oe.Name() != "Task.Cancelled" {
		t.Errorf("clean-up: %v, want the task's own outcome, Task.Cancelled", err)
	}
	if !slices.Equal(entered, []string{"cancelled"}) {
		t.Errorf("the receiver was reached %d times, seeing %v; want once, the task cancelled and released", len(entered), entered)
	}
	n := h.record(t, tk.ID).Notify
	if n.Status != sandstep.NoticePending || n.Attempts != 1 || !strings.Contains(n.LastError, "did not answer") {
		t.Errorf("notice %+v, want pending after one unanswered attempt", n)
	}
}

// A clean-up with too little of its invocation left leaves the notice to
// the reaper rather than risk being cut off mid-attempt.
func TestNoticeLeftToTheReaperWhenTimeIsShort(t *testing.T) {
	rc := newHook(t, http.StatusOK)
	h := newNoticeHarness(t, localSender(), nil)
	tk := h.start(t, &NotifyInput{URL: rc.URL})
	ctx, cancel := context.WithTimeout(context.Background(), noticeAttemptTime/2)
	defer cancel()
	zero, now := 0, h.clock.Now()
	if _, err := h.store.TransitionTask(ctx, tk.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskSucceeded,
		func(r *sandstep.Task) { r.ExitCode, r.FinishedAt = &zero, &now }); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.CleanUpTask(ctx, tk.ID, nil); err != nil {
		t.Fatal(err)
	}
	if len(rc.requests()) != 0 || h.record(t, tk.ID).Notify.Attempts != 0 {
		t.Fatal("attempted with too little time left")
	}
	if got := h.reap(t); got != 1 || len(rc.requests()) != 1 || h.record(t, tk.ID).Notify.Status != sandstep.NoticeDelivered {
		t.Errorf("the reaper attempted %d, %d requests; want the notice delivered", got, len(rc.requests()))
	}
}

// Clean-ups and reaper runs at once send a due notice once: each attempt
// is claimed in the record before it is sent.
func TestNoticeAttemptsAreClaimed(t *testing.T) {
	rc := newHook(t, http.StatusOK)
	h := newNoticeHarness(t, localSender(), nil)
	ctx := context.Background()
	tk := h.start(t, &NotifyInput{URL: rc.URL})
	zero, now := 0, h.clock.Now()
	ended, err := h.store.TransitionTask(ctx, tk.ID, []sandstep.TaskStatus{sandstep.TaskRunning}, sandstep.TaskSucceeded,
		func(r *sandstep.Task) { r.ExitCode, r.FinishedAt = &zero, &now })
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { h.svc.notifyEnded(ctx, ended) })
	}
	wg.Go(func() { _, _ = redriveNotices(ctx, h.svc, false) })
	wg.Wait()
	if n := len(rc.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestRedriveNoticesDryRun(t *testing.T) {
	rc := newHook(t, http.StatusServiceUnavailable)
	h := newNoticeHarness(t, localSender(), nil)
	tk := h.start(t, &NotifyInput{URL: rc.URL})
	h.succeed(t, tk.ID)
	h.advance(time.Minute)
	due, err := redriveNotices(context.Background(), h.svc, true)
	if err != nil || due != 1 || len(rc.requests()) != 1 {
		t.Errorf("dry run: %d due (%v), %d requests; want 1 due and nothing sent", due, err, len(rc.requests()))
	}
}

func TestNoticeBackoff(t *testing.T) {
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		if got := noticeBackoff(i + 1); got != w {
			t.Errorf("after attempt %d: %s, want %s", i+1, got, w)
		}
	}
}

// redriveNotices is the reaper's part with the notices.
func redriveNotices(ctx context.Context, s *Service, dryRun bool) (int, error) {
	found, err := s.inventory.LiveRecords(ctx)
	if err != nil || !s.sendsNotices() {
		return 0, err
	}
	r := &reaping{s: s}
	return s.redrive(ctx, found.Notices, dryRun, abandonedAfter, r.executionRunning), nil
}
