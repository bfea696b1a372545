package samtemplate

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
)

// The contract's metrics (README, "Metrics") and who emits them.
var (
	metricFunctions = []string{"create", "execute", "status", "delete", "reaper", "github"}
	// The kinds of internal/service's ReapReport that count as findings.
	reaperKinds = []string{"unowned", "expired", "abandoned", "gone", "finished", "slots", "quota", "tasks", "failed", "deferred"}
)

// alarm is the part of an AWS::CloudWatch::Alarm the tests compare.
type alarm struct {
	Namespace, Metric      string
	Dimensions             map[string]string
	Stat                   string
	Period                 int
	Comparison             string
	Threshold              float64
	Evaluation, Datapoints int
	Expression             string
}

func alarmsByName(t *testing.T, tpl *Template) (map[string]alarm, map[string]map[string]any) {
	t.Helper()
	got, raw := map[string]alarm{}, map[string]map[string]any{}
	for _, r := range tpl.Resources("AWS::CloudWatch::Alarm") {
		var p struct {
			AlarmName, Namespace, MetricName, Statistic, ComparisonOperator string
			Dimensions                                                      []struct{ Name, Value string }
			Period, EvaluationPeriods, DatapointsToAlarm                    int
			Threshold                                                       float64
			Metrics                                                         []struct {
				ID         string `json:"Id"`
				Expression string
			}
		}
		b, _ := json.Marshal(r.Properties)
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("%s: %v", r.LogicalID, err)
		}
		a := alarm{Namespace: p.Namespace, Metric: p.MetricName, Dimensions: map[string]string{}, Stat: p.Statistic, Period: p.Period,
			Comparison: p.ComparisonOperator, Threshold: p.Threshold, Evaluation: p.EvaluationPeriods, Datapoints: p.DatapointsToAlarm}
		for _, d := range p.Dimensions {
			a.Dimensions[d.Name] = d.Value
		}
		for _, m := range p.Metrics {
			a.Expression += m.Expression
		}
		got[p.AlarmName] = a
		raw[p.AlarmName] = r.Properties
	}
	return got, raw
}

// Every alarm the issue asks for, with its metric and threshold, and
// nothing else; all notify the one topic and read no data as no trouble,
// but the reaper's heartbeat.
func TestRepoTemplateAlarms(t *testing.T) {
	tpl := loadRepo(t)
	const stack, ns = "sandstep-local", "sentinel/ns"
	machine := "TaskStateMachine"
	want := map[string]alarm{
		// ExecutionsFailedPerFiveMinutes' default: a caller's failing
		// command fails its execution too.
		stack + "-executions-failed": {Namespace: "AWS/States", Metric: "ExecutionsFailed", Dimensions: map[string]string{"StateMachineArn": machine},
			Stat: "Sum", Period: 300, Comparison: "GreaterThanOrEqualToThreshold", Threshold: 10, Evaluation: 1},
		stack + "-executions-timed-out": {Namespace: "AWS/States", Metric: "ExecutionsTimedOut", Dimensions: map[string]string{"StateMachineArn": machine},
			Stat: "Sum", Period: 300, Comparison: "GreaterThanOrEqualToThreshold", Threshold: 1, Evaluation: 1},
		stack + "-notices-given-up": {Namespace: ns, Metric: "NoticesGivenUp", Dimensions: map[string]string{},
			Stat: "Sum", Period: 300, Comparison: "GreaterThanThreshold", Threshold: 0, Evaluation: 1},
		// DaytonaRateLimitedPerMinute's default: 5 a minute, 3 minutes of 5.
		stack + "-daytona-rate-limited": {Namespace: ns, Metric: "DaytonaRateLimited", Dimensions: map[string]string{},
			Stat: "Sum", Period: 60, Comparison: "GreaterThanOrEqualToThreshold", Threshold: 5, Evaluation: 5, Datapoints: 3},
		// ReaperHeartbeatSeconds' default: no run in two 10-minute periods.
		stack + "-reaper-silent": {Namespace: ns, Metric: "Requests", Dimensions: map[string]string{"Function": "reaper"},
			Stat: "Sum", Period: 600, Comparison: "LessThanThreshold", Threshold: 1, Evaluation: 2, Datapoints: 2},
	}
	for _, fn := range metricFunctions {
		// Faults per 100 requests over 5 minutes: the metrics are in the
		// expression's inputs, checked below.
		want[stack+"-fault-rate-"+fn] = alarm{Dimensions: map[string]string{}, Comparison: "GreaterThanThreshold", Threshold: 5, Evaluation: 1,
			Expression: "100 * FILL(faults, 0) / requests"}
		// Lambda's errors less those our code answered: the invocations
		// that died (a crash, out of memory, a timeout, a failed init),
		// which emit no metric of ours.
		// Lambda's Errors of an invocation that ran 15 minutes land in
		// the period it began in: four periods looked back at.
		want[stack+"-crashes-"+fn] = alarm{Dimensions: map[string]string{}, Comparison: "GreaterThanThreshold", Threshold: 0, Evaluation: 4, Datapoints: 1,
			Expression: "errors - FILL(returned, 0)"}
	}
	for _, k := range reaperKinds {
		want[stack+"-reaper-"+k] = alarm{Namespace: ns, Metric: "ReaperFindings", Dimensions: map[string]string{"Kind": k},
			Stat: "Sum", Period: 300, Comparison: "GreaterThanThreshold", Threshold: 0, Evaluation: 1}
	}
	// The functions emit where the alarms look.
	for _, f := range tpl.Functions() {
		if f.Environment["METRICS_NAMESPACE"] != ns {
			t.Errorf("%s: METRICS_NAMESPACE %q, want the MetricsNamespace parameter's %q", f.LogicalID, f.Environment["METRICS_NAMESPACE"], ns)
		}
	}
	got, raw := alarmsByName(t, tpl)
	if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
		t.Errorf("alarms %v, want %v", g, w)
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			g, ok := got[name]
			if !ok {
				t.Fatal("missing")
			}
			if gj, wj := mustJSON(t, g), mustJSON(t, w); gj != wj {
				t.Errorf("alarm\n got %s\nwant %s", gj, wj)
			}
			p := raw[name]
			for _, key := range []string{"AlarmActions", "OKActions"} {
				if a := mustJSON(t, p[key]); a != `["AlarmTopic"]` {
					t.Errorf("%s = %s, want the stack's topic", key, a)
				}
			}
			// The reaper runs on its schedule whatever the traffic: its
			// silence is the trouble.
			treat := "notBreaching"
			if name == stack+"-reaper-silent" {
				treat = "breaching"
			}
			if p["TreatMissingData"] != treat {
				t.Errorf("TreatMissingData = %v, want %s", p["TreatMissingData"], treat)
			}
			if fn, ok := strings.CutPrefix(name, stack+"-fault-rate-"); ok {
				checkInputs(t, p, map[string]any{
					"faults":   metricStat(ns, "Faults", "Function", fn),
					"requests": metricStat(ns, "Requests", "Function", fn),
				})
			}
			if fn, ok := strings.CutPrefix(name, stack+"-crashes-"); ok {
				checkInputs(t, p, map[string]any{
					"errors":   metricStat("AWS/Lambda", "Errors", "FunctionName", functionLogicalID(fn)),
					"returned": metricStat(ns, "FunctionErrors", "Function", fn),
				})
			}
		})
	}
}

// metricStat is an alarm input's MetricStat: a sum over 5 minutes.
func metricStat(ns, name, dim, value string) map[string]any {
	return map[string]any{"Metric": map[string]any{"Namespace": ns, "MetricName": name, "Dimensions": []any{map[string]any{"Name": dim, "Value": value}}}, "Period": 300, "Stat": "Sum"}
}

// functionLogicalID is the template's resource for a function's metric
// name (create: CreateFunction).
func functionLogicalID(fn string) string { return strings.ToUpper(fn[:1]) + fn[1:] + "Function" }

// checkInputs: an alarm expression's inputs, by Id, are the MetricStats of
// stats.
func checkInputs(t *testing.T, p map[string]any, stats map[string]any) {
	t.Helper()
	want := map[string]string{}
	for id, st := range stats {
		want[id] = mustJSON(t, st)
	}
	metrics, _ := p["Metrics"].([]any)
	for _, m := range metrics {
		m, _ := m.(map[string]any)
		id, _ := m["Id"].(string)
		if _, isExpr := m["Expression"]; isExpr {
			continue
		}
		if got := mustJSON(t, m["MetricStat"]); got != want[id] {
			t.Errorf("input %s = %s, want %s", id, got, want[id])
		}
		delete(want, id)
	}
	if len(want) > 0 {
		t.Errorf("inputs %v missing", slices.Sorted(maps.Keys(want)))
	}
}

// The alarms notify the topic the stack creates, or the one given, and the
// stack creates a topic only when none is given.
func TestRepoTemplateAlarmTopic(t *testing.T) {
	tests := []struct {
		name, param, want string
	}{
		{"none given", "", "AlarmTopic"},
		{"given", "arn:aws:sns:us-east-1:123456789012:ops", "arn:aws:sns:us-east-1:123456789012:ops"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := maps.Clone(sentinels)
			params["AlarmTopicArn"] = tt.param
			tpl, err := Load(repoTemplate, WithParameters(params))
			if err != nil {
				t.Fatal(err)
			}
			_, raw := alarmsByName(t, tpl)
			for name, p := range raw {
				if a := mustJSON(t, p["AlarmActions"]); a != mustJSON(t, []string{tt.want}) {
					t.Errorf("%s: AlarmActions %s, want [%s]", name, a, tt.want)
				}
			}
			topics := tpl.Resources("AWS::SNS::Topic")
			if len(topics) != 1 || topics[0].Condition != "CreateAlarmTopic" {
				t.Fatalf("topics %+v, want AlarmTopic under CreateAlarmTopic", topics)
			}
			if name := topics[0].Properties["TopicName"]; name != "sandstep-local-alarms" {
				t.Errorf("TopicName = %v", name)
			}
		})
	}
}

// The dashboard shows every metric of the contract, in the template's
// namespace, beside Lambda's, Step Functions' and DynamoDB's own, and its
// body is JSON once CloudFormation has substituted it.
func TestRepoTemplateDashboard(t *testing.T) {
	tpl := loadRepo(t)
	boards := tpl.Resources("AWS::CloudWatch::Dashboard")
	if len(boards) != 1 {
		t.Fatalf("%d dashboards, want 1", len(boards))
	}
	body, _ := boards[0].Properties["DashboardBody"].(string)
	var doc struct {
		Widgets []struct {
			Type       string
			Properties struct {
				Metrics [][]any
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("DashboardBody is not JSON: %v\n%s", err, body)
	}
	shown := map[string]bool{} // namespace/metric
	for _, w := range doc.Widgets {
		for _, m := range w.Properties.Metrics {
			if len(m) >= 2 {
				ns, _ := m[0].(string)
				name, _ := m[1].(string)
				shown[ns+"/"+name] = true
				continue
			}
			// A SEARCH: {sentinel/ns,Kind} MetricName="ReaperFindings".
			expr, _ := m[0].(map[string]any)
			s, _ := expr["expression"].(string)
			if ns, rest, ok := strings.Cut(strings.TrimPrefix(s, "SEARCH('{"), ","); ok {
				if _, name, ok := strings.Cut(rest, `MetricName="`); ok {
					shown[ns+"/"+strings.SplitN(name, `"`, 2)[0]] = true
				}
			}
		}
	}
	want := []string{"Requests", "Faults", "Failures", "SandboxesCreated", "OperationLatency", "DaytonaLatency", "TaskDuration",
		"TasksEnded", "QuotaRejections", "DaytonaRateLimitWaits", "DaytonaRateLimited", "ReaperFindings", "NoticesGivenUp", "GitHubRateLimitWaits"}
	for i, m := range want {
		want[i] = "sentinel/ns/" + m
	}
	want = append(want, "AWS/Lambda/Errors", "AWS/Lambda/Throttles", "AWS/Lambda/Duration",
		"AWS/States/ExecutionsFailed", "AWS/States/ExecutionsTimedOut", "AWS/DynamoDB/ThrottledRequests")
	for _, m := range want {
		if !shown[m] {
			t.Errorf("the dashboard does not show %s", m)
		}
	}
}

// X-Ray traces every function and the state machine; every function
// publishes versions behind the alias live, and so does the machine.
func TestRepoTemplateTracingAndVersions(t *testing.T) {
	tpl := loadRepo(t)
	for _, f := range tpl.Functions() {
		if f.Tracing != "Active" {
			t.Errorf("%s: Tracing %q, want Active", f.LogicalID, f.Tracing)
		}
		if f.AutoPublishAlias != "live" {
			t.Errorf("%s: AutoPublishAlias %q, want live", f.LogicalID, f.AutoPublishAlias)
		}
	}
	sms := tpl.StateMachines()
	if len(sms) != 1 {
		t.Fatalf("%d state machines, want 1", len(sms))
	}
	if !sms[0].Tracing {
		t.Error("the state machine's Tracing is not enabled")
	}
	if sms[0].AutoPublishAlias != "live" {
		t.Errorf("the state machine's AutoPublishAlias %q, want live", sms[0].AutoPublishAlias)
	}
}
