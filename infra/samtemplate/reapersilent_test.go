package samtemplate

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	apihandlers "github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/metrics"
)

// The reaper is the one thing that finds leaks, and every alarm on what it
// finds reads no data as no trouble. A reaper that stops running (a cold
// start that fails on a bad deploy, a run killed at its timeout, the
// schedule's rule disabled, a throttled invocation) writes no metric at
// all, so the reaper-<kind> alarms and fault-rate-reaper (whose Requests
// are missing) all stay OK while sandboxes leak. Every invocation of the
// reaper counts a request of its function, failed or not: an alarm on that
// count, reading missing data as breaching, is the reaper's heartbeat.
func TestReaperSilenceRaisesAnAlarm(t *testing.T) {
	const ns = "sentinel/ns"
	emitted := reaperInvocationMetrics(t, ns)

	tests := []struct {
		name string
		// params: the schedule and the heartbeat's period, as deployed.
		params map[string]string
		// interval is the schedule's time between runs, in seconds.
		interval int
	}{
		{name: "the default schedule", interval: 300},
		{name: "a daily schedule", params: map[string]string{"ReaperSchedule": "rate(1 day)", "ReaperHeartbeatSeconds": "86400"}, interval: 86400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := maps.Clone(sentinels)
			maps.Copy(params, tt.params)
			tpl, err := Load(repoTemplate, WithParameters(params))
			if err != nil {
				t.Fatal(err)
			}
			got, raw := alarmsByName(t, tpl)
			var heartbeats []string
			for name, a := range got {
				if a.Metric != metrics.Requests || a.Namespace != ns || !emitted[dimsKey(a.Dimensions)] {
					continue
				}
				if a.Dimensions["Function"] != apihandlers.FunctionReaper {
					continue
				}
				heartbeats = append(heartbeats, name)
				p := raw[name]
				if a.Comparison != "LessThanThreshold" || a.Threshold != 1 || a.Stat != "Sum" {
					t.Errorf("%s: %s %v of the %s, want Sum LessThanThreshold 1 (no run)", name, a.Comparison, a.Threshold, a.Stat)
				}
				if p["TreatMissingData"] != "breaching" {
					t.Errorf("%s: TreatMissingData %v, want breaching: a reaper that does not run writes nothing", name, p["TreatMissingData"])
				}
				// It fires only once two runs in a row are missing, and
				// within an hour at the default schedule.
				datapoints := max(a.Datapoints, a.Evaluation)
				if w := a.Period * datapoints; w < 2*tt.interval {
					t.Errorf("%s: fires after %d s without a run, under two of the schedule's %d s intervals", name, w, tt.interval)
				}
				if tt.params == nil && a.Period*datapoints > 3600 {
					t.Errorf("%s: fires after %d s without a run, over an hour at the default schedule", name, a.Period*datapoints)
				}
				for _, key := range []string{"AlarmActions", "OKActions"} {
					if a := mustJSON(t, p[key]); a != `["AlarmTopic"]` {
						t.Errorf("%s: %s = %s, want the stack's topic", name, key, a)
					}
				}
			}
			if len(heartbeats) != 1 {
				t.Errorf("alarms on the reaper's runs (%s/%s{Function=%s}, what each run emits): %v; want one: a reaper that stopped running raises nothing",
					ns, metrics.Requests, apihandlers.FunctionReaper, heartbeats)
			}
		})
	}
}

// reaperInvocationMetrics runs the reaper's handler once (an input it
// refuses, so that no service is needed) and returns the dimension sets,
// as dimsKey gives them, of the Requests it emitted in namespace ns.
func reaperInvocationMetrics(t *testing.T, ns string) map[string]bool {
	t.Helper()
	var out bytes.Buffer
	a := apihandlers.New(nil, apihandlers.Options{MaxBodyBytes: 1 << 20, Metrics: apihandlers.MetricsOptions{Namespace: ns, Writer: &out}})
	if _, err := a.Handler(apihandlers.FunctionReaper).Invoke(context.Background(), []byte(`{"action":"reap","maxActions":0}`)); err == nil {
		t.Fatal("the reaper took maxActions 0")
	}
	sets := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("not an EMF line: %q", line)
		}
		var emf struct {
			AWS struct {
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name string }
				}
			} `json:"_aws"`
		}
		_ = json.Unmarshal([]byte(line), &emf)
		for _, d := range emf.AWS.CloudWatchMetrics {
			if d.Namespace != ns || !slices.ContainsFunc(d.Metrics, func(m struct{ Name string }) bool { return m.Name == metrics.Requests }) {
				continue
			}
			for _, set := range d.Dimensions {
				dims := map[string]string{}
				for _, k := range set {
					dims[k], _ = doc[k].(string)
				}
				sets[dimsKey(dims)] = true
			}
		}
	}
	if !sets[dimsKey(map[string]string{"Function": apihandlers.FunctionReaper})] {
		t.Fatalf("the reaper's invocation emitted no %s{Function=%s} in %s:\n%s", metrics.Requests, apihandlers.FunctionReaper, ns, out.String())
	}
	return sets
}

// dimsKey is a dimension set as one comparable string.
func dimsKey(dims map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(dims)) {
		b.WriteString(k + "=" + dims[k] + ";")
	}
	return b.String()
}
