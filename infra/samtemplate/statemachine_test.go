package samtemplate

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	apihandlers "github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/config"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/sfnlocal"
)

// aslState is what these tests read of a state.
type aslState struct {
	Type               string         `json:"Type"`
	Resource           string         `json:"Resource"`
	Parameters         map[string]any `json:"Parameters"`
	TimeoutSeconds     int            `json:"TimeoutSeconds"`
	TimeoutSecondsPath string         `json:"TimeoutSecondsPath"`
	Retry              []struct {
		ErrorEquals []string `json:"ErrorEquals"`
	} `json:"Retry"`
	Catch []struct {
		ErrorEquals []string `json:"ErrorEquals"`
		ResultPath  *string  `json:"ResultPath"`
		Next        string   `json:"Next"`
	} `json:"Catch"`
	Next string `json:"Next"`
	End  bool   `json:"End"`
}

// taskMachine loads the template's one state machine and its definition
// with the substitutions applied.
func taskMachine(t *testing.T, tpl *Template) (StateMachine, string, map[string]aslState) {
	t.Helper()
	sms := tpl.StateMachines()
	if len(sms) != 1 {
		t.Fatalf("%d state machines, want the task state machine alone", len(sms))
	}
	sm := sms[0]
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(repoTemplate), sm.DefinitionURI))
	if err != nil {
		t.Fatal(err)
	}
	def := sfnlocal.Substitute(string(raw), sm.Substitutions)
	var asl struct {
		States map[string]aslState `json:"States"`
	}
	if err := json.Unmarshal([]byte(def), &asl); err != nil {
		t.Fatalf("%s after substitution: %v", sm.DefinitionURI, err)
	}
	return sm, string(raw), asl.States
}

func TestRepoTemplateStateMachine(t *testing.T) {
	tpl := loadRepo(t)
	sm, raw, states := taskMachine(t, tpl)
	if sm.Type != "STANDARD" {
		t.Errorf("Type %q: tasks run for hours, which only a Standard workflow can", sm.Type)
	}

	// Every placeholder is substituted, and nothing else is.
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z0-9]+)\}`).FindAllStringSubmatch(raw, -1) {
		used[m[1]] = true
	}
	if got, want := slices.Sorted(maps.Keys(sm.Substitutions)), slices.Sorted(maps.Keys(used)); !slices.Equal(got, want) {
		t.Errorf("DefinitionSubstitutions %v, the definition uses %v", got, want)
	}

	// The functions know the state machine's alias by the machine's fixed
	// name: executions start on the version the alias points at.
	for _, f := range tpl.Functions() {
		if arn := f.Environment["STATE_MACHINE_ARN"]; !strings.HasSuffix(arn, ":stateMachine:"+sm.Name+":live") || sm.Name == "" {
			t.Errorf("%s: STATE_MACHINE_ARN %q does not name the state machine %q's alias live", f.LogicalID, arn, sm.Name)
		}
	}

	// The execution's timeout is the longest admission wait (a
	// repository's task may queue for its quota, then wait for capacity),
	// the longest command and the execution's margin (its retries before
	// the start, the collect and the clean-up: infra/statemachine adds
	// them up).
	f, _ := tpl.Function("CreateFunction")
	cfg, err := config.Load(func(k string) string { return f.Environment[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := cfg.CapacityWait + cfg.GitHubQueueTimeout + cfg.MaxTaskDuration + sandstep.TaskExecutionMargin
	if got := sm.Substitutions["ExecutionTimeoutSeconds"]; got != strconv.Itoa(int(want/time.Second)) {
		t.Errorf("ExecutionTimeoutSeconds = %s, want %d (CAPACITY_WAIT %s + GITHUB_QUEUE_TIMEOUT %s + MAX_TASK_DURATION %s + %s)",
			got, int(want/time.Second), cfg.CapacityWait, cfg.GitHubQueueTimeout, cfg.MaxTaskDuration, sandstep.TaskExecutionMargin)
	}
	// Every function applies the same queue and repository quota.
	for _, f := range tpl.Functions() {
		for _, name := range []string{"GITHUB_QUEUE_TIMEOUT", "GITHUB_REPO_QUOTA", "CAPACITY_WAIT", "MAX_TASK_DURATION"} {
			if _, ok := f.Environment[name]; !ok {
				t.Errorf("%s lacks %s", f.LogicalID, name)
			}
		}
	}

	// Task states call published versions (Ref X.Version), never $LATEST
	// or an alias: an execution keeps the code of the deploy it began in.
	byARN := map[string]Function{}
	for _, f := range tpl.Functions() {
		byARN["${"+f.LogicalID+".Version}"] = f
	}
	transient := []string{"Sandbox.Transient", "Sandbox.Capacity", "Sandbox.Queued", "Lambda.ClientExecutionTimeoutException",
		"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"}
	// An invocation that died (a function timeout, out of memory) is run
	// again only by the watch's steps and Collect, safe to rerun
	// (infra/statemachine, TestLambdaFailuresRetried).
	died := []string{"Lambda.Unknown", "Sandbox.Timedout", "Runtime.OutOfMemory", "Runtime.ExitError"}
	rerun := map[string][]string{"Wait": died, "Check": died, "Collect": died}
	for name, st := range states {
		if st.Type != "Task" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			params, arn := st.Parameters, st.Resource
			if st.Resource == "arn:aws:states:::lambda:invoke.waitForTaskToken" {
				params, _ = st.Parameters["Payload"].(map[string]any)
				arn, _ = st.Parameters["FunctionName"].(string)
			}
			fn, ok := byARN[arn]
			if !ok {
				t.Fatalf("invokes %q, not one of the template's functions", arn)
			}
			action, _ := params["action"].(string)
			function := strings.TrimPrefix(fn.CodeURI, "functions/")
			if !slices.Contains(apihandlers.Actions(function), action) {
				t.Errorf("action %q is not one of the %s function's %v", action, function, apihandlers.Actions(function))
			}
			// A state that gives up before its function does would retry
			// while the first attempt still runs.
			// The state's clock starts before the function's: the
			// invoke, and a cold start's init (up to 10 s), come first.
			if st.TimeoutSecondsPath == "" && st.TimeoutSeconds < fn.Timeout+stateTimeoutMargin {
				t.Errorf("TimeoutSeconds %d leaves less than %d s over %s's Timeout %d", st.TimeoutSeconds, stateTimeoutMargin, fn.LogicalID, fn.Timeout)
			}
			for _, r := range st.Retry {
				for _, e := range r.ErrorEquals {
					if !slices.Contains(transient, e) && !slices.Contains(rerun[name], e) {
						t.Errorf("retries %q, which is not transient", e)
					}
				}
			}
			if !st.End {
				caught := false
				for _, c := range st.Catch {
					if !slices.Contains(c.ErrorEquals, "States.ALL") {
						continue
					}
					// The failure goes where the clean-up reads it ($.failure),
					// directly or through a Pass state that puts it there (an
					// input that is not an object has no $.failure to write):
					// the Catch then keeps its default ResultPath, $, as the
					// local Step Functions takes a "$" written out for a key.
					direct := c.Next == "CleanUpAfterFailure" && c.ResultPath != nil && *c.ResultPath == "$.failure"
					pass := states[c.Next]
					through := c.ResultPath == nil && pass.Type == "Pass" &&
						pass.Next == "CleanUpAfterFailure" && reflect.DeepEqual(pass.Parameters, map[string]any{"failure.$": "$"})
					caught = caught || direct || through
				}
				if !caught {
					t.Error("does not catch States.ALL into CleanUpAfterFailure, the failure at $.failure")
				}
			}
		})
	}
}

// stateTimeoutMargin is what a task state's TimeoutSeconds keeps over its
// function's Timeout, in seconds.
const stateTimeoutMargin = 30

// The rule that cleans up after an execution that ended without its own
// clean-up hears exactly the task state machine's abnormal ends, and
// gives the delete function its task-ended action.
func TestRepoTemplateTaskEndedRule(t *testing.T) {
	tpl := loadRepo(t)
	rules := tpl.Rules()
	if len(rules) != 1 || rules[0].Function != "DeleteFunction" {
		t.Fatalf("rules %+v, want one on DeleteFunction", rules)
	}
	r := rules[0]
	f, _ := tpl.Function("DeleteFunction")
	detail, _ := r.Pattern["detail"].(map[string]any)
	checks := []struct {
		what      string
		got, want any
	}{
		{"source", r.Pattern["source"], []any{"aws.states"}},
		{"detail-type", r.Pattern["detail-type"], []any{"Step Functions Execution Status Change"}},
		// The event names the unqualified machine whichever version or
		// alias an execution started on: executions of every version match.
		{"detail.stateMachineArn", detail["stateMachineArn"], []any{strings.TrimSuffix(f.Environment["STATE_MACHINE_ARN"], ":live")}},
		{"detail.status", detail["status"], []any{"FAILED", "TIMED_OUT", "ABORTED"}},
		{"InputPathsMap", r.InputPaths, map[string]string{"detail": "$.detail"}},
	}
	for _, c := range checks {
		if g, _ := json.Marshal(c.got); string(g) != mustJSON(t, c.want) {
			t.Errorf("%s = %s, want %s", c.what, g, mustJSON(t, c.want))
		}
	}
	input := strings.ReplaceAll(r.InputTemplate, "<detail>", `{"name":"tsk_x","status":"ABORTED"}`)
	var in struct {
		Action string          `json:"action"`
		Detail json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal([]byte(input), &in); err != nil || in.Action != apihandlers.ActionTaskEnded || len(in.Detail) == 0 {
		t.Errorf("InputTemplate %q gives %+v (%v), want the %s action with the detail", r.InputTemplate, in, err, apihandlers.ActionTaskEnded)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The reaper runs on one schedule, whose input is its action.
func TestRepoTemplateReaperSchedule(t *testing.T) {
	tpl := loadRepo(t)
	scheds := tpl.Schedules()
	if len(scheds) != 1 || scheds[0].Function != "ReaperFunction" {
		t.Fatalf("schedules %+v, want one on ReaperFunction", scheds)
	}
	var in struct {
		Action string `json:"action"`
	}
	if err := json.Unmarshal([]byte(scheds[0].Input), &in); err != nil || in.Action != apihandlers.ActionReap {
		t.Errorf("input %q, want the %s action", scheds[0].Input, apihandlers.ActionReap)
	}
}
