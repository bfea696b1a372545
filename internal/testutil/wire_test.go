package testutil

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// call is a synthetic call from ms a to ms b.
func call(service, op string, a, b int) Call {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return Call{Service: service, Op: op, Start: t0.Add(time.Duration(a) * time.Millisecond), End: t0.Add(time.Duration(b) * time.Millisecond)}
}

func TestMeasure(t *testing.T) {
	ddb := func(op string, a, b int) Call { return call(DynamoDB, op, a, b) }
	day := func(op string, a, b int) Call { return call(Daytona, op, a, b) }
	tests := []struct {
		name     string
		calls    []Call
		steps    int
		dynamoDB int
		order    string
	}{
		{"nothing", nil, 0, 0, "0 steps, DynamoDB depth 0: "},
		{"one store call", []Call{ddb("GetItem", 0, 5)}, 1, 1, "1 steps, DynamoDB depth 1: dynamodb GetItem"},
		{
			"sequential store calls each count",
			[]Call{ddb("GetItem", 0, 5), ddb("PutItem", 6, 11), ddb("TransactWriteItems", 12, 22)},
			3, 3, "3 steps, DynamoDB depth 3: dynamodb GetItem -> dynamodb PutItem -> dynamodb TransactWriteItems",
		},
		{
			"touching intervals do not overlap",
			[]Call{ddb("GetItem", 0, 5), ddb("PutItem", 5, 10)},
			2, 2, "2 steps, DynamoDB depth 2: dynamodb GetItem -> dynamodb PutItem",
		},
		{
			"concurrent store calls count once",
			[]Call{ddb("GetItem", 0, 5), ddb("Query", 1, 6)},
			1, 1, "1 steps, DynamoDB depth 1: dynamodb GetItem || dynamodb Query",
		},
		{
			"a store call behind a Daytona call is free",
			[]Call{ddb("GetItem", 0, 5), day("createSandbox", 6, 116), ddb("PutItem", 7, 12), ddb("TransactWriteItems", 117, 127)},
			3, 2, "3 steps, DynamoDB depth 2: dynamodb GetItem -> daytona createSandbox || dynamodb PutItem -> dynamodb TransactWriteItems",
		},
		{
			"a store call that outlasts Daytona's is still hidden",
			[]Call{day("getSandbox", 0, 20), ddb("PutItem", 10, 30)},
			1, 0, "1 steps, DynamoDB depth 0: daytona getSandbox || dynamodb PutItem",
		},
		{
			"overlap is transitive",
			// a overlaps b, b overlaps c, a and c do not touch
			[]Call{ddb("A", 0, 10), day("B", 8, 30), ddb("C", 25, 40), ddb("D", 41, 45)},
			2, 1, "2 steps, DynamoDB depth 1: dynamodb A || daytona B || dynamodb C -> dynamodb D",
		},
		{
			"a long call holds the step open past a short one",
			[]Call{ddb("Long", 0, 100), ddb("Short", 1, 2), ddb("Late", 50, 60), ddb("After", 101, 105)},
			2, 2, "2 steps, DynamoDB depth 2: dynamodb Long || dynamodb Short || dynamodb Late -> dynamodb After",
		},
		{
			"input order does not matter",
			[]Call{ddb("PutItem", 20, 25), ddb("GetItem", 0, 5), day("getSandbox", 6, 19)},
			3, 2, "3 steps, DynamoDB depth 2: dynamodb GetItem -> daytona getSandbox -> dynamodb PutItem",
		},
		{
			"other services count as steps, not as store depth",
			[]Call{call("s3", "PUT", 0, 5), ddb("PutItem", 6, 11), call("sfn", "StartExecution", 12, 17)},
			3, 1, "3 steps, DynamoDB depth 1: s3 PUT -> dynamodb PutItem -> sfn StartExecution",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Measure(tt.calls)
			if len(d.Steps) != tt.steps || d.DynamoDB != tt.dynamoDB || d.String() != tt.order {
				t.Errorf("Measure = %d steps, DynamoDB %d, %q; want %d, %d, %q", len(d.Steps), d.DynamoDB, d, tt.steps, tt.dynamoDB, tt.order)
			}
		})
	}
}

func TestDaytonaOp(t *testing.T) {
	tests := []struct {
		name, method, path, want string
	}{
		{"create", "POST", "/api/sandbox", "createSandbox"},
		{"create without the api prefix", "POST", "/sandbox", "createSandbox"},
		{"get", "GET", "/api/sandbox/sb-1", "getSandbox"},
		{"delete", "DELETE", "/api/sandbox/sb-1", "deleteSandbox"},
		{"list", "GET", "/api/sandbox", "GET /sandbox"},
		{"another call on a sandbox", "POST", "/api/sandbox/sb-1/start", "POST /sandbox/{id}/start"},
		{"toolbox proxy url", "GET", "/api/sandbox/sb-1/toolbox-proxy-url", "GET /sandbox/{id}/toolbox-proxy-url"},
		{"toolbox session", "POST", "/toolbox/sb-1/process/session", "toolbox POST /process/session"},
		{"toolbox session exec", "POST", "/toolbox/sb-1/process/session/sandstep-X1/exec", "toolbox POST /process/session/{id}/exec"},
		{"toolbox command logs", "GET", "/toolbox/sb-1/process/session/s/command/c/logs", "toolbox GET /process/session/{id}/command/{id}/logs"},
		{"toolbox bare", "GET", "/toolbox", "toolbox GET /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DaytonaOp(tt.method, tt.path); got != tt.want {
				t.Errorf("DaytonaOp(%s %s) = %q, want %q", tt.method, tt.path, got, tt.want)
			}
		})
	}
}

func TestDaytonaLatency(t *testing.T) {
	l := DaytonaLatency(DaytonaDelays{Create: 1, Get: 2, Delete: 3, Toolbox: 4, Other: 5})
	tests := []struct {
		method, path string
		want         time.Duration
	}{
		{"POST", "/api/sandbox", 1},
		{"GET", "/api/sandbox/x", 2},
		{"DELETE", "/api/sandbox/x", 3},
		{"POST", "/toolbox/x/process/execute", 4},
		{"GET", "/api/sandbox/x/toolbox-proxy-url", 5},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		if _, d := l(r); d != tt.want {
			t.Errorf("%s %s: %v, want %v", tt.method, tt.path, d, tt.want)
		}
	}
}

func TestDynamoDBLatency(t *testing.T) {
	l := DynamoDBLatency(5, 10)
	for target, want := range map[string]time.Duration{
		"DynamoDB_20120810.GetItem": 5, "DynamoDB_20120810.TransactWriteItems": 10, "DynamoDB_20120810.TransactGetItems": 10,
	} {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header.Set("X-Amz-Target", target)
		if op, d := l(r); d != want || !strings.HasSuffix(target, "."+op) {
			t.Errorf("%s: %s %v, want %v", target, op, d, want)
		}
	}
}

// A wire passes requests on with the caller's Host, holds each at least
// its latency, and records it.
func TestWire(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Host)
	}))
	t.Cleanup(backend.Close)
	rec := &Recorder{}
	const hold = 3 * time.Millisecond
	wire := NewWire(t, Daytona, backend.URL, Flat(DaytonaLatency(DaytonaDelays{}), hold), rec)
	for _, path := range []string{"/api/sandbox/a", "/toolbox/a/process/session"} {
		resp, err := http.Get(wire.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := strings.TrimPrefix(wire.URL, "http://"); string(body) != want {
			t.Errorf("%s: the backend saw Host %q, want the wire's %q", path, body, want)
		}
	}
	calls := rec.Take()
	if len(calls) != 2 || calls[0].Op != "getSandbox" || calls[1].Op != "toolbox GET /process/session" {
		t.Fatalf("recorded %v", calls)
	}
	for _, c := range calls {
		// A timer never fires early, so this cannot flake.
		if c.Service != Daytona || c.End.Sub(c.Start) < hold {
			t.Errorf("%v: held %v, want at least %v", c, c.End.Sub(c.Start), hold)
		}
	}
	if !calls[0].End.Before(calls[1].Start) {
		t.Errorf("a call made after another answered starts before its end: %v", calls)
	}
	if d := Measure(calls); len(d.Steps) != 2 {
		t.Errorf("Measure = %v, want 2 steps", d)
	}
	if rest := rec.Take(); len(rest) != 0 {
		t.Errorf("Take kept %v", rest)
	}
}

// Calls made at once through wires overlap, and a store call made beside
// a Daytona call is free: what the round-trip tests rely on.
func TestWireConcurrentCallsOverlap(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(backend.Close)
	rec := &Recorder{}
	store := NewWire(t, DynamoDB, backend.URL, Flat(DynamoDBLatency(0, 0), 40*time.Millisecond), rec)
	daytona := NewWire(t, Daytona, backend.URL, Flat(DaytonaLatency(DaytonaDelays{}), 100*time.Millisecond), rec)
	get := func(url string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	}
	done := make(chan struct{})
	go func() { get(store.URL); get(store.URL); close(done) }()
	get(daytona.URL + "/api/sandbox/a")
	<-done
	get(store.URL)
	d := Measure(rec.Take())
	if len(d.Steps) != 2 || d.DynamoDB != 1 {
		t.Errorf("Measure = %v, want two steps: Daytona's call with two store calls, then one store call", d)
	}
}
