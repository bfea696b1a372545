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

// The longest task allowed stays below half of the 25,000 events an
// execution's history may hold. The events of one watch iteration (Wait,
// Check, Ended?) and of the rest are counted from a real execution, as
// AWS counts them; the iterations over MAX_TASK_DURATION follow the
// watch's backstop, with a nudge possible and without.
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
	fixed := len(events) - len(waits)*perIteration
	t.Logf("history: %d events; %d per watch iteration, %d for the rest (last Ended? at %d)", len(events), perIteration, fixed, lastChoice)

	// Retries add events: three per Lambda retry (scheduled, started,
	// failed), at most MaxAttempts per retrier.
	retryEvents := 3 * maxRetries(t)

	cfg := config.Defaults()
	for _, tt := range []struct {
		name  string
		nudge time.Duration
	}{
		{"with a nudge", cfg.TaskBackstop},
		{"without", 0},
	} {
		iterations := 0
		for ran := time.Duration(0); ran < cfg.MaxTaskDuration; iterations++ {
			ran += service.Backstop(ran, tt.nudge)
		}
		total := fixed + iterations*perIteration + retryEvents
		t.Logf("MAX_TASK_DURATION %s %s: %d iterations, at most %d events", cfg.MaxTaskDuration, tt.name, iterations, total)
		if total >= 25000/2 {
			t.Errorf("%s: %d events, over half the history limit", tt.name, total)
		}
	}
}

// maxRetries sums MaxAttempts over every Retry of the task state machine.
func maxRetries(t *testing.T) int {
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
	n := 0
	for _, st := range asl.States {
		for _, r := range st.Retry {
			n += r.MaxAttempts
		}
	}
	return n
}
