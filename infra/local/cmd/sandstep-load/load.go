package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sandstep/sandstep/infra/local"
	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/store"
)

// loadRun is one run against one stack.
type loadRun struct {
	cfg config
	out io.Writer
	st  *local.Stack
	// standIns serve DynamoDB (st.DynamoDBURL) and Daytona, apart from
	// the functions.
	standIns *standIns
	rec      *recorder
	http     *http.Client
	// awsTransport is the functions' transport to AWS, untimed; the bare
	// store's calls share it.
	awsTransport http.RoundTripper

	// made counts the sandboxes the run was given: a 201 to a create, a
	// task's sandbox. Only the phase running writes it.
	made int
	// retried counts the creates refused for the shared create rate (503,
	// rateRefusal) and asked again.
	retried atomic.Int64

	mu       sync.Mutex
	problems []string
}

func (l *loadRun) problem(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

func (l *loadRun) say(format string, args ...any) { fmt.Fprintf(l.out, format+"\n", args...) }

// runLoad starts the stack, runs the phases, checks and reports; it
// returns what was not exact.
func runLoad(ctx context.Context, cfg config, out, stderr io.Writer) (problems []string) {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	// Why the run was cut short, if it was: read once the phases are over
	// (the stack's stop is not the run's), or at an early return. It
	// comes first: the verdict shows five problems, and the others follow
	// from it.
	why, read := "", false
	defer func() {
		if !read {
			why = cutShort(ctx, cfg.timeout)
		}
		if why != "" {
			problems = append([]string{why}, problems...)
		}
	}()
	l := &loadRun{cfg: cfg, out: out, rec: newRecorder(), http: &http.Client{Transport: pool(http.DefaultTransport, cfg.inflight), Timeout: 2 * time.Minute}}
	l.awsTransport = pool(http.DefaultTransport, cfg.inflight)
	lat := cfg.daytonaLatency()
	l.say("sandstep load: %d creates over %d users (quota %d each), %d in flight, %d tasks; Daytona latency: create %s, get %s, delete %s, toolbox %s; deadline %s; GOMAXPROCS %d",
		cfg.creates, cfg.users, cfg.quota, cfg.inflight, cfg.tasks, lat.Create, lat.Get, lat.Delete, lat.Toolbox, cfg.timeout, runtime.GOMAXPROCS(0))

	logs := &tailBuffer{max: 40}
	defer func() {
		if len(problems) > 0 {
			fmt.Fprintf(stderr, "last lines of the stand-ins' and the local stack's log:\n%s", logs.String())
		}
	}()
	env := map[string]string{"DEFAULT_USER_QUOTA": fmt.Sprint(cfg.quota)}
	var createRate daytonalocal.RateLimit
	if cfg.rate > 0 {
		// Daytona's throttler and the functions' shared budget, both per
		// minute.
		env["DAYTONA_CREATE_RATE"] = fmt.Sprint(cfg.rate)
		createRate = daytonalocal.RateLimit{Limit: cfg.rate, Window: time.Minute}
		l.say("Daytona's create rate: %d a minute", cfg.rate)
	}
	start := time.Now()
	split := splitCPUs()
	defer split.restore()
	si, err := startStandIns(ctx, standInsSpec{Latency: lat, Faults: cfg.daytonaFaults, Rate: createRate, CPUs: split.standIns}, logs)
	if err != nil {
		return []string{err.Error()}
	}
	defer func() {
		if err := si.Close(); err != nil {
			problems = append(problems, "stop the stand-ins: "+err.Error())
		}
	}()
	l.standIns = si
	if si.NotPinned != "" {
		split.end("the stand-ins' process: " + si.NotPinned)
	}
	env["DAYTONA_API_URL"], env["DAYTONA_API_KEY"] = si.Daytona, local.LocalDaytonaKey
	// The stack starts the Step Functions runner, which takes this
	// process's CPUs: the stand-ins' until the stack has started.
	split.pin(split.standIns)
	st, err := local.Start(ctx, local.Options{
		// Only what the run sets: a DAYTONA_API_KEY in the caller's
		// environment must not send the load to a real Daytona.
		Getenv:        func(k string) string { return env[k] },
		LogWriter:     logs,
		TemplatePath:  cfg.templatePath,
		HTTPClient:    &http.Client{Transport: l.rec.transport(pool(daytona.DefaultHTTPClient().Transport, cfg.inflight))},
		AWSHTTPClient: &http.Client{Transport: l.rec.transport(l.awsTransport)},
		WrapHandler:   l.rec.wrap,
		DynamoDBURL:   si.DynamoDB,
	})
	if err != nil {
		return []string{"start the local stack: " + err.Error()}
	}
	l.st = st
	defer func() {
		if err := st.Close(); err != nil {
			problems = append(problems, "stop the local stack: "+err.Error())
		}
	}()
	split.pin(split.functions)
	l.say("processes: %s", split)
	l.say("local stack on %s (DynamoDB %s, Daytona %s), started in %s", st.APIURL, st.DynamoDBURL, si.Daytona, since(start))

	users := l.sandboxes(ctx)
	bare := l.bareStore(ctx)
	taskUsers := l.tasks(ctx)
	l.checkEmpty(ctx, append(users, taskUsers...))
	why, read = cutShort(ctx, cfg.timeout), true
	l.report(bare)
	return l.problems
}

// cutShort says why the run ended before its phases did, if it did: its
// deadline, or an interrupt (whose cause names the signal).
func cutShort(ctx context.Context, timeout time.Duration) string {
	switch {
	case ctx.Err() == nil:
		return ""
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("the run did not finish within LOAD_TIMEOUT=%s", timeout)
	}
	return fmt.Sprintf("the run was stopped before it finished: %v", context.Cause(ctx))
}

// pool is base's transport keeping enough idle connections for n
// requests in flight: the default two per host would make a load run
// measure connection set-up.
func pool(base http.RoundTripper, n int) http.RoundTripper {
	t := base.(*http.Transport).Clone()
	t.MaxIdleConns = 4*n + 16
	t.MaxIdleConnsPerHost = 4*n + 16
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return t
}

func since(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }

// parallel runs f(0..n-1) with at most the configured requests in flight,
// until ctx is done.
func (l *loadRun) parallel(ctx context.Context, n int, f func(i int)) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(l.cfg.inflight, n) {
		wg.Go(func() {
			for i := range jobs {
				f(i)
			}
		})
	}
feed:
	for i := range n {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
}

// call makes one API request as user and decodes a 2xx answer into out.
func (l *loadRun) call(ctx context.Context, user, method, path string, body, out any) (int, []byte, error) {
	status, b, err := local.CallAPI(ctx, l.http, method, l.st.APIURL+path, user, body, 1<<20)
	if err != nil {
		return status, b, err
	}
	if out != nil && status/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			return status, b, fmt.Errorf("%s %s: answer is not the expected JSON: %w", method, path, err)
		}
	}
	return status, b, nil
}

// create makes one create as user. An answer that is the shared create
// rate's refusal (rateRefusal) is asked again after its Retry-After, with
// up to a second of jitter as a client would add, until ctx ends; any other
// answer, a 503 of another cause too, is the caller's to judge.
func (l *loadRun) create(ctx context.Context, user string, out *sandstep.Sandbox) (int, []byte, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.st.APIURL+"/sandboxes", strings.NewReader("{}"))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+user)
		res, err := l.http.Do(req)
		if err != nil {
			return 0, nil, err
		}
		b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		if err != nil {
			return res.StatusCode, b, err
		}
		wait, limited := rateRefusal(res.StatusCode, res.Header, b)
		if !limited {
			if res.StatusCode/100 == 2 {
				if err := json.Unmarshal(b, out); err != nil {
					return res.StatusCode, b, fmt.Errorf("POST /sandboxes: answer is not the expected JSON: %w", err)
				}
			}
			return res.StatusCode, b, nil
		}
		l.retried.Add(1)
		select {
		case <-ctx.Done():
			return res.StatusCode, b, ctx.Err()
		case <-time.After(wait + rand.N(time.Second)):
		}
	}
}

// rateRefusal reports whether an answer to a create is the shared create
// rate's refusal, and how long it asks the caller to wait. The API answers
// that refusal (sandstep.ErrCreateRate, code transient; see
// internal/store's rateSpent and internal/api's failHTTP) 503 with a
// Retry-After in whole seconds and a message naming DAYTONA_CREATE_RATE.
// Every other 503 is a failure, not the rate at work: one without
// Retry-After (Daytona failed the create, the store failed), one with
// another code (capacity, draining), or Daytona's own 429 passed on (its
// message names Daytona, not the variable).
func rateRefusal(status int, h http.Header, body []byte) (time.Duration, bool) {
	if status != http.StatusServiceUnavailable {
		return 0, false
	}
	secs, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || secs < 1 {
		return 0, false
	}
	var e api.ErrorResponse
	if json.Unmarshal(body, &e) != nil || e.Error.Code != sandstep.ETRANSIENT || !strings.Contains(e.Error.Message, store.RateRefusalMarker) {
		return 0, false
	}
	return time.Duration(secs) * time.Second, true
}

// unexpected reports an answer the run did not expect.
func (l *loadRun) unexpected(what string, status int, body []byte, err error) {
	if err != nil {
		l.problem("%s: %v", what, err)
		return
	}
	l.problem("%s: %d %s", what, status, clip(body))
}

func clip(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// sandboxes runs the sandbox mode and returns its users.
func (l *loadRun) sandboxes(ctx context.Context) []string {
	cfg := l.cfg
	users := make([]string, cfg.users)
	var order []int // attempt -> user, users interleaved
	most := 0
	for u := range users {
		users[u] = fmt.Sprintf("load-u%04d", u)
		most = max(most, cfg.attempts(u))
	}
	for round := range most {
		for u := range users {
			if round < cfg.attempts(u) {
				order = append(order, u)
			}
		}
	}

	var mu sync.Mutex
	made := make([][]string, cfg.users)
	refused := make([]int, cfg.users)
	start := time.Now()
	l.parallel(ctx, len(order), func(i int) {
		u := order[i]
		var sb sandstep.Sandbox
		status, body, err := l.create(ctx, users[u], &sb)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil && status == http.StatusCreated && sb.ID != "":
			made[u] = append(made[u], sb.ID)
		case err == nil && status == http.StatusTooManyRequests:
			refused[u]++
		case err == nil && status == http.StatusServiceUnavailable:
			l.problem("create for %s: 503 that is not the create rate's refusal (a failure; not asked again): %s", users[u], clip(body))
		default:
			l.unexpected("create for "+users[u], status, body, err)
		}
	})
	var ids []struct{ user, id string }
	n201, n429 := 0, 0
	for u := range users {
		want := min(cfg.attempts(u), cfg.quota)
		if len(made[u]) != want || refused[u] != cfg.attempts(u)-want {
			l.problem("%s: %d sandbox(es) and %d 429(s) from %d creates, want %d and %d",
				users[u], len(made[u]), refused[u], cfg.attempts(u), want, cfg.attempts(u)-want)
		}
		for _, id := range made[u] {
			ids = append(ids, struct{ user, id string }{users[u], id})
		}
		n201 += len(made[u])
		n429 += refused[u]
	}
	l.say("creates: %d in %s: %d created, %d refused (429)", len(order), since(start), n201, n429)
	if retried := int(l.retried.Load()); cfg.rate > 0 || retried > 0 {
		l.say("create rate: %d requests made %d attempts (%d refused for the shared create rate, 503 with Retry-After, and asked again after it: %.2f× the requests)",
			len(order), len(order)+retried, retried, float64(len(order)+retried)/float64(len(order)))
	}
	l.made = n201
	l.checkDaytona(ctx, "the creates")

	start = time.Now()
	l.parallel(ctx, len(ids), func(i int) {
		var res service.ExecResult
		status, body, err := l.call(ctx, ids[i].user, http.MethodPost, "/sandboxes/"+ids[i].id+"/exec", map[string]any{"command": "echo load-ok"}, &res)
		if err != nil || status != http.StatusOK || res.ExitCode != 0 || res.Stdout != "load-ok\n" {
			l.unexpected("exec in "+ids[i].id, status, body, err)
		}
	})
	l.say("execs: %d in %s", len(ids), since(start))

	start = time.Now()
	l.parallel(ctx, len(ids), func(i int) {
		status, body, err := l.call(ctx, ids[i].user, http.MethodDelete, "/sandboxes/"+ids[i].id, nil, nil)
		if err != nil || status != http.StatusOK {
			l.unexpected("delete "+ids[i].id, status, body, err)
		}
	})
	l.say("deletes: %d in %s", len(ids), since(start))
	return users
}

// tasks runs the task mode and returns its users (one per task, so that
// no task waits for another's quota slot).
func (l *loadRun) tasks(ctx context.Context) []string {
	n := l.cfg.tasks
	if n == 0 {
		return nil
	}
	for _, f := range l.cfg.taskFaults {
		if err := l.standIns.addFault(ctx, f); err != nil {
			l.problem("add a fault to the Daytona server: %v", err)
		}
	}
	// Named before the starts: a task the run never starts (cut short)
	// still has a user for the end's checks to ask about.
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("load-t%04d", i)
	}
	ids := make([]string, n)
	start := time.Now()
	l.parallel(ctx, n, func(i int) {
		var tk sandstep.Task
		status, body, err := l.call(ctx, users[i], http.MethodPost, "/tasks", map[string]any{"command": taskCommand, "timeoutSeconds": 300}, &tk)
		if err != nil || status != http.StatusAccepted || tk.ID == "" {
			l.unexpected("start a task for "+users[i], status, body, err)
			return
		}
		ids[i] = tk.ID
	})
	final := make([]sandstep.TaskStatus, n)
	sandboxes := make([]string, n) // each task's sandbox, once it has one
	for ctx.Err() == nil {
		var pending []int
		for i := range n {
			if ids[i] != "" && !final[i].Terminal() {
				pending = append(pending, i)
			}
		}
		if len(pending) == 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
		l.parallel(ctx, len(pending), func(j int) {
			i := pending[j]
			var tk sandstep.Task
			status, body, err := l.call(ctx, users[i], http.MethodGet, "/tasks/"+ids[i], nil, &tk)
			if err != nil || status != http.StatusOK {
				if ctx.Err() == nil {
					l.unexpected("read task "+ids[i], status, body, err)
					final[i] = sandstep.TaskFailed // stop asking
				}
				return
			}
			// A task is over for the run once its clean-up (the execution's
			// last step, after the status is final) has let go of its
			// sandbox and slot.
			if tk.Status.Terminal() && tk.SandboxID != "" {
				var sb sandstep.Sandbox
				status, body, err := l.call(ctx, users[i], http.MethodGet, "/sandboxes/"+tk.SandboxID, nil, &sb)
				if err != nil || status != http.StatusOK {
					if ctx.Err() == nil {
						l.unexpected("read the sandbox of task "+ids[i], status, body, err)
					}
				} else if !sb.State.Terminal() {
					return // still being cleaned up: ask again
				}
			}
			if tk.SandboxID != "" {
				sandboxes[i] = tk.SandboxID
			}
			final[i] = tk.Status
		})
	}
	started, succeeded := 0, 0
	for i := range n {
		if sandboxes[i] != "" {
			l.made++
		}
		if ids[i] != "" {
			started++
		}
		switch {
		case ids[i] == "":
		case final[i] == sandstep.TaskSucceeded:
			succeeded++
		default:
			l.problem("task %s of %s ended %q, want succeeded", ids[i], users[i], final[i])
		}
	}
	l.say("tasks: %d started, %d succeeded, in %s", started, succeeded, since(start))
	l.checkDaytona(ctx, "the tasks")
	return users
}

// checkDaytona checks the local Daytona server's create counts once a phase
// is over (after names it), against the sandboxes the run was given so far
// (l.made); see createProblems. Its figures are printed whatever they are.
func (l *loadRun) checkDaytona(ctx context.Context, after string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second) // checked even after the deadline
	defer cancel()
	c, err := l.standIns.creates(ctx)
	if err != nil {
		l.problem("ask the Daytona server for its creates after %s: %v", after, err)
		return
	}
	l.say("Daytona, after %s: asked %d times to create, for %d sandbox(es) the run was given; refused %d (429) for its rate", after, c.Requests, l.made, c.Refused)
	for _, p := range createProblems(after, c, l.made) {
		l.problem("%s", p)
	}
}

// createProblems is what Daytona's create counts (c, since the run began)
// say is not exact, made being the sandboxes the run was given. Every
// create request Daytona saw must have made one of them or been refused
// for its rate (429, which its client asks again after the wait); a
// request that did neither is a create that failed or was asked again
// (the provider's retry after a lost answer, a task's retry after a failed
// start), even when a later attempt gave the sandbox. And Daytona must
// refuse none: the functions share its rate (DAYTONA_CREATE_RATE) to keep
// within it.
func createProblems(after string, c createCounts, made int) []string {
	var ps []string
	if c.Refused > 0 {
		ps = append(ps, fmt.Sprintf("by the end of %s Daytona refused %d create(s) for its rate: the shared budget let them through", after, c.Refused))
	}
	switch extra := c.Requests - made - c.Refused; {
	case extra > 0:
		ps = append(ps, fmt.Sprintf("by the end of %s Daytona was asked %d times to create, for %d sandbox(es) the run was given and %d refused for its rate: %d request(s) made no sandbox (a create failed, or was asked again)",
			after, c.Requests, made, c.Refused, extra))
	case extra < 0:
		ps = append(ps, fmt.Sprintf("by the end of %s Daytona was asked %d times to create, for %d sandbox(es) the run was given and %d refused for its rate: %d sandbox(es) were never asked of it",
			after, c.Requests, made, c.Refused, -extra))
	}
	return ps
}

// checkEmpty checks that nothing is held: no live sandbox in any user's
// list, no quota slot in the table, no sandbox on the Daytona server.
func (l *loadRun) checkEmpty(ctx context.Context, users []string) {
	ctx = context.WithoutCancel(ctx) // checked even after the deadline
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	quotas, err := local.ReadStore(l.st.DynamoDBURL, l.st.Config.TableName)
	if err != nil {
		l.problem("read the table: %v", err)
		return
	}
	held, live := 0, 0
	l.parallel(ctx, len(users), func(i int) {
		q, err := quotas.GetQuota(ctx, users[i])
		if err != nil {
			l.problem("read the quota of %s: %v", users[i], err)
		} else if q.Active != 0 {
			l.problem("%s still holds %d quota slot(s)", users[i], q.Active)
			l.mu.Lock()
			held += q.Active
			l.mu.Unlock()
		}
		var page service.SandboxList
		status, body, err := l.call(ctx, users[i], http.MethodGet, "/sandboxes?limit=100", nil, &page)
		if err != nil || status != http.StatusOK {
			l.unexpected("list the sandboxes of "+users[i], status, body, err)
		} else if len(page.Items) != 0 {
			l.problem("%s still has %d live sandbox(es), e.g. %s (%s)", users[i], len(page.Items), page.Items[0].ID, page.Items[0].State)
			l.mu.Lock()
			live += len(page.Items)
			l.mu.Unlock()
		}
	})
	dc, err := daytona.New(daytona.Config{APIKey: local.LocalDaytonaKey, APIURL: l.standIns.Daytona})
	if err != nil {
		l.problem("the Daytona client: %v", err)
		return
	}
	left, err := dc.ListAllSandboxes(ctx, daytona.ListSandboxesOptions{})
	if err != nil {
		l.problem("list the Daytona server's sandboxes: %v", err)
		return
	}
	if len(left) != 0 {
		l.problem("the Daytona server still has %d sandbox(es), e.g. %s (%s)", len(left), left[0].ID, left[0].State)
	}
	l.say("at the end: %d quota slot(s) held, %d live sandbox(es) listed, %d on the Daytona server (%d users asked)", held, live, len(left), len(users))
}

// report prints the split of each operation's time, beside the bare
// store's.
func (l *loadRun) report(bare map[string][]time.Duration) {
	l.rec.mu.Lock()
	defer l.rec.mu.Unlock()
	class := func(host string) string {
		switch "http://" + host {
		case l.st.DynamoDBURL:
			return classStore
		case strings.TrimSuffix(l.standIns.Daytona, "/api"):
			return classDaytona
		}
		return classOther
	}
	byLabel := map[string][]split{}
	for id, inv := range l.rec.invocations {
		byLabel[inv.label] = append(byLabel[inv.label], splitOf(inv, l.rec.calls[id], class))
	}
	l.say("\nper operation, in ms: the handler's time (total), and its parts: Daytona's, the store's (DynamoDB),")
	l.say("other AWS (S3, Step Functions), and our own (total less every call; overlapping calls count once)")
	worst, worstLabel := time.Duration(0), ""
	for _, lb := range slices.Sorted(maps.Keys(byLabel)) {
		ss := byLabel[lb]
		pick := func(f func(split) time.Duration) quantiles {
			ds := make([]time.Duration, len(ss))
			for i, s := range ss {
				ds[i] = f(s)
			}
			return quantilesOf(ds)
		}
		calls, late, failed := 0, 0, 0
		for _, s := range ss {
			calls += s.storeCalls
			late += s.late
			failed += s.daytonaFailures
		}
		l.say("%s: n=%d, store calls %.1f each, failed Daytona calls %d, calls ending after the answer %d",
			lb, len(ss), float64(calls)/float64(len(ss)), failed, late)
		l.say("    %-8s %9s %9s %9s", "", "p50", "p95", "p99")
		pick(func(s split) time.Duration { return s.total }).row(l.out, "total")
		pick(func(s split) time.Duration { return s.daytona }).row(l.out, "daytona")
		pick(func(s split) time.Duration { return s.store }).row(l.out, "store")
		if q := pick(func(s split) time.Duration { return s.other }); q[2] > 0 {
			q.row(l.out, "otherAWS")
		}
		own := pick(func(s split) time.Duration { return s.own })
		own.row(l.out, "own")
		if own[2] > worst {
			worst, worstLabel = own[2], lb
		}
	}
	failures, cancelled := map[string]int{}, map[string]int{}
	for _, cs := range l.rec.calls {
		for _, c := range cs {
			switch {
			case c.failure != "":
				failures[class(c.host)+": "+c.failure]++
			case c.cancelled:
				cancelled[class(c.host)]++
			}
		}
	}
	for _, f := range slices.Sorted(maps.Keys(failures)) {
		l.say("failed calls, %s: %d (retried by the client; the pause before a retry counts as Daytona's)", f, failures[f])
	}
	for _, k := range slices.Sorted(maps.Keys(cancelled)) {
		l.say("calls cancelled by their function, %s: %d (asked beside a read whose answer made them moot, e.g. a status's look at Daytona for a sandbox its record says is over)", k, cancelled[k])
	}
	if l.rec.orphans > 0 {
		l.say("(%d calls outside any invocation: the stack's own start-up and checks)", l.rec.orphans)
	}
	l.say("\nbare store, %d in flight, in ms (the same embedded DynamoDB, the same run):", l.cfg.inflight)
	l.say("    %-18s %6s %9s %9s %9s", "", "n", "p50", "p95", "p99")
	for _, op := range []string{"GetItem", "PutItem", "TransactWriteItems"} {
		q := quantilesOf(bare[op])
		l.say("    %-18s %6d %9s %9s %9s", op, len(bare[op]), ms(q[0]), ms(q[1]), ms(q[2]))
	}
	if worstLabel != "" {
		l.say("\nour own time, worst p99: %s ms (%s); target ≤ 10 ms", ms(worst), worstLabel)
	}
}

// tailBuffer keeps the last lines written to it.
type tailBuffer struct {
	mu    sync.Mutex
	max   int
	lines []string
	part  string
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.part + string(p)
	parts := strings.Split(s, "\n")
	b.part = parts[len(parts)-1]
	b.lines = append(b.lines, parts[:len(parts)-1]...)
	if len(b.lines) > b.max {
		b.lines = slices.Clone(b.lines[len(b.lines)-b.max:])
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sb strings.Builder
	for _, l := range b.lines {
		sb.WriteString(l + "\n")
	}
	return sb.String()
}
