package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/metrics"
)

// emf is what the tests read of an EMF line.
type emf struct {
	AWS struct {
		Timestamp         int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name string `json:"Name"`
				Unit string `json:"Unit"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	} `json:"_aws"`
}

func lines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		var e emf
		if err := json.Unmarshal([]byte(l), &e); err != nil || len(e.AWS.CloudWatchMetrics) != 1 || e.AWS.Timestamp == 0 {
			t.Fatalf("not an EMF line: %q (%v)", l, err)
		}
		d := e.AWS.CloudWatchMetrics[0]
		for _, set := range d.Dimensions {
			for _, k := range set {
				if _, ok := m[k].(string); !ok {
					t.Errorf("dimension %s has no string value in %q", k, l)
				}
			}
		}
		for _, mt := range d.Metrics {
			if _, ok := m[mt.Name]; !ok {
				t.Errorf("metric %s has no value in %q", mt.Name, l)
			}
		}
		out = append(out, m)
	}
	return out
}

func TestWriteTo(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	tests := []struct {
		name string
		add  func(s *metrics.Set)
		want []string // each line's JSON less "_aws", in order
	}{
		{"nothing recorded writes nothing", func(*metrics.Set) {}, nil},
		{"counts with the same dimensions are summed", func(s *metrics.Set) {
			s.Add(metrics.Requests, metrics.Count, 1, metrics.Dim("Function", "create"))
			s.Add(metrics.Requests, metrics.Count, 1, metrics.Dim("Function", "create"))
		}, []string{`{"Function":"create","Requests":2}`}},
		{"other values are listed", func(s *metrics.Set) {
			s.Add(metrics.OperationLatency, metrics.Milliseconds, 3, metrics.Dim("Operation", "exec"))
			s.Add(metrics.OperationLatency, metrics.Milliseconds, 4.5, metrics.Dim("Operation", "exec"))
		}, []string{`{"Operation":"exec","OperationLatency":[3,4.5]}`}},
		{"a line per set of dimensions, in the order first seen", func(s *metrics.Set) {
			s.Add(metrics.Failures, metrics.Count, 1, metrics.Dim("Function", "create"), metrics.Dim("Code", "quota_exceeded"))
			s.Add(metrics.QuotaRejections, metrics.Count, 1)
			s.Add(metrics.Requests, metrics.Count, 1, metrics.Dim("Function", "create"))
		}, []string{
			`{"Code":"quota_exceeded","Failures":1,"Function":"create"}`,
			`{"QuotaRejections":1}`,
			`{"Function":"create","Requests":1}`,
		}},
		// EMF takes at most 100 values of a metric on a line.
		{"more than 100 values go on as many lines as they fill", func(s *metrics.Set) {
			s.Add(metrics.Requests, metrics.Count, 1)
			for i := range 150 {
				s.Add(metrics.TaskDuration, metrics.Seconds, float64(i))
			}
		}, []string{
			`{"Requests":1,"TaskDuration":` + jsonRange(0, 100) + `}`,
			`{"TaskDuration":` + jsonRange(100, 150) + `}`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &metrics.Set{}
			tt.add(s)
			var buf bytes.Buffer
			if err := s.WriteTo(&buf, "sandstep-test", now); err != nil {
				t.Fatal(err)
			}
			got := lines(t, buf.Bytes())
			if len(got) != len(tt.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(got), len(tt.want), buf.String())
			}
			for i, m := range got {
				aws := m["_aws"].(map[string]any)
				if aws["Timestamp"].(float64) != float64(now.UnixMilli()) {
					t.Errorf("line %d: Timestamp %v", i, aws["Timestamp"])
				}
				if ns := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)["Namespace"]; ns != "sandstep-test" {
					t.Errorf("line %d: Namespace %v", i, ns)
				}
				var declared []string
				for _, d := range aws["CloudWatchMetrics"].([]any)[0].(map[string]any)["Metrics"].([]any) {
					declared = append(declared, d.(map[string]any)["Name"].(string))
				}
				for _, name := range declared {
					if _, ok := m[name]; !ok {
						t.Errorf("line %d declares %s, which it does not carry", i, name)
					}
				}
				delete(m, "_aws")
				b, _ := json.Marshal(m)
				if string(b) != tt.want[i] {
					t.Errorf("line %d = %s, want %s", i, b, tt.want[i])
				}
			}
		})
	}
}

func TestContext(t *testing.T) {
	// Without a Set in the context, recording does nothing and never fails.
	ctx := context.Background()
	metrics.Add(ctx, metrics.Requests, metrics.Count, 1)
	metrics.Daytona(ctx, time.Second)
	metrics.Failed(ctx, "internal", true)
	metrics.Operation(ctx, "create", time.Now())

	s := &metrics.Set{}
	ctx = metrics.NewContext(ctx, s)
	metrics.Daytona(ctx, 40*time.Millisecond)
	metrics.Daytona(ctx, 60*time.Millisecond)
	metrics.Failed(ctx, "internal", true)
	metrics.Failed(ctx, "transient", false)
	metrics.Operation(ctx, "create", time.Now().Add(-time.Second))
	if s.Code() != "transient" || s.Fault() {
		t.Errorf("Code(), Fault() = %q, %v; want the last noted, transient and no fault", s.Code(), s.Fault())
	}
	var buf bytes.Buffer
	if err := s.WriteTo(&buf, "ns", time.Now()); err != nil {
		t.Fatal(err)
	}
	got := lines(t, buf.Bytes())
	if len(got) != 1 {
		t.Fatalf("lines: %s", buf.String())
	}
	if d := got[0][metrics.DaytonaLatency].(float64); d != 100 {
		t.Errorf("DaytonaLatency = %v ms, want the 100 ms of both calls", d)
	}
	if op := got[0][metrics.OperationLatency].(float64); op < 1000 {
		t.Errorf("OperationLatency = %v ms, want at least 1000", op)
	}
}

// An invocation gathers its metrics in its context and writes them once,
// before it answers.
func Example() {
	set := &metrics.Set{}
	ctx := metrics.NewContext(context.Background(), set)

	metrics.Add(ctx, metrics.SandboxesCreated, metrics.Count, 1)
	metrics.Add(ctx, metrics.Requests, metrics.Count, 1, metrics.Dim("Function", "create"))

	_ = set.WriteTo(os.Stdout, "sandstep", time.UnixMilli(1_800_000_000_000))
	// Output:
	// {"SandboxesCreated":1,"_aws":{"CloudWatchMetrics":[{"Dimensions":[[]],"Metrics":[{"Name":"SandboxesCreated","Unit":"Count"}],"Namespace":"sandstep"}],"Timestamp":1800000000000}}
	// {"Function":"create","Requests":1,"_aws":{"CloudWatchMetrics":[{"Dimensions":[["Function"]],"Metrics":[{"Name":"Requests","Unit":"Count"}],"Namespace":"sandstep"}],"Timestamp":1800000000000}}
}

// jsonRange is the JSON array of the numbers from to to-1.
func jsonRange(from, to int) string {
	var parts []string
	for i := from; i < to; i++ {
		parts = append(parts, strconv.Itoa(i))
	}
	return "[" + strings.Join(parts, ",") + "]"
}
