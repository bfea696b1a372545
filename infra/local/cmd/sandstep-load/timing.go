package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// call is one HTTP call a function made: to Daytona, DynamoDB or another
// AWS service, from its start to its response's headers (reading and
// decoding the body is the function's own time).
type call struct {
	host       string
	target     string // X-Amz-Target, e.g. DynamoDB_20120810.GetItem
	start, end time.Time
	failure    string // "" or what went wrong: "503", "429", the error
	// cancelled: the function no longer needed the answer (a read asked
	// beside another that made it moot); not a failure, never retried.
	cancelled bool
}

// invocation is one run of a function's handler.
type invocation struct {
	label      string // "POST /sandboxes 201", "direct task-start"
	start, end time.Time
}

// recorder learns every invocation of the stack's functions (WrapHandler)
// and every HTTP call they make (the transports), keyed by the Lambda
// request id their context carries.
type recorder struct {
	mu          sync.Mutex
	invocations map[string]invocation
	calls       map[string][]call
	orphans     int // calls made outside any invocation's context
}

func newRecorder() *recorder {
	return &recorder{invocations: map[string]invocation{}, calls: map[string][]call{}}
}

// wrap times a function's handler (local.Options.WrapHandler).
func (r *recorder) wrap(_ string, h lambda.Handler) lambda.Handler {
	return handlerFunc(func(ctx context.Context, payload []byte) ([]byte, error) {
		start := time.Now()
		out, err := h.Invoke(ctx, payload)
		end := time.Now()
		lc, ok := lambdacontext.FromContext(ctx)
		if !ok {
			return out, err
		}
		r.mu.Lock()
		r.invocations[lc.AwsRequestID] = invocation{label: label(payload, out, err), start: start, end: end}
		r.mu.Unlock()
		return out, err
	})
}

type handlerFunc func(ctx context.Context, payload []byte) ([]byte, error)

func (f handlerFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}

// label names an invocation: an API request by its route and status, a
// direct one by its action.
func label(payload, out []byte, err error) string {
	var in struct {
		RouteKey string `json:"routeKey"`
		Action   string `json:"action"`
	}
	_ = json.Unmarshal(payload, &in)
	if in.RouteKey != "" {
		var res struct {
			StatusCode int `json:"statusCode"`
		}
		_ = json.Unmarshal(out, &res)
		if err != nil || res.StatusCode == 0 {
			return in.RouteKey + " error"
		}
		return in.RouteKey + " " + strconv.Itoa(res.StatusCode)
	}
	if in.Action == "" {
		in.Action = "?"
	}
	if err != nil {
		return "direct " + in.Action + " error"
	}
	return "direct " + in.Action
}

// transport times every call through next.
func (r *recorder) transport(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		res, err := next.RoundTrip(req)
		c := call{host: req.URL.Host, target: req.Header.Get("X-Amz-Target"), start: start, end: time.Now()}
		switch {
		case errors.Is(err, context.Canceled) && req.Context().Err() != nil:
			c.cancelled = true
		case err != nil:
			c.failure = err.Error()
		case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
			c.failure = strconv.Itoa(res.StatusCode)
		}
		lc, ok := lambdacontext.FromContext(req.Context())
		r.mu.Lock()
		if ok {
			r.calls[lc.AwsRequestID] = append(r.calls[lc.AwsRequestID], c)
		} else {
			r.orphans++
		}
		r.mu.Unlock()
		return res, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// Where an invocation's time went. Overlapping calls count once, and a
// call overlapping a Daytona call counts as Daytona's: the parts add up to
// the invocation's time.
type split struct {
	total, daytona, store, other, own time.Duration
	storeCalls                        int
	daytonaFailures                   int // Daytona calls that failed (429, 5xx, no answer)
	late                              int // calls that ended after the answer
}

// splitOf splits inv's time among calls by host class.
func splitOf(inv invocation, calls []call, class func(host string) string) split {
	by := map[string][]span{}
	s := split{total: inv.end.Sub(inv.start)}
	sort.Slice(calls, func(i, j int) bool { return calls[i].start.Before(calls[j].start) })
	for i, c := range calls {
		if c.end.After(inv.end) {
			s.late++
		}
		k := class(c.host)
		if k == classStore {
			s.storeCalls++
		}
		by[k] = append(by[k], clipSpan(span{c.start, c.end}, inv.start, inv.end))
		if k == classDaytona && c.failure != "" {
			// The pause before the client's retry waits on Daytona too.
			s.daytonaFailures++
			for _, next := range calls[i+1:] {
				if class(next.host) == classDaytona {
					by[k] = append(by[k], clipSpan(span{c.end, next.start}, inv.start, inv.end))
					break
				}
			}
		}
	}
	d := union(by[classDaytona])
	ds := union(append(append([]span{}, by[classDaytona]...), by[classStore]...))
	all := union(append(append(append([]span{}, by[classDaytona]...), by[classStore]...), by[classOther]...))
	s.daytona = d
	s.store = ds - d
	s.other = all - ds
	s.own = s.total - all
	return s
}

const (
	classDaytona = "daytona"
	classStore   = "store"
	classOther   = "other"
)

type span struct{ start, end time.Time }

func clipSpan(s span, from, to time.Time) span {
	if s.start.Before(from) {
		s.start = from
	}
	if s.end.After(to) {
		s.end = to
	}
	if s.end.Before(s.start) {
		s.end = s.start
	}
	return s
}

// union is the length of the union of spans.
func union(spans []span) time.Duration {
	sort.Slice(spans, func(i, j int) bool { return spans[i].start.Before(spans[j].start) })
	var (
		total time.Duration
		cur   span
		have  bool
	)
	for _, s := range spans {
		if !have || s.start.After(cur.end) {
			if have {
				total += cur.end.Sub(cur.start)
			}
			cur, have = s, true
			continue
		}
		if s.end.After(cur.end) {
			cur.end = s.end
		}
	}
	if have {
		total += cur.end.Sub(cur.start)
	}
	return total
}
