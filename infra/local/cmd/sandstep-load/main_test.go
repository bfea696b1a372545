package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sfnlocal"
	"github.com/sandstep/sandstep/internal/testutil"
)

// TestMain serves the stand-ins when a run starts this binary again as
// their process, as main does.
func TestMain(m *testing.M) {
	if spec := os.Getenv(standInsEnv); spec != "" {
		os.Exit(serveStandIns(spec, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// small is a run small enough for go test: 40 creates over 4 users with
// quota 5 (10 attempts each: 5 created, 5 refused), 3 tasks.
var small = map[string]string{
	"LOAD_N": "40", "LOAD_USERS": "4", "LOAD_QUOTA": "5", "LOAD_LATENCY": "5ms",
	"LOAD_INFLIGHT": "10", "LOAD_TASKS": "3", "LOAD_TIMEOUT": "3m",
}

func smallConfig(t *testing.T) config {
	t.Helper()
	needRunner(t)
	cfg, err := parseConfig(func(k string) string { return small[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.templatePath = "../../../../template.yaml"
	return cfg
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestSmallRunIsExact(t *testing.T) {
	var out, errOut strings.Builder
	code := verdict(&out, runLoad(context.Background(), smallConfig(t), &out, &errOut))
	if code != 0 || lastLine(out.String()) != "load: exact" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{
		"processes: ", "creates: 40 in", "20 created, 20 refused (429)", "execs: 20 in", "deletes: 20 in",
		"Daytona, after the creates: asked 20 times to create, for 20 sandbox(es) the run was given; refused 0 (429)",
		"tasks: 3 started, 3 succeeded", "Daytona, after the tasks: asked 23 times to create, for 23 sandbox(es) the run was given; refused 0 (429)",
		"0 quota slot(s) held, 0 live sandbox(es) listed, 0 on the Daytona server",
		"POST /sandboxes 201: n=20", "POST /sandboxes 429: n=20", "POST /sandboxes/{id}/exec 200: n=20",
		"DELETE /sandboxes/{id} 200: n=20", "POST /tasks 202: n=3", "TransactWriteItems     40",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
}

// A failure the run meets must make it not exact, whatever answers the
// run is given after it: a create Daytona refused (a permanent error,
// which nothing retries) leaves its user a sandbox or a 429 short; a create
// Daytona failed is a 503 that, unlike the create rate's refusal, is not
// asked again, with or without a rate; a Daytona 429 to a task's create
// is asked again by the client and the task succeeds, but Daytona's count
// says a request made no sandbox. (How many sandboxes the creates make
// depends on whether the failed one was a user's last with a slot free:
// only the request that made none is certain.)
func TestAFailureIsNotExact(t *testing.T) {
	createFault := func(kind daytonalocal.FaultKind, status int) []daytonalocal.Fault {
		return []daytonalocal.Fault{{
			Kind: kind, Status: status, Message: "injected by the load test",
			Match: daytonalocal.Match{Operation: "createSandbox"}, Times: 1,
		}}
	}
	tests := []struct {
		name   string
		tweak  func(*config)
		want   []string // in the last line
		notHas string   // not in the last line
	}{
		{"a create Daytona refused", func(c *config) { c.daytonaFaults = createFault(daytonalocal.FaultError, 400) },
			[]string{"create for load-u", "and 0 refused for its rate: 1 request(s) made no sandbox"}, ""},
		{"a create Daytona failed, under a create rate that does not bind", func(c *config) {
			c.rate = 100000
			c.daytonaFaults = createFault(daytonalocal.FaultCreateError, 0)
		}, []string{"503 that is not the create rate's refusal", "the sandbox failed to start: injected by the load test",
			"and 0 refused for its rate: 1 request(s) made no sandbox"}, ""},
		{"a Daytona 429 during the tasks", func(c *config) {
			c.creates, c.users, c.tasks = 4, 4, 1
			c.taskFaults = []daytonalocal.Fault{{Kind: daytonalocal.FaultRateLimit, RetryAfter: time.Second,
				Match: daytonalocal.Match{Operation: "createSandbox"}, Times: 1}}
		}, []string{"by the end of the tasks Daytona was asked 6 times to create, for 5 sandbox(es) the run was given and 0 refused for its rate: 1 request(s) made no sandbox"},
			"by the end of the creates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smallConfig(t)
			cfg.tasks = 0
			tt.tweak(&cfg)
			var out strings.Builder
			code := verdict(&out, runLoad(context.Background(), cfg, &out, io.Discard))
			last := lastLine(out.String())
			ok := code == 1 && strings.HasPrefix(last, "load: NOT exact: ") && (tt.notHas == "" || !strings.Contains(last, tt.notHas))
			for _, w := range tt.want {
				ok = ok && strings.Contains(last, w)
			}
			if !ok {
				t.Fatalf("exit %d, last line %q; want 1 and a line saying %q\nstdout:\n%s", code, last, tt.want, out.String())
			}
		})
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr string
	}{
		{"defaults", nil, config{creates: 1000, users: 50, quota: 5, latency: 110 * time.Millisecond, inflight: 100, tasks: 20, timeout: 10 * time.Minute}, ""},
		{"set", map[string]string{"LOAD_N": "7", "LOAD_USERS": "7", "LOAD_QUOTA": "1", "LOAD_LATENCY": "0s", "LOAD_INFLIGHT": "2", "LOAD_TASKS": "0", "LOAD_TIMEOUT": "1m", "LOAD_CREATE_RATE": "30"},
			config{creates: 7, users: 7, quota: 1, latency: 0, inflight: 2, tasks: 0, timeout: time.Minute, rate: 30}, ""},
		{"negative rate", map[string]string{"LOAD_CREATE_RATE": "-1"}, config{}, "LOAD_CREATE_RATE"},
		{"not a number", map[string]string{"LOAD_N": "many"}, config{}, "LOAD_N"},
		{"zero quota", map[string]string{"LOAD_QUOTA": "0"}, config{}, "LOAD_QUOTA"},
		{"negative tasks", map[string]string{"LOAD_TASKS": "-1"}, config{}, "LOAD_TASKS"},
		{"latency without unit", map[string]string{"LOAD_LATENCY": "110"}, config{}, "LOAD_LATENCY"},
		{"more users than creates", map[string]string{"LOAD_N": "3", "LOAD_USERS": "4"}, config{}, "LOAD_USERS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.creates != tt.want.creates || got.users != tt.want.users || got.quota != tt.want.quota ||
				got.latency != tt.want.latency || got.inflight != tt.want.inflight || got.tasks != tt.want.tasks || got.timeout != tt.want.timeout || got.rate != tt.want.rate {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestAttemptsSpreadEveryCreate(t *testing.T) {
	cfg := config{creates: 10, users: 4}
	total := 0
	for u, want := range []int{3, 3, 2, 2} {
		if got := cfg.attempts(u); got != want {
			t.Errorf("user %d: %d attempts, want %d", u, got, want)
		}
		total += cfg.attempts(u)
	}
	if total != 10 {
		t.Errorf("%d attempts in all, want 10", total)
	}
}

func TestDaytonaLatencyKeepsThePublishedShares(t *testing.T) {
	got := config{latency: 110 * time.Millisecond}.daytonaLatency()
	want := daytonalocal.Latency{Create: 110 * time.Millisecond, Get: 20 * time.Millisecond, Delete: 30 * time.Millisecond, Toolbox: 20 * time.Millisecond}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestSplit(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	class := func(host string) string { return host }
	tests := []struct {
		name  string
		calls []call
		want  split
	}{
		{"no calls", nil, split{total: 100 * time.Millisecond, own: 100 * time.Millisecond}},
		{"sequential", []call{{host: classStore, start: at(0), end: at(10)}, {host: classDaytona, start: at(10), end: at(80)}, {host: classStore, start: at(85), end: at(95)}},
			split{total: 100 * time.Millisecond, daytona: 70 * time.Millisecond, store: 20 * time.Millisecond, own: 10 * time.Millisecond, storeCalls: 2}},
		{"a store call behind Daytona's counts as Daytona's", []call{{host: classDaytona, start: at(10), end: at(80)}, {host: classStore, start: at(20), end: at(30)}},
			split{total: 100 * time.Millisecond, daytona: 70 * time.Millisecond, own: 30 * time.Millisecond, storeCalls: 1}},
		{"overlapping store calls count once", []call{{host: classStore, start: at(0), end: at(20)}, {host: classStore, start: at(10), end: at(30)}, {host: classOther, start: at(25), end: at(40)}},
			split{total: 100 * time.Millisecond, store: 30 * time.Millisecond, other: 10 * time.Millisecond, own: 60 * time.Millisecond, storeCalls: 2}},
		{"the pause before a retry of a failed Daytona call is Daytona's", []call{{host: classDaytona, start: at(10), end: at(20), failure: "503"}, {host: classDaytona, start: at(50), end: at(60)}},
			split{total: 100 * time.Millisecond, daytona: 50 * time.Millisecond, own: 50 * time.Millisecond, daytonaFailures: 1}},
		{"a call after the answer is late and not counted", []call{{host: classStore, start: at(90), end: at(120)}},
			split{total: 100 * time.Millisecond, store: 10 * time.Millisecond, own: 90 * time.Millisecond, storeCalls: 1, late: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitOf(invocation{start: at(0), end: at(100)}, tt.calls, class)
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	tests := []struct {
		name     string
		problems []string
		code     int
		last     string
	}{
		{"none", nil, 0, "load: exact"},
		{"one", []string{"a"}, 1, "load: NOT exact: a"},
		{"many", []string{"a", "b", "c", "d", "e", "f", "g"}, 1, "load: NOT exact: a; b; c; d; e; and 2 more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			if code := verdict(&out, tt.problems); code != tt.code || lastLine(out.String()) != tt.last {
				t.Errorf("exit %d, %q; want %d, %q", code, out.String(), tt.code, tt.last)
			}
		})
	}
}

// A call its function cancelled (a read made moot by another) is not a
// failure: the report names it apart and no retry pause is Daytona's.
func TestTransportTellsACancelledCallFromAFailedOne(t *testing.T) {
	tests := []struct {
		name          string
		cancel        bool
		err           error
		wantFailure   string
		wantCancelled bool
	}{
		{"cancelled by its function", true, context.Canceled, "", true},
		{"failed", false, errors.New("connection refused"), "connection refused", false},
		// A cancellation the function did not ask for is a failure.
		{"cancelled underneath", false, context.Canceled, context.Canceled.Error(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecorder()
			ctx, cancel := context.WithCancel(lambdacontext.NewContext(t.Context(), &lambdacontext.LambdaContext{AwsRequestID: "req"}))
			defer cancel()
			if tt.cancel {
				cancel()
			}
			rt := r.transport(roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, tt.err }))
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:1/x", nil)
			_, _ = rt.RoundTrip(req)
			got := r.calls["req"]
			if len(got) != 1 || got[0].failure != tt.wantFailure || got[0].cancelled != tt.wantCancelled {
				t.Fatalf("calls %+v, want one with failure %q, cancelled %v", got, tt.wantFailure, tt.wantCancelled)
			}
		})
	}
}

func TestOneP(t *testing.T) {
	was := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(was) })
	tests := []struct {
		name string
		env  map[string]string
		want int
	}{
		{"by default", nil, 1},
		// The runtime has read it at start: the run leaves it.
		{"GOMAXPROCS set", map[string]string{"GOMAXPROCS": "3"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runtime.GOMAXPROCS(3)
			oneP(func(k string) string { return tt.env[k] })
			if got := runtime.GOMAXPROCS(0); got != tt.want {
				t.Errorf("GOMAXPROCS %d, want %d", got, tt.want)
			}
		})
	}
}

// needRunner skips a test that starts the stand-ins or a stack where the
// Step Functions runner's npm packages are not installed, except where
// SANDSTEP_REQUIRE_NODE is set (CI).
func needRunner(t testing.TB) {
	t.Helper()
	testutil.NeedNode(t, sfnlocal.RunnerInstalled())
}
