// Package metrics writes CloudWatch Embedded Metric Format (EMF) lines. An
// invocation gathers its metrics in a Set carried by its context, and the
// edge writes the Set once before answering: Lambda freezes the process
// after the answer, and CloudWatch turns each line into metrics without an
// API call. Dimensions are bounded by construction (a function, an
// operation, a code, a status, a kind), never a user, sandbox or task id.
package metrics

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// Unit is a CloudWatch unit.
type Unit string

// The units sandstep's metrics use.
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
	Seconds      Unit = "Seconds"
)

// The metric names: README's "Metrics" lists each with its unit and
// dimensions, and template.yaml's alarms and dashboard use them.
const (
	Requests              = "Requests"              // Count by Function
	Faults                = "Faults"                // Count by Function: answers that are ours to fix
	Failures              = "Failures"              // Count by Function, Code
	FunctionErrors        = "FunctionErrors"        // Count by Function: invocations answered with an error
	SandboxesCreated      = "SandboxesCreated"      // Count
	OperationLatency      = "OperationLatency"      // Milliseconds by Operation
	DaytonaLatency        = "DaytonaLatency"        // Milliseconds by Operation: the Daytona part
	TaskDuration          = "TaskDuration"          // Seconds
	TasksEnded            = "TasksEnded"            // Count by Status
	QuotaRejections       = "QuotaRejections"       // Count
	DaytonaRateLimitWaits = "DaytonaRateLimitWaits" // Count: creates that waited for the shared create rate
	DaytonaRateLimited    = "DaytonaRateLimited"    // Count: Daytona answered 429
	GitHubRateLimitWaits  = "GitHubRateLimitWaits"  // Count: a task's step waited out GitHub's rate limit
	ReaperFindings        = "ReaperFindings"        // Count by Kind
	NoticesGivenUp        = "NoticesGivenUp"        // Count
)

// Dimension is one dimension of a metric.
type Dimension struct{ Name, Value string }

// Dim is a Dimension.
func Dim(name, value string) Dimension { return Dimension{name, value} }

type point struct {
	name  string
	unit  Unit
	value float64
	dims  []Dimension
}

// Set gathers one invocation's metrics. It is safe for concurrent use.
type Set struct {
	mu      sync.Mutex
	points  []point
	daytona time.Duration
	code    string
	fault   bool
}

type setKey struct{}

// NewContext returns ctx carrying s.
func NewContext(ctx context.Context, s *Set) context.Context {
	return context.WithValue(ctx, setKey{}, s)
}

func from(ctx context.Context) *Set {
	s, _ := ctx.Value(setKey{}).(*Set)
	return s
}

// Add records value of the metric name in ctx's Set; without one it does
// nothing (tests, tools).
func Add(ctx context.Context, name string, unit Unit, value float64, dims ...Dimension) {
	if s := from(ctx); s != nil {
		s.Add(name, unit, value, dims...)
	}
}

// Add records value of the metric name.
func (s *Set) Add(name string, unit Unit, value float64, dims ...Dimension) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.points = append(s.points, point{name, unit, value, slices.Clone(dims)})
}

// Daytona adds d to the time ctx's invocation spent waiting for Daytona.
func Daytona(ctx context.Context, d time.Duration) {
	if s := from(ctx); s != nil {
		s.mu.Lock()
		s.daytona += d
		s.mu.Unlock()
	}
}

// Operation records an operation's latency since start, and the Daytona
// part of it (Daytona's calls since the invocation began).
func Operation(ctx context.Context, op string, start time.Time) {
	s := from(ctx)
	if s == nil {
		return
	}
	s.mu.Lock()
	daytona := s.daytona
	s.mu.Unlock()
	s.Add(OperationLatency, Milliseconds, ms(time.Since(start)), Dim("Operation", op))
	s.Add(DaytonaLatency, Milliseconds, ms(daytona), Dim("Operation", op))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// WriteTo writes s as EMF lines in namespace, one per set of dimensions,
// stamped now: counts of the same metric are summed, other values listed.
// It writes nothing for an empty Set.
func (s *Set) WriteTo(w io.Writer, namespace string, now time.Time) error {
	s.mu.Lock()
	points := slices.Clone(s.points)
	s.mu.Unlock()
	groups := map[string][]point{}
	var order []string
	for _, p := range points {
		k := dimsKey(p.dims)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], p)
	}
	var buf []byte
	for _, k := range order {
		lines, err := documents(namespace, now, groups[k])
		if err != nil {
			return err
		}
		for _, line := range lines {
			buf = append(append(buf, line...), '\n')
		}
	}
	if len(buf) == 0 {
		return nil
	}
	_, err := w.Write(buf)
	return err
}

func dimsKey(dims []Dimension) string {
	var b strings.Builder
	for _, d := range dims {
		b.WriteString(d.Name + "\x00" + d.Value + "\x00")
	}
	return b.String()
}

type metricDef struct {
	Name string `json:"Name"`
	Unit Unit   `json:"Unit"`
}

// maxValues is EMF's bound on one metric's values in one line.
const maxValues = 100

// documents are the EMF lines for points that share their dimensions: one,
// unless a metric has more than maxValues values (a reaper run ends up to
// 200 tasks, each with its duration), which then go on as many lines as
// they fill.
func documents(namespace string, now time.Time, points []point) ([][]byte, error) {
	var defs []metricDef
	values := map[string][]float64{}
	for _, p := range points {
		if _, ok := values[p.name]; !ok {
			defs = append(defs, metricDef{p.name, p.unit})
		}
		switch v := values[p.name]; {
		case p.unit == Count && len(v) == 1:
			v[0] += p.value
		default:
			values[p.name] = append(v, p.value)
		}
	}
	var lines [][]byte
	for first := 0; ; first += maxValues {
		doc := map[string]any{}
		names := []string{}
		for _, d := range points[0].dims {
			doc[d.Name] = d.Value
			names = append(names, d.Name)
		}
		var here []metricDef
		for _, def := range defs {
			v := values[def.Name]
			if first >= len(v) {
				continue
			}
			here = append(here, def)
			if v = v[first:min(first+maxValues, len(v))]; len(v) == 1 {
				doc[def.Name] = v[0]
			} else {
				doc[def.Name] = v
			}
		}
		if len(here) == 0 {
			return lines, nil
		}
		doc["_aws"] = map[string]any{
			"Timestamp": now.UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  namespace,
				"Dimensions": [][]string{names},
				"Metrics":    here,
			}},
		}
		line, err := json.Marshal(doc)
		if err != nil {
			return nil, err
		}
		lines = append(lines, line)
	}
}

// Failed notes that the invocation answers with the error code code, and
// whether that answer is a fault, ours to fix (the last one noted is the
// answer's). The edge decides fault, where the error itself is known.
func Failed(ctx context.Context, code string, fault bool) {
	if s := from(ctx); s != nil {
		s.mu.Lock()
		s.code, s.fault = code, fault
		s.mu.Unlock()
	}
}

// Code is the error code the invocation answers with, or "".
func (s *Set) Code() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code
}

// Fault reports whether the invocation's error answer is a fault.
func (s *Set) Fault() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault
}
