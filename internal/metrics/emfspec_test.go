package metrics_test

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/metrics"
)

// emitSite is a metric as one call in internal/ records it.
type emitSite struct {
	where      string
	name, unit string
	dims       []string // dimension names, in order
}

// TestEMFOfEveryMetric writes every metric a call in internal/ can
// record, in the volume one invocation can reach, and holds each line to
// what CloudWatch extracts from an EMF log event: a line it refuses drops
// the whole invocation's metrics, the Requests the alarms count included.
func TestEMFOfEveryMetric(t *testing.T) {
	sites := metricSites(t)
	// The calls the alarms and dashboard depend on are found at all.
	for _, want := range []string{metrics.Requests, metrics.Faults, metrics.FunctionErrors, metrics.Failures,
		metrics.ReaperFindings, metrics.TasksEnded, metrics.TaskDuration, metrics.OperationLatency, metrics.DaytonaLatency} {
		found := false
		for _, s := range sites {
			found = found || s.name == want
		}
		if !found {
			t.Fatalf("no call in internal/ records %s: the search for them is broken", want)
		}
	}
	tests := []struct {
		name string
		// times each site is recorded, with values from value.
		times int
		value func(i int) float64
	}{
		{"each once", 1, func(int) float64 { return 1 }},
		// A reaper run ends up to 200 tasks, each with its duration.
		{"a reaper run's volume", 250, func(i int) float64 { return float64(i) + 0.125 }},
		{"long and tiny values", 101, func(i int) float64 { return 1e9 / float64(i+1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &metrics.Set{}
			for _, site := range sites {
				for i := range tt.times {
					var dims []metrics.Dimension
					for _, d := range site.dims {
						dims = append(dims, metrics.Dim(d, "value_"+strconv.Itoa(i%7)))
					}
					s.Add(site.name, metrics.Unit(site.unit), tt.value(i), dims...)
				}
			}
			var buf bytes.Buffer
			if err := s.WriteTo(&buf, "sandstep", time.UnixMilli(1_800_000_000_000)); err != nil {
				t.Fatal(err)
			}
			checkEMF(t, buf.Bytes())
		})
	}
}

// cloudWatchUnits are the units CloudWatch takes (MetricDatum's Unit).
var cloudWatchUnits = map[string]bool{}

func init() {
	for _, u := range strings.Fields(`Seconds Microseconds Milliseconds Bytes Kilobytes Megabytes Gigabytes Terabytes
		Bits Kilobits Megabits Gigabits Terabits Percent Count Bytes/Second Kilobytes/Second Megabytes/Second
		Gigabytes/Second Terabytes/Second Bits/Second Kilobits/Second Megabits/Second Gigabits/Second
		Terabits/Second Count/Second None`) {
		cloudWatchUnits[u] = true
	}
}

// checkEMF holds each line of out to the EMF specification and CloudWatch's
// limits.
func checkEMF(t *testing.T, out []byte) {
	t.Helper()
	const maxEvent = 256*1024 - 26 // a log event, less its overhead
	for i, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
		if len(line) > maxEvent {
			t.Errorf("line %d: %d bytes, over a log event's %d", i, len(line), maxEvent)
		}
		var root map[string]json.RawMessage
		if err := json.Unmarshal(line, &root); err != nil {
			t.Fatalf("line %d is not a JSON object: %v", i, err)
		}
		var meta struct {
			Timestamp         *json.Number
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		}
		if err := json.Unmarshal(root["_aws"], &meta); err != nil || meta.Timestamp == nil || len(meta.CloudWatchMetrics) == 0 {
			t.Fatalf("line %d: _aws %s is no metadata (%v)", i, root["_aws"], err)
		}
		if _, err := strconv.ParseInt(meta.Timestamp.String(), 10, 64); err != nil {
			t.Errorf("line %d: Timestamp %s is not whole milliseconds", i, meta.Timestamp)
		}
		for _, d := range meta.CloudWatchMetrics {
			if n := len(d.Namespace); n < 1 || n > 255 {
				t.Errorf("line %d: namespace %q", i, d.Namespace)
			}
			if len(d.Dimensions) == 0 {
				t.Errorf("line %d: no dimension set", i)
			}
			dimKeys := map[string]bool{}
			for _, set := range d.Dimensions {
				if len(set) > 30 {
					t.Errorf("line %d: %d dimensions in a set, over 30", i, len(set))
				}
				for _, k := range set {
					dimKeys[k] = true
					var v string
					if !validDimension(k, 255) || strings.HasPrefix(k, ":") || json.Unmarshal(root[k], &v) != nil || !validDimension(v, 1024) {
						t.Errorf("line %d: dimension %q = %s", i, k, root[k])
					}
				}
			}
			if len(d.Metrics) == 0 || len(d.Metrics) > 100 {
				t.Errorf("line %d: %d metrics in a directive, want 1 to 100", i, len(d.Metrics))
			}
			names := map[string]bool{}
			for _, m := range d.Metrics {
				if m.Name == "" || len(m.Name) > 255 || names[m.Name] || dimKeys[m.Name] {
					t.Errorf("line %d: metric name %q empty, too long, repeated or a dimension's", i, m.Name)
				}
				names[m.Name] = true
				if !cloudWatchUnits[m.Unit] {
					t.Errorf("line %d: %s's unit %q is not CloudWatch's", i, m.Name, m.Unit)
				}
				checkValues(t, i, m.Name, root[m.Name])
			}
		}
	}
}

// checkValues: a metric's member is a number or an array of 1 to 100.
func checkValues(t *testing.T, line int, name string, raw json.RawMessage) {
	t.Helper()
	var one float64
	if json.Unmarshal(raw, &one) == nil {
		if math.IsNaN(one) || math.IsInf(one, 0) {
			t.Errorf("line %d: %s = %v", line, name, one)
		}
		return
	}
	var many []float64
	if err := json.Unmarshal(raw, &many); err != nil || len(many) == 0 || len(many) > 100 {
		t.Errorf("line %d: %s = %.80s: want a number or 1 to 100 of them", line, name, raw)
	}
}

// validDimension: 1 to max ASCII characters, no control character, not all
// white space (CloudWatch's Dimension).
func validDimension(s string, max int) bool {
	if len(s) < 1 || len(s) > max || strings.TrimSpace(s) == "" {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return true
}

// metricSites finds every call in internal/'s code that records a metric:
// metrics.Add and a Set's Add (name, unit, value, dimensions), and
// metrics.Operation (its two latencies by Operation).
func metricSites(t *testing.T) []emitSite {
	t.Helper()
	consts := metricConsts(t)
	var sites []emitSite
	root := filepath.Join("..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		// Dimensions made once and passed by name (api's fn).
		named := map[string]string{}
		ast.Inspect(f, func(n ast.Node) bool {
			if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == 1 && len(as.Rhs) == 1 {
				if id, ok := as.Lhs[0].(*ast.Ident); ok {
					if name, ok := dimName(as.Rhs[0]); ok {
						named[id.Name] = name
					}
				}
			}
			return true
		})
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			where := fset.Position(call.Pos()).String()
			switch {
			case sel.Sel.Name == "Operation" && isPkg(sel.X, "metrics"):
				for _, m := range []string{metrics.OperationLatency, metrics.DaytonaLatency} {
					sites = append(sites, emitSite{where, m, string(metrics.Milliseconds), []string{"Operation"}})
				}
			case sel.Sel.Name == "Add" && len(call.Args) >= 3:
				args := call.Args
				if isPkg(sel.X, "metrics") {
					args = args[1:] // ctx
				}
				name, okName := constOf(args[0], consts)
				unit, okUnit := constOf(args[1], consts)
				if !okName || !okUnit {
					return true
				}
				site := emitSite{where: where, name: name, unit: unit}
				for _, a := range args[3:] {
					dn, ok := dimName(a)
					if id, isID := a.(*ast.Ident); !ok && isID {
						dn, ok = named[id.Name]
					}
					if !ok {
						t.Errorf("%s: a dimension whose name the test cannot read", where)
						continue
					}
					site.dims = append(site.dims, dn)
				}
				sites = append(sites, site)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sites
}

// metricConsts are internal/metrics' string constants by name.
func metricConsts(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "metrics.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for i, id := range vs.Names {
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						out[id.Name], _ = strconv.Unquote(lit.Value)
					}
				}
			}
		}
		return true
	})
	return out
}

func isPkg(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// constOf is the value of metrics.<Name>.
func constOf(e ast.Expr, consts map[string]string) (string, bool) {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || !isPkg(sel.X, "metrics") {
		return "", false
	}
	v, ok := consts[sel.Sel.Name]
	return v, ok
}

// dimName is the name of metrics.Dim("<name>", ...).
func dimName(e ast.Expr) (string, bool) {
	call, ok := e.(*ast.CallExpr)
	if !ok || len(call.Args) != 2 {
		return "", false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Dim" || !isPkg(sel.X, "metrics") {
		return "", false
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}
