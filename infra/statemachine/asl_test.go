// The task state machine's definition, checked as AWS would check it.
package statemachine

import (
	"cmp"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/infra/samtemplate"
	"github.com/sandstep/sandstep/internal/config"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/sfnlocal"
	"github.com/sandstep/sandstep/internal/testutil"
)

// TestASLValidates runs asl-validator (the runner's npm package, which
// aws-local-stepfunctions also validates with) over the definition as the
// template deploys it: substitutions applied, with ARNs of this account.
func TestASLValidates(t *testing.T) {
	tpl, err := samtemplate.Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	validator := validatorPath(t)
	for _, sm := range tpl.StateMachines() {
		// The previous revision (testdata/previous) still runs after a
		// deploy: it takes the current substitutions.
		for name, path := range map[string]string{
			sm.LogicalID:               filepath.Join("../..", sm.DefinitionURI),
			sm.LogicalID + "/previous": filepath.Join("testdata/previous", filepath.Base(sm.DefinitionURI)),
		} {
			t.Run(name, func(t *testing.T) {
				raw, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				subs := map[string]string{}
				for k, v := range sm.Substitutions {
					if fn, ok := strings.CutSuffix(strings.TrimPrefix(v, "${"), ".Arn}"); ok {
						v = "arn:aws:lambda:us-east-1:123456789012:function:" + fn
					} else if fn, ok := strings.CutSuffix(strings.TrimPrefix(v, "${"), ".Version}"); ok {
						v = "arn:aws:lambda:us-east-1:123456789012:function:" + fn + ":1"
					}
					subs[k] = v
				}
				def := filepath.Join(t.TempDir(), "definition.json")
				if err := os.WriteFile(def, []byte(sfnlocal.Substitute(string(raw), subs)), 0o600); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command("node", validator, "--json-path", def).CombinedOutput()
				if err != nil {
					t.Fatalf("asl-validator: %v\n%s", err, out)
				}
			})
		}
	}
}

// TestASLValidatorCanFail proves the validator run above can fail.
func TestASLValidatorCanFail(t *testing.T) {
	validator := validatorPath(t)
	def := filepath.Join(t.TempDir(), "definition.json")
	bad := `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:x","Next":"Missing"}}}`
	if err := os.WriteFile(def, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("node", validator, "--json-path", def).CombinedOutput(); err == nil {
		t.Fatalf("asl-validator accepted a transition to a missing state:\n%s", out)
	}
}

// validatorPath is asl-validator's command in the runner's packages; the
// test skips without Node or the packages (`make sfnlocal-deps`), except
// where SANDSTEP_REQUIRE_NODE is set (CI).
func validatorPath(t *testing.T) string {
	t.Helper()
	dir, err := sfnlocal.FindRunnerDir(".")
	if err == nil {
		_, err = exec.LookPath("node")
	}
	path := filepath.Join(dir, "node_modules", "asl-validator", "dist", "bin", "asl-validator.js")
	if err == nil {
		if _, serr := os.Stat(path); serr != nil {
			err = errors.New("asl-validator is not installed: run make sfnlocal-deps")
		}
	}
	testutil.NeedNode(t, err)
	return path
}

// retrier is a state's Retry entry.
type retrier struct {
	ErrorEquals     []string `json:"ErrorEquals"`
	IntervalSeconds float64  `json:"IntervalSeconds"`
	BackoffRate     float64  `json:"BackoffRate"`
	MaxDelaySeconds float64  `json:"MaxDelaySeconds"`
	MaxAttempts     int      `json:"MaxAttempts"`
	JitterStrategy  string   `json:"JitterStrategy"`
}

// delays are r's waits before each retry, in seconds, at their longest
// (without jitter).
func (r retrier) delays() []float64 {
	var out []float64
	delay := r.IntervalSeconds
	for range r.MaxAttempts {
		out = append(out, cmp.Or(min(delay, r.MaxDelaySeconds), delay))
		delay *= r.BackoffRate
	}
	return out
}

// total is r's waits added up, at their longest.
func (r retrier) total() (sum float64) {
	for _, d := range r.delays() {
		sum += d
	}
	return sum
}

// retriers reads task.asl.json's states' types, timeouts and retriers.
func retriers(t *testing.T) (def struct {
	States map[string]struct {
		Type           string    `json:"Type"`
		TimeoutSeconds int       `json:"TimeoutSeconds"`
		Retry          []retrier `json:"Retry"`
	} `json:"States"`
}) {
	t.Helper()
	raw, err := os.ReadFile("task.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(strings.ReplaceAll(string(raw), "${ExecutionTimeoutSeconds}", "1")), &def); err != nil {
		t.Fatal(err)
	}
	return def
}

// A task waiting for Daytona's capacity (Sandbox.Capacity) is retried, with
// full jitter (many tasks waiting must not ask together), for longer than
// the longest wait the service allows (a repository's task may wait its
// queue's time as well), so the service, not the retry count, decides when
// it gives up. Full jitter makes each delay anything up to its bound: the
// total is judged as six standard deviations below its mean.
func TestCapacityRetry(t *testing.T) {
	def := retriers(t)
	found := false
	for _, r := range def.States["CreateSandbox"].Retry {
		if !slices.Contains(r.ErrorEquals, "Sandbox.Capacity") {
			continue
		}
		found = true
		if r.JitterStrategy != "FULL" {
			t.Errorf("JitterStrategy %q: tasks waiting for capacity would ask Daytona together", r.JitterStrategy)
		}
		mean, variance := 0.0, 0.0
		for _, d := range r.delays() {
			mean, variance = mean+d/2, variance+d*d/12 // uniform on [0, d]
		}
		low := time.Duration(mean-6*math.Sqrt(variance)) * time.Second
		if want := config.MaxQueueTimeout + config.MaxCapacityWait; low < want {
			t.Errorf("%d retries wait %s in all (six deviations below the mean), less than the longest queue and capacity wait %s", r.MaxAttempts, low, want)
		}
	}
	if !found {
		t.Error("CreateSandbox does not retry Sandbox.Capacity")
	}
}

// A repository's task over its quota (Sandbox.Queued) is retried for at
// least the longest GITHUB_QUEUE_TIMEOUT, so the service, not the retry
// count, decides when it gives up; and often enough that a freed slot is
// taken within a minute. Anyone else's task over quota is not retried.
func TestQueuedTaskRetry(t *testing.T) {
	def := retriers(t)
	found := false
	for name, st := range def.States {
		for _, r := range st.Retry {
			if slices.Contains(r.ErrorEquals, "Sandbox.QuotaExceeded") {
				t.Errorf("%s retries Sandbox.QuotaExceeded: a user's task over quota fails at once", name)
			}
			if !slices.Contains(r.ErrorEquals, "Sandbox.Queued") {
				continue
			}
			if name != "CreateSandbox" {
				t.Errorf("%s retries Sandbox.Queued; only CreateSandbox admits a task", name)
				continue
			}
			found = true
			if r.JitterStrategy == "FULL" {
				t.Error("full jitter can shorten every delay to nothing: the total wait would not be bounded below")
			}
			if r.MaxDelaySeconds == 0 || r.MaxDelaySeconds > 60 {
				t.Errorf("MaxDelaySeconds %v: a freed slot should be taken within a minute", r.MaxDelaySeconds)
			}
			if got := time.Duration(r.total()) * time.Second; got < config.MaxQueueTimeout {
				t.Errorf("%d retries wait %s in all, less than the longest GITHUB_QUEUE_TIMEOUT %s", r.MaxAttempts, got, config.MaxQueueTimeout)
			}
		}
	}
	if !found {
		t.Error("CreateSandbox does not retry Sandbox.Queued")
	}
}

// A retrier counts its attempts over the state's whole visit, so the
// transient errors a queued task meets across hours of Sandbox.Queued
// retries add up: CreateSandbox bears a few a day (a throttled Lambda, a
// DynamoDB blip) without failing the task, and still gives up on a
// lasting failure within half an hour.
func TestCreateSandboxTransientRetry(t *testing.T) {
	found := false
	for _, r := range retriers(t).States["CreateSandbox"].Retry {
		if !slices.Contains(r.ErrorEquals, "Sandbox.Transient") {
			continue
		}
		found = true
		if total := r.total(); r.MaxAttempts < 20 || total > 30*60 {
			t.Errorf("CreateSandbox retries Sandbox.Transient %d times over %.0f s at most; want 20 at least, within 30 minutes", r.MaxAttempts, total)
		}
	}
	if !found {
		t.Error("CreateSandbox does not retry Sandbox.Transient")
	}
}

// retries says whether one of rs matches the error name.
func retries(rs []retrier, name string) bool {
	return slices.ContainsFunc(rs, func(r retrier) bool { return slices.Contains(r.ErrorEquals, name) })
}

// Which of Lambda's failures each Task state retries. The Step Functions
// guide ("Handle Lambda service exceptions") names the Lambda service's
// transient errors to retry; every state does, or its Catch fails the
// task. An invocation that died (Lambda.Unknown: a function timeout or out
// of memory, as the guide says; Sandbox.Timedout, Lambda's own name for a
// timeout; Runtime.OutOfMemory and Runtime.ExitError, its names for a
// process out of memory or exited: killed, or a goroutine's panic) is
// retried only by the steps safe to run again: Wait and Check, which a
// task of hours runs hundreds of times (a check asked again stores from
// where the record stands, a wait keeps the newer token), and Collect,
// the task's work (its stores go on from the record, the artifacts are put
// under the same keys, the push of the same commits is no change, the open
// pull request is found again, the outcome is written only from running).
// The other steps are not run again after being killed part-way:
// CreateSandbox may have made a sandbox it did not record, StartCommand
// started a command it did not record; Prepare validates and keeps a
// record in seconds; and the clean-ups are repeated by the ended
// execution's own clean-up (task-ended).
func TestLambdaFailuresRetried(t *testing.T) {
	service := []string{"Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException", "Lambda.AWSLambdaException",
		"Lambda.SdkClientException", "Lambda.TooManyRequestsException"}
	died := []string{"Lambda.Unknown", "Sandbox.Timedout", "Runtime.OutOfMemory", "Runtime.ExitError"}
	states := retriers(t).States
	tests := []struct {
		name    string
		states  []string // nil: every Task state
		errors  []string
		retried bool
	}{
		{name: "the Lambda service's transient errors, everywhere", errors: service, retried: true},
		{name: "an invocation that died in a step safe to run again", states: []string{"Wait", "Check", "Collect"}, errors: died, retried: true},
		{name: "a step's invocation that died part-way", states: []string{"Prepare", "CreateSandbox", "StartCommand", "CleanUp", "CleanUpAfterFailure"}, errors: died},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names := tt.states
			if names == nil {
				for name, st := range states {
					if st.Type == "Task" {
						names = append(names, name)
					}
				}
			}
			for _, name := range names {
				st, ok := states[name]
				if !ok || st.Type != "Task" {
					t.Fatalf("no Task state %s", name)
				}
				for _, e := range tt.errors {
					if got := retries(st.Retry, e); got != tt.retried {
						t.Errorf("%s retries %s: %v, want %v", name, e, got, tt.retried)
					}
				}
			}
		})
	}
}

// The execution's timeout and the sandbox's life past the command's
// deadline hold what the definition's retries and the service's budgets
// may spend. The command's deadline is set when it starts,
// MAX_TASK_DURATION later however late that is, and the admission bounds
// (GITHUB_QUEUE_TIMEOUT, CAPACITY_WAIT) count from the task's acceptance:
// retry delays before the last refusal are inside them, those after it
// (and a console start's before its acceptance, in Prepare) are not.
// After the deadline come the check that kills the command, the collect
// (its budget after its stores, service.MaxCollectRest) and the clean-up:
// one attempt of each at its state's TimeoutSeconds, and every retry delay.
// Failed attempts are not counted: a step that keeps failing fails the
// task, and an execution that times out is cleaned up all the same
// (task-ended). The sandbox (its TTL is the deadline + TaskCleanupMargin,
// moved by a collect that may outlive the deadline) must outlive the
// collect, or the pull request and the artifacts are lost; the execution
// (TaskExecutionMargin) the clean-up as well.
func TestMarginsHoldWhatTheyMust(t *testing.T) {
	states := retriers(t).States
	// delays adds up the delays of state's retriers that match one of
	// names (all of them without names).
	delays := func(state string, names ...string) (sum time.Duration) {
		for _, r := range states[state].Retry {
			if len(names) == 0 || slices.ContainsFunc(names, func(n string) bool { return slices.Contains(r.ErrorEquals, n) }) {
				sum += time.Duration(r.total()) * time.Second
			}
		}
		return sum
	}
	lastDelay := func(state, name string) time.Duration {
		for _, r := range states[state].Retry {
			if slices.Contains(r.ErrorEquals, name) {
				d := r.delays()
				return time.Duration(d[len(d)-1]) * time.Second
			}
		}
		return 0
	}
	attempt := func(state string) time.Duration { return time.Duration(states[state].TimeoutSeconds) * time.Second }

	beforeStart := delays("Prepare") + delays("CreateSandbox", "Sandbox.Transient") + lastDelay("CreateSandbox", "Sandbox.Capacity") + delays("StartCommand")
	collected := attempt("Check") + delays("Check") + service.MaxCollectRest + delays("Collect")
	cleanedUp := collected + attempt("CleanUp") + delays("CleanUp")
	tests := []struct {
		name       string
		need, have time.Duration
	}{
		// After the deadline the sandbox lives until a collect moves its
		// life to that invocation's end plus the margin (keepForCollect):
		// the checks before the first collect, and a retry's delay before
		// the next, must fit the margin.
		{"the sandbox outlives the checks until a collect keeps it", attempt("Check") + delays("Check"), sandstep.TaskCleanupMargin},
		{"a collect's kept sandbox outlives the delay before its retry", lastDelay("Collect", "Sandbox.Transient"), sandstep.TaskCleanupMargin},
		{"the sandbox outlives a collect in one invocation", collected, sandstep.TaskCleanupMargin},
		{"the execution outlives the retries before the start and the clean-up", beforeStart + cleanedUp, sandstep.TaskExecutionMargin},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.need > tt.have {
				t.Errorf("needs up to %s (%s before the command starts; after its deadline, %s through the collect, %s through the clean-up), has %s",
					tt.need, beforeStart, collected, cleanedUp, tt.have)
			}
		})
	}
}
