package local

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/metrics"
)

// emfLine is an EMF line as the tests read it: its directive and its
// members.
type emfLine struct {
	directive struct {
		Namespace  string     `json:"Namespace"`
		Dimensions [][]string `json:"Dimensions"`
		Metrics    []struct {
			Name string `json:"Name"`
			Unit string `json:"Unit"`
		} `json:"Metrics"`
	}
	members map[string]any
}

// parseEMF parses every line of out as an EMF document and checks its
// shape: one directive, a timestamp, a string value for every dimension and
// a value for every metric.
func parseEMF(t *testing.T, out string) []emfLine {
	t.Helper()
	var lines []emfLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var doc struct {
			AWS struct {
				Timestamp         int64             `json:"Timestamp"`
				CloudWatchMetrics []json.RawMessage `json:"CloudWatchMetrics"`
			} `json:"_aws"`
		}
		var e emfLine
		if err := json.Unmarshal([]byte(l), &doc); err != nil || json.Unmarshal([]byte(l), &e.members) != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		if len(doc.AWS.CloudWatchMetrics) != 1 || doc.AWS.Timestamp == 0 {
			t.Fatalf("not an EMF line (one directive and a timestamp): %q", l)
		}
		if err := json.Unmarshal(doc.AWS.CloudWatchMetrics[0], &e.directive); err != nil {
			t.Fatal(err)
		}
		for _, set := range e.directive.Dimensions {
			for _, k := range set {
				if _, ok := e.members[k].(string); !ok {
					t.Errorf("dimension %s without a string value: %q", k, l)
				}
			}
		}
		for _, m := range e.directive.Metrics {
			if _, ok := e.members[m.Name]; !ok {
				t.Errorf("metric %s without a value: %q", m.Name, l)
			}
		}
		lines = append(lines, e)
	}
	return lines
}

// TestMetricsOfALifecycleAndATask runs a lifecycle, a refused create, a
// failed exec, a task and a reaper run that finds a vanished sandbox, and
// reads back the EMF lines the functions wrote: the names, units and
// dimensions that README lists and the template's alarms use.
func TestMetricsOfALifecycleAndATask(t *testing.T) {
	out := &logBuffer{}
	s := startStack(t, map[string]string{"DEFAULT_USER_QUOTA": "1", "METRICS_NAMESPACE": "sandstep-test"},
		fastRetries, func(o *Options) { o.MetricsWriter = out })

	sb := s.create("alice", nil)
	if res := s.as("alice", http.MethodPost, "/sandboxes", map[string]any{}); res.status != http.StatusTooManyRequests {
		t.Fatalf("second create: %d %s, want 429", res.status, res.body)
	}
	if res := s.as("alice", http.MethodPost, "/sandboxes/"+sb.ID+"/exec", map[string]any{"command": "echo hi"}); res.status != http.StatusOK {
		t.Fatalf("exec: %d %s", res.status, res.body)
	}
	if res := s.as("alice", http.MethodPost, "/sandboxes/sbx_aaaaaaaaaaaaaaaaaaaaaaaaaa/exec", map[string]any{"command": "true"}); res.status != http.StatusNotFound {
		t.Fatalf("exec elsewhere: %d %s", res.status, res.body)
	}
	if res := s.as("alice", http.MethodGet, "/sandboxes/"+sb.ID, nil); res.status != http.StatusOK {
		t.Fatalf("status: %d %s", res.status, res.body)
	}
	if res := s.as("alice", http.MethodDelete, "/sandboxes/"+sb.ID, nil); res.status != http.StatusOK {
		t.Fatalf("delete: %d %s", res.status, res.body)
	}
	tk := s.startTask("alice", map[string]any{"command": "echo done"})
	if done := s.waitTask("alice", tk.ID, time.Minute); done.Status != "succeeded" {
		t.Fatalf("task: %+v", done)
	}
	s.waitExecution(tk.ID, 30*time.Second)

	// A sandbox Daytona lost: the reaper's finding of kind "gone".
	lost := s.create("bob", nil)
	var got struct {
		DaytonaID string `json:"daytonaId"`
	}
	s.as("bob", http.MethodGet, "/sandboxes/"+lost.ID, nil).decode(t, &got)
	if res := do(t, http.MethodDelete, s.DaytonaURL+"/sandbox/"+got.DaytonaID, nil, "Authorization: Bearer "+LocalDaytonaKey); res.status >= 300 {
		t.Fatalf("delete at Daytona: %d %s", res.status, res.body)
	}
	if res := do(t, http.MethodPost, s.LambdaURL+"/2015-03-31/functions/ReaperFunction/invocations", []byte(`{"action":"reap"}`)); res.status != http.StatusOK {
		t.Fatalf("reaper: %d %s", res.status, res.body)
	}

	lines := parseEMF(t, out.String())
	type key struct{ name, dims string }
	seen := map[key]bool{}
	units := map[string]string{}
	allowed := map[string]bool{"Function": true, "Operation": true, "Code": true, "Status": true, "Kind": true}
	idLike := regexp.MustCompile(`^(sbx_|tsk_)|alice|bob`)
	for _, l := range lines {
		if l.directive.Namespace != "sandstep-test" {
			t.Errorf("namespace %q, want METRICS_NAMESPACE's", l.directive.Namespace)
		}
		var dims []string
		for _, k := range l.directive.Dimensions[0] {
			v := l.members[k].(string)
			if !allowed[k] || idLike.MatchString(v) {
				t.Errorf("dimension %s=%q: unbounded", k, v)
			}
			dims = append(dims, k+"="+v)
		}
		for _, m := range l.directive.Metrics {
			seen[key{m.Name, strings.Join(dims, ",")}] = true
			if u, ok := units[m.Name]; ok && u != m.Unit {
				t.Errorf("%s in two units, %s and %s", m.Name, u, m.Unit)
			}
			units[m.Name] = m.Unit
		}
	}
	for _, want := range []struct{ name, dims, unit string }{
		{metrics.Requests, "Function=create", "Count"},
		{metrics.Requests, "Function=execute", "Count"},
		{metrics.Requests, "Function=status", "Count"},
		{metrics.Requests, "Function=delete", "Count"},
		{metrics.Requests, "Function=reaper", "Count"},
		{metrics.Failures, "Function=create,Code=quota_exceeded", "Count"},
		{metrics.Failures, "Function=execute,Code=not_found", "Count"},
		{metrics.QuotaRejections, "", "Count"},
		{metrics.SandboxesCreated, "", "Count"},
		{metrics.OperationLatency, "Operation=create", "Milliseconds"},
		{metrics.OperationLatency, "Operation=exec", "Milliseconds"},
		{metrics.OperationLatency, "Operation=delete", "Milliseconds"},
		{metrics.DaytonaLatency, "Operation=create", "Milliseconds"},
		{metrics.TasksEnded, "Status=succeeded", "Count"},
		{metrics.TaskDuration, "", "Seconds"},
		{metrics.ReaperFindings, "Kind=gone", "Count"},
	} {
		if !seen[key{want.name, want.dims}] {
			t.Errorf("no %s{%s} among the metrics", want.name, want.dims)
		}
		if units[want.name] != want.unit {
			t.Errorf("%s in %q, want %s", want.name, units[want.name], want.unit)
		}
	}
	if seen[key{metrics.Faults, "Function=create"}] || seen[key{metrics.Faults, "Function=execute"}] {
		t.Error("a caller's error (quota, not found) counted as a fault")
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", out.String())
	}
}
