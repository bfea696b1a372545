package testutil

import (
	"cmp"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The services a Wire stands in front of, as Call.Service names them.
const (
	DynamoDB = "dynamodb"
	Daytona  = "daytona"
)

// Call is one request that crossed a Wire.
type Call struct {
	Service string // DynamoDB, Daytona, or what the Wire was named
	Op      string // "PutItem", "createSandbox", "toolbox POST /process/session"
	// Start is when the request reached the wire; End when the upstream's
	// answer (its headers) came back, before the caller can see any of it,
	// so a call made after another has answered always starts after its End.
	Start, End time.Time
}

func (c Call) String() string { return c.Service + " " + c.Op }

// Recorder keeps the calls of every Wire that shares it.
type Recorder struct {
	mu    sync.Mutex
	calls []Call
}

func (r *Recorder) add(c Call) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// Take returns the calls recorded so far, by start, and forgets them.
func (r *Recorder) Take() []Call {
	r.mu.Lock()
	calls := r.calls
	r.calls = nil
	r.mu.Unlock()
	slices.SortStableFunc(calls, func(a, b Call) int { return a.Start.Compare(b.Start) })
	return calls
}

// Latency names a request's operation and says how long the wire holds
// it before passing it on.
type Latency func(r *http.Request) (op string, d time.Duration)

// Wire is a reverse proxy in front of a test server that delays each
// request by its Latency and records it. It keeps the Host the caller
// used, so a server that builds URLs from it (the local Daytona's toolbox
// URL) sends its callers back through the wire.
type Wire struct {
	URL string
}

// NewWire starts a Wire for service in front of target (a URL), recording
// into rec (nil: nowhere). It stops when the test ends.
func NewWire(tb testing.TB, service, target string, latency Latency, rec *Recorder) *Wire {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatalf("wire: target %q: %v", target, err)
	}
	// One transport per wire, with room for every concurrent caller: the
	// default two idle connections per host would make calls wait on dials.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	rewrite := func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Host = pr.In.Host
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := Call{Service: service, Start: time.Now()}
		op, d := latency(r)
		c.Op = op
		hold(r.Context(), d)
		// The call is recorded before the caller can see its answer, so
		// a Take after the answer holds it.
		var once sync.Once
		end := func() {
			once.Do(func() {
				c.End = time.Now()
				rec.add(c)
			})
		}
		proxy := &httputil.ReverseProxy{
			Rewrite: rewrite, Transport: tr,
			ModifyResponse: func(*http.Response) error { end(); return nil },
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				end()
				w.WriteHeader(http.StatusBadGateway)
			},
			// Streams (a log follower) reach the caller as they come.
			FlushInterval: -1,
		}
		proxy.ServeHTTP(w, r)
	}))
	tb.Cleanup(func() {
		hs.Close()
		tr.CloseIdleConnections()
	})
	return &Wire{URL: hs.URL}
}

// DynamoDBLatency names a DynamoDB request by its X-Amz-Target operation;
// a transaction takes txn, every other call call.
func DynamoDBLatency(call, txn time.Duration) Latency {
	return func(r *http.Request) (string, time.Duration) {
		target := r.Header.Get("X-Amz-Target")
		op := target[strings.LastIndexByte(target, '.')+1:]
		switch op {
		case "TransactWriteItems", "TransactGetItems":
			return op, txn
		}
		return cmp.Or(op, r.Method+" "+r.URL.Path), call
	}
}

// DaytonaDelays are the Daytona API's latencies by kind of call.
type DaytonaDelays struct {
	Create  time.Duration // POST /sandbox
	Get     time.Duration // GET /sandbox/{id}
	Delete  time.Duration // DELETE /sandbox/{id}
	Toolbox time.Duration // each call to a sandbox's toolbox
	Other   time.Duration // everything else
}

// DaytonaLatency names a Daytona request (the API's, under /api or not,
// and the toolbox's, under /toolbox/{sandboxId}) and delays it by d.
func DaytonaLatency(d DaytonaDelays) Latency {
	return func(r *http.Request) (string, time.Duration) {
		op := DaytonaOp(r.Method, r.URL.Path)
		switch {
		case op == "createSandbox":
			return op, d.Create
		case op == "getSandbox":
			return op, d.Get
		case op == "deleteSandbox":
			return op, d.Delete
		case strings.HasPrefix(op, "toolbox "):
			return op, d.Toolbox
		}
		return op, d.Other
	}
}

// DaytonaOp names a Daytona call: createSandbox, getSandbox and
// deleteSandbox as the API spec does, a toolbox call as "toolbox" and its
// method and path with the ids left out, anything else by method and path.
func DaytonaOp(method, path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) > 0 && parts[0] == "toolbox" {
		if len(parts) < 2 {
			return "toolbox " + method + " /"
		}
		rest := parts[2:]
		for i := 1; i < len(rest); i++ {
			if rest[i-1] == "session" || rest[i-1] == "command" {
				rest[i] = "{id}"
			}
		}
		return "toolbox " + method + " /" + strings.Join(rest, "/")
	}
	if len(parts) > 0 && parts[0] == "api" {
		parts = parts[1:]
	}
	if len(parts) > 0 && parts[0] == "sandbox" {
		switch {
		case len(parts) == 1 && method == http.MethodPost:
			return "createSandbox"
		case len(parts) == 2 && method == http.MethodGet:
			return "getSandbox"
		case len(parts) == 2 && method == http.MethodDelete:
			return "deleteSandbox"
		}
		if len(parts) >= 2 {
			parts[1] = "{id}"
		}
	}
	return method + " /" + strings.Join(parts, "/")
}

// Flat keeps l's names and makes every call take d.
func Flat(l Latency, d time.Duration) Latency {
	return func(r *http.Request) (string, time.Duration) {
		op, _ := l(r)
		return op, d
	}
}

// AWSLatency names a request of another AWS service by its X-Amz-Target
// operation, or by its method (S3's REST calls), and delays it by d.
func AWSLatency(d time.Duration) Latency {
	return func(r *http.Request) (string, time.Duration) {
		if target := r.Header.Get("X-Amz-Target"); target != "" {
			return target[strings.LastIndexByte(target, '.')+1:], d
		}
		return r.Method, d
	}
}

// Depth is how an operation's calls line up in time.
type Depth struct {
	// Steps are the calls in groups that overlap (transitively), in order:
	// each step starts after the one before it has ended.
	Steps [][]Call
	// DynamoDB counts the steps with a DynamoDB call and no Daytona call:
	// the store's round trips on the critical path (one hidden behind a
	// concurrent Daytona call costs nothing).
	DynamoDB int
}

// Measure groups calls (in any order) into sequential steps.
func Measure(calls []Call) Depth {
	calls = slices.Clone(calls)
	slices.SortStableFunc(calls, func(a, b Call) int { return a.Start.Compare(b.Start) })
	var d Depth
	var end time.Time
	for _, c := range calls {
		if len(d.Steps) > 0 && c.Start.Before(end) {
			d.Steps[len(d.Steps)-1] = append(d.Steps[len(d.Steps)-1], c)
		} else {
			d.Steps = append(d.Steps, []Call{c})
		}
		if c.End.After(end) {
			end = c.End
		}
	}
	for _, step := range d.Steps {
		store := slices.ContainsFunc(step, func(c Call) bool { return c.Service == DynamoDB })
		daytona := slices.ContainsFunc(step, func(c Call) bool { return c.Service == Daytona })
		if store && !daytona {
			d.DynamoDB++
		}
	}
	return d
}

// String is the order of the calls: steps joined by " -> ", the calls of
// one step by " || ".
func (d Depth) String() string {
	steps := make([]string, len(d.Steps))
	for i, step := range d.Steps {
		names := make([]string, len(step))
		for j, c := range step {
			names[j] = c.String()
		}
		steps[i] = strings.Join(names, " || ")
	}
	return fmt.Sprintf("%d steps, DynamoDB depth %d: %s", len(d.Steps), d.DynamoDB, strings.Join(steps, " -> "))
}
