package local

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/config"
	"github.com/sandstep/sandstep/internal/service"
)

// The longest task allowed stays below the 25,000 events an execution's
// history may hold, every retry of the ASL taken. The events of one watch
// iteration (Wait, Check, Ended?) and of the rest are counted from a real
// execution, as AWS counts them; the looks over MAX_TASK_DURATION follow
// the watch's backstop, with a nudge possible and without.
func TestLongestTaskHistory(t *testing.T) {
	s := startStack(t, map[string]string{"TASK_BACKSTOP": "1s"})
	tk := s.startTask("alice", map[string]any{"command": "sleep 4"})
	if done := s.waitTask("alice", tk.ID, time.Minute); done.Status != "succeeded" {
		t.Fatalf("task %+v", done)
	}
	s.waitExecution(tk.ID, 30*time.Second)
	events := s.history(tk.ID)

	// Split the history at each entry into Wait: what comes before the
	// first is the start, what follows the last Ended? the end.
	var waits []int
	lastChoice := 0
	for i, e := range events {
		if e.Entered != nil && e.Entered.Name == "Wait" {
			waits = append(waits, i)
		}
		if e.Entered != nil && e.Entered.Name == "Ended?" {
			lastChoice = i
		}
	}
	if len(waits) < 2 {
		t.Fatalf("%d watch iterations; a 4s command with a 1s backstop needs several", len(waits))
	}
	perIteration := waits[1] - waits[0]
	for i := 2; i < len(waits); i++ {
		if n := waits[i] - waits[i-1]; n != perIteration {
			t.Fatalf("iterations of %d and %d events", perIteration, n)
		}
	}
	entered := 0
	for _, e := range events[waits[0]:waits[1]] {
		if e.Entered != nil {
			entered++
		}
	}
	if entered != 3 {
		t.Errorf("%d states entered per watch iteration; TestTaskTransitionGoals counts 3", entered)
	}
	fixed := len(events) - len(waits)*perIteration
	t.Logf("history: %d events; %d per watch iteration, %d for the rest (last Ended? at %d)", len(events), perIteration, fixed, lastChoice)

	// Retries add events: three per Lambda retry (scheduled, started,
	// failed), at most MaxAttempts per retrier. A state's retriers count
	// from zero each time it is entered, so Wait's and Check's are taken
	// again in every look; the other states are entered once.
	retries := maxRetries(t)
	perLook := perIteration + 3*(retries["Wait"]+retries["Check"])
	rest := fixed
	for name, n := range retries {
		if name != "Wait" && name != "Check" {
			rest += 3 * n
		}
	}

	cfg := config.Defaults()
	for _, tt := range []struct {
		name  string
		d     time.Duration
		nudge time.Duration
	}{
		{"with a nudge", cfg.MaxTaskDuration, cfg.TaskBackstop},
		{"without", cfg.MaxTaskDuration, 0},
		// MAX_TASK_DURATION's largest value (internal/config).
		{"with a nudge", 168 * time.Hour, cfg.TaskBackstop},
		{"without", 168 * time.Hour, 0},
	} {
		looks := watchTransitions(tt.d, tt.nudge)
		total := rest + looks*perLook
		t.Logf("%s %s: %d looks of at most %d events, %d for the rest: at most %d events", tt.d, tt.name, looks, perLook, rest, total)
		if total >= 25000 {
			t.Errorf("%s %s: %d events, over the history limit", tt.d, tt.name, total)
		}
	}
}

// maxRetries sums MaxAttempts over each state's Retry in the task state
// machine.
func maxRetries(t *testing.T) map[string]int {
	t.Helper()
	raw, err := os.ReadFile("../../infra/statemachine/task.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	var asl struct {
		States map[string]struct {
			Retry []struct {
				MaxAttempts int `json:"MaxAttempts"`
			} `json:"Retry"`
		} `json:"States"`
	}
	def := strings.ReplaceAll(string(raw), "${ExecutionTimeoutSeconds}", "1")
	if err := json.Unmarshal([]byte(def), &asl); err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for name, st := range asl.States {
		for _, r := range st.Retry {
			n[name] += r.MaxAttempts
		}
	}
	return n
}

// watchTransitions counts the state transitions of a task's watch over d:
// three per iteration (Wait, Check, Ended?), an iteration per backstop that
// passes before the command ends at d, plus the iterations that notice the
// end: with a nudge, its wake and one more look (nudgedPoll); without one,
// the backstop that passes the end.
func watchTransitions(d, nudge time.Duration) (iterations int) {
	ran := time.Duration(0)
	for {
		next := ran + service.Backstop(ran, nudge)
		if next >= d {
			break
		}
		ran = next
		iterations++
	}
	if nudge > 0 {
		return iterations + 2
	}
	return iterations + 1
}

// The transition goals, counted from the watch's one rule and the real
// execution's shape: with a nudge at most 30 per task-hour; without one at
// most 150 in the first hour and 30 in each later one.
func TestTaskTransitionGoals(t *testing.T) {
	const perIteration, fixed = 3, 5 // Wait, Check, Ended?; Prepare, CreateSandbox, StartCommand, Collect, CleanUp
	backstop := config.Defaults().TaskBackstop
	for _, tt := range []struct {
		name    string
		d       time.Duration
		nudge   time.Duration
		maxRate float64 // transitions per task-hour
	}{
		{"1 hour, nudge", time.Hour, backstop, 30},
		{"12 hours, nudge", 12 * time.Hour, backstop, 30},
		{"1 hour, no nudge", time.Hour, 0, 150},
		{"12 hours, no nudge", 12 * time.Hour, 0, (150 + 11*30) / 12.0},
	} {
		n := fixed + perIteration*watchTransitions(tt.d, tt.nudge)
		rate := float64(n) / tt.d.Hours()
		t.Logf("%s: %d transitions, %.1f per task-hour", tt.name, n, rate)
		if rate > tt.maxRate {
			t.Errorf("%s: %.1f transitions per task-hour, goal %.0f", tt.name, rate, tt.maxRate)
		}
	}
	// Without a nudge, every hour after the first costs at most 30.
	for h := 1; h < 12; h++ {
		from, to := time.Duration(h)*time.Hour, time.Duration(h+1)*time.Hour
		n := perIteration * (watchTransitions(to, 0) - watchTransitions(from, 0))
		if n > 30 {
			t.Errorf("hour %d without a nudge: %d transitions", h+1, n)
		}
	}
}
