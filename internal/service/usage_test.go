package service

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sandstep/sandstep/internal/dynamo"

	"github.com/sandstep/sandstep/internal/cost"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// tally counts the DynamoDB and S3 requests made by metered invocations,
// as the test sees them, and counts them into the invocation's meter as
// the functions' clients do (internal/app).
type tally struct {
	mu                      sync.Mutex
	ddbReads, ddbWrites     int
	s3Gets, s3Puts          int
	invocations, transition int
}

func (c *tally) dynamoDB(ctx context.Context, in any) {
	m := cost.MeterFrom(ctx)
	if m == nil {
		return
	}
	var write bool
	switch in.(type) {
	case *dynamo.GetItemInput, *dynamo.QueryInput, *dynamo.ScanInput:
	case *types.Put, *types.Update, *types.Delete, *dynamo.TransactWriteItemsInput:
		write = true
	default:
		return
	}
	m.DynamoDB(write, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if write {
		c.ddbWrites++
	} else {
		c.ddbReads++
	}
}

// countedObjects is fakeObjects counting each request into the tally and
// the meter.
type countedObjects struct {
	*fakeObjects
	c *tally
}

func (o countedObjects) count(ctx context.Context, get bool) {
	m := cost.MeterFrom(ctx)
	if m == nil {
		return
	}
	m.S3(get)
	o.c.mu.Lock()
	defer o.c.mu.Unlock()
	if get {
		o.c.s3Gets++
	} else {
		o.c.s3Puts++
	}
}

func (o countedObjects) Put(ctx context.Context, key string, body []byte) error {
	o.count(ctx, false)
	return o.fakeObjects.Put(ctx, key, body)
}

func (o countedObjects) Get(ctx context.Context, key string) ([]byte, error) {
	o.count(ctx, true)
	return o.fakeObjects.Get(ctx, key)
}

func (o countedObjects) List(ctx context.Context, prefix, after string, limit int) ([]string, error) {
	o.count(ctx, false)
	return o.fakeObjects.List(ctx, prefix, after, limit)
}

// exitedSessions is fakeSessions whose command has exited 0.
type exitedSessions struct{ fakeSessions }

func (exitedSessions) CommandExit(context.Context, string, string, string) (*int, error) {
	zero := 0
	return &zero, nil
}

// usageHarness runs a task's steps as the functions do: each step its own
// invocation with its own meter, on a store whose client tallies requests.
type usageHarness struct {
	svc      *Service
	provider *fakeProvider
	store    *store.Store
	clock    *settableClock
	tally    *tally
	meters   []*cost.Meter
}

func newUsageHarness(t *testing.T, prices Prices) *usageHarness {
	t.Helper()
	return newUsageHarnessWith(t, prices, func(st Tasks) Tasks { return st })
}

// newUsageHarnessWith is newUsageHarness with the store's Tasks role
// wrapped by wrap.
func newUsageHarnessWith(t *testing.T, prices Prices, wrap func(Tasks) Tasks) *usageHarness {
	t.Helper()
	clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	c := &tally{}
	_, url := storetest.Server(t)
	client := storetest.DB(t, url, func(o *dynamo.Options) { o.Count = c.dynamoDB })
	if err := store.CreateTable(context.Background(), client, storetest.Table); err != nil {
		t.Fatal(err)
	}
	st, err := store.New(client, storetest.Table, store.Options{DefaultQuota: 5, IdempotencyTTL: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now, Prices: prices}
	// The command's output, as the watch reads both streams (base64, a
	// line each): "hi" on stdout, nothing on stderr.
	p := newFakeProvider()
	p.execResult = ExecResult{Stdout: "aGk=\n\n"}
	svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
		Tasks: wrap(st), Objects: countedObjects{newFakeObjects(), c}, Machine: fakeMachine{}, Sessions: exitedSessions{}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &usageHarness{svc: svc, provider: p, store: st, clock: clk, tally: c}
}

// invoke runs one step as one invocation standing for states states;
// each reading of its clock is 5 ms after the last.
func (h *usageHarness) invoke(t *testing.T, states int, step func(ctx context.Context) error) {
	t.Helper()
	tick := h.clock.Now()
	var mu sync.Mutex
	m := cost.NewMeter(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		tick = tick.Add(5 * time.Millisecond)
		return tick
	}, 1024, states)
	h.meters = append(h.meters, m)
	h.tally.mu.Lock()
	h.tally.invocations++
	h.tally.transition += states
	h.tally.mu.Unlock()
	if err := step(cost.WithMeter(context.Background(), m)); err != nil {
		if _, outcome := err.(*OutcomeError); !outcome {
			t.Fatal(err)
		}
	}
}

// checkAccounted checks that every request, invocation and transition
// is on the record or still held by its invocation's meter: none counted
// twice, none lost.
func (h *usageHarness) checkAccounted(t *testing.T, id, after string) *sandstep.TaskUsage {
	t.Helper()
	// Read without a meter: the check's own read is nobody's.
	rec, err := h.store.GetTask(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	got := sandstep.TaskUsage{}
	if rec.Usage != nil {
		got = *rec.Usage
	}
	for _, m := range h.meters {
		p := m.Pending()
		got.LambdaInvocations += p.LambdaInvocations
		got.StateTransitions += p.StateTransitions
		got.DynamoDBReadRequests += p.DynamoDBReadRequests
		got.DynamoDBWriteRequests += p.DynamoDBWriteRequests
		got.S3GetRequests += p.S3GetRequests
		got.S3PutRequests += p.S3PutRequests
	}
	c := h.tally
	c.mu.Lock()
	defer c.mu.Unlock()
	want := []int{c.invocations, c.transition, c.ddbReads, c.ddbWrites, c.s3Gets, c.s3Puts}
	have := []int{got.LambdaInvocations, got.StateTransitions, got.DynamoDBReadRequests, got.DynamoDBWriteRequests, got.S3GetRequests, got.S3PutRequests}
	for i, name := range []string{"invocations", "transitions", "DynamoDB reads", "DynamoDB writes", "S3 gets", "S3 puts"} {
		if have[i] != want[i] {
			t.Errorf("after %s: %s on the record and held: %d, made: %d", after, name, have[i], want[i])
		}
	}
	return rec.Usage
}

// A task's steps count what they use onto its record, in the writes they
// make anyway: every request made is on the record or, after an
// invocation's last write, in its meter; GET /tasks/{id} shows the counts
// and prices them.
func TestTaskUsageCountsWhatTheStepsDid(t *testing.T) {
	h := newUsageHarness(t, nil)
	ctx := context.Background()
	tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Sandbox: CreateSandboxInput{Image: "ubuntu:24.04", Resources: &sandstep.Resources{CPU: 2, MemoryGiB: 4, DiskGiB: 8}},
		Command: "make", TimeoutSeconds: intp(600)})
	if err != nil {
		t.Fatal(err)
	}
	step := TaskStep{TaskID: tk.ID, UserID: "alice"}
	steps := []struct {
		name   string
		states int
		run    func(context.Context) error
	}{
		{"prepare", 1, func(ctx context.Context) error {
			_, err := h.svc.PrepareTask(ctx, tk.ID, []byte(`{"userId":"alice"}`))
			return err
		}},
		{"sandbox", 1, func(ctx context.Context) error { _, err := h.svc.CreateTaskSandbox(ctx, step); return err }},
		{"start", 1, func(ctx context.Context) error { _, err := h.svc.StartTaskCommand(ctx, step); return err }},
		// The first Wait stands for itself; the Check that ends the watch
		// for itself and the Choice after it.
		{"wait", 1, func(ctx context.Context) error { return h.svc.WaitTask(ctx, step, "token-1") }},
		{"check", 2, func(ctx context.Context) error { _, err := h.svc.CheckTask(ctx, step); return err }},
		{"collect", 1, func(ctx context.Context) error { _, err := h.svc.CollectTask(ctx, step); return err }},
		{"cleanup", 1, func(ctx context.Context) error { _, err := h.svc.CleanUpTask(ctx, tk.ID, nil); return err }},
	}
	// Accepting it counted Prepare, which writes nothing: that invocation's
	// meter must hold just what was counted, and is left out.
	h.invoke(t, steps[0].states, steps[0].run)
	prepare := h.meters[0]
	if p, want := prepare.Pending(), *preparedUsage(); p != want {
		t.Errorf("Prepare used %+v, counted when accepted %+v", p, want)
	}
	h.meters = nil
	for _, s := range steps[1:] {
		h.invoke(t, s.states, s.run)
		h.checkAccounted(t, tk.ID, s.name)
		h.clock.Set(h.clock.Now().Add(15 * time.Second))
	}
	u := h.checkAccounted(t, tk.ID, "the run")
	if u == nil {
		t.Fatal("no usage on the record")
	}
	// Every step's invocation and states are on the record.
	if u.LambdaInvocations != len(steps) || u.StateTransitions != 8 {
		t.Errorf("invocations %d, transitions %d on the record; want %d and 8", u.LambdaInvocations, u.StateTransitions, len(steps))
	}
	if u.DynamoDBReadRequests == 0 || u.DynamoDBWriteRequests == 0 || u.S3GetRequests == 0 || u.S3PutRequests == 0 || u.LambdaMs == 0 {
		t.Errorf("usage %+v: every kind of use should be counted", *u)
	}
	if u.LambdaMBMs != u.LambdaMs*1024 {
		t.Errorf("MB·ms %d, want ms %d × 1024 MB", u.LambdaMBMs, u.LambdaMs)
	}
	if u.VCPU != 2 || u.MemoryGiB != 4 || u.DiskGiB != 8 {
		t.Errorf("size %d vCPU, %d GiB, %d GiB disk; want the create's 2, 4, 8", u.VCPU, u.MemoryGiB, u.DiskGiB)
	}
	// The sandbox lived from its create to the clean-up: five steps of 15 s.
	shown, err := h.svc.GetTask(ctx, alice(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if shown.Usage.SandboxSeconds != 75 {
		t.Errorf("sandbox seconds %v, want 75", shown.Usage.SandboxSeconds)
	}
	if shown.Cost == nil || shown.Cost.Prices != "default" || shown.Cost.USD == cost.Dollars(0) || shown.Cost.Sandbox == cost.Dollars(0) {
		t.Errorf("cost %+v, want a non-zero estimate at the default prices", shown.Cost)
	}
}

// A running task shows what it has used so far, its sandbox counted until
// now.
func TestRunningTaskShowsUsageSoFar(t *testing.T) {
	h := newUsageHarness(t, nil)
	ctx := context.Background()
	tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "make", TimeoutSeconds: intp(600)})
	if err != nil {
		t.Fatal(err)
	}
	step := TaskStep{TaskID: tk.ID, UserID: "alice"}
	h.invoke(t, 1, func(ctx context.Context) error { _, err := h.svc.CreateTaskSandbox(ctx, step); return err })
	h.invoke(t, 1, func(ctx context.Context) error { _, err := h.svc.StartTaskCommand(ctx, step); return err })
	h.clock.Set(h.clock.Now().Add(90 * time.Second))
	shown, err := h.svc.GetTask(ctx, alice(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if shown.Status != sandstep.TaskRunning || shown.Usage == nil || shown.Usage.SandboxSeconds != 90 || shown.Usage.LambdaInvocations != 3 {
		// Prepare (counted when the task was accepted) and the two steps.
		t.Fatalf("running task %s shows %+v, want 90 sandbox seconds and 3 invocations so far", shown.Status, shown.Usage)
	}
	if shown.Usage.VCPU != cost.DefaultVCPU || shown.Usage.DiskGiB != cost.DefaultDiskGiB {
		t.Errorf("a create without resources is Daytona's default size, got %+v", shown.Usage)
	}
	list, err := h.svc.ListTasks(ctx, alice(), TaskListInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Cost == nil {
		t.Errorf("the list shows %+v, want the task with its cost", list.Items)
	}
}

// A task's sandbox is counted at the size Daytona gave it: a snapshot's
// own (its create names none), else what the create asked for, else
// Daytona's default.
func TestTaskSizeIsWhatDaytonaGave(t *testing.T) {
	tests := []struct {
		name  string
		in    CreateSandboxInput
		given *sandstep.Resources
		want  [3]int
	}{
		{name: "a snapshot's own size", in: CreateSandboxInput{Snapshot: "big"}, given: &sandstep.Resources{CPU: 4, MemoryGiB: 8, DiskGiB: 10}, want: [3]int{4, 8, 10}},
		{name: "what the create asked for", in: CreateSandboxInput{Image: "python:3.12", Resources: &sandstep.Resources{CPU: 2, MemoryGiB: 4, DiskGiB: 8}},
			given: &sandstep.Resources{CPU: 2, MemoryGiB: 4, DiskGiB: 8}, want: [3]int{2, 4, 8}},
		{name: "Daytona not saying the disk: what was asked", in: CreateSandboxInput{Image: "python:3.12", Resources: &sandstep.Resources{CPU: 2, MemoryGiB: 4, DiskGiB: 8}},
			given: &sandstep.Resources{CPU: 2, MemoryGiB: 4}, want: [3]int{2, 4, 8}},
		{name: "Daytona not saying: what was asked", in: CreateSandboxInput{Image: "python:3.12", Resources: &sandstep.Resources{CPU: 2, MemoryGiB: 4, DiskGiB: 8}},
			want: [3]int{2, 4, 8}},
		{name: "Daytona not saying, nothing asked: its default", in: CreateSandboxInput{Snapshot: "big"},
			want: [3]int{cost.DefaultVCPU, cost.DefaultMemoryGiB, cost.DefaultDiskGiB}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newUsageHarness(t, nil)
			h.provider.size = tt.given
			ctx := context.Background()
			tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "make", TimeoutSeconds: intp(600), Sandbox: tt.in})
			if err != nil {
				t.Fatal(err)
			}
			h.invoke(t, 1, func(ctx context.Context) error {
				_, err := h.svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: "alice"})
				return err
			})
			shown, err := h.svc.GetTask(ctx, alice(), tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if u := shown.Usage; u == nil || [3]int{u.VCPU, u.MemoryGiB, u.DiskGiB} != tt.want {
				t.Errorf("usage %+v, want the size %v", u, tt.want)
			}
		})
	}
}

// The price table PRICE_TABLE_REF names is the one estimates use.
func TestTaskCostUsesTheDeploymentsPrices(t *testing.T) {
	table, err := cost.Parse([]byte(`{"daytona": {"vcpuSecond": 0.001, "memoryGiBSecond": 0, "diskGiBSecond": 0}}`))
	if err != nil {
		t.Fatal(err)
	}
	h := newUsageHarness(t, func(context.Context) (*cost.Table, error) { return table, nil })
	ctx := context.Background()
	tk, err := h.svc.StartTask(ctx, alice(), TaskInput{Command: "make", TimeoutSeconds: intp(600)})
	if err != nil {
		t.Fatal(err)
	}
	h.invoke(t, 1, func(ctx context.Context) error {
		_, err := h.svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: "alice"})
		return err
	})
	h.clock.Set(h.clock.Now().Add(10 * time.Second))
	shown, err := h.svc.GetTask(ctx, alice(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	// 10 s of 1 vCPU at $0.001.
	if shown.Cost.Sandbox != "0.010000000" || shown.Cost.Prices != "PRICE_TABLE_REF" {
		t.Errorf("cost %+v, want the sandbox's 0.010000000 at PRICE_TABLE_REF's prices", shown.Cost)
	}
}

// A cancel answers the task as GET shows it then: its usage to its end,
// and its cost.
func TestACancelAnswersWhatGetShows(t *testing.T) {
	h := newNoticeHarness(t, nil, nil)
	ctx := context.Background()
	tk := h.start(t, nil)
	h.advance(10 * time.Minute)
	c, err := h.svc.CancelTask(ctx, alice(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.svc.GetTask(ctx, alice(), tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Usage == nil || c.Usage.SandboxSeconds == 0 || c.Cost == nil || *c.Cost != *got.Cost {
		t.Errorf("DELETE answered usage %+v, cost %+v; GET shows %+v, %+v", c.Usage, c.Cost, got.Usage, got.Cost)
	}
}
