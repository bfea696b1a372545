package statemachine

import (
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// afterTheDeadline adds up the work after a command's deadline as
// TestMarginsHoldWhatTheyMust does (one attempt of each step at its
// TimeoutSeconds, every retrier's delays at their longest), with the Wait
// that the check killing the command follows. The last check before the
// deadline answers a wait of the time left plus a second (nextWait); each
// attempt of that Wait waits that long from its own start
// (TimeoutSecondsPath), so every delay of the Wait's retriers (since
// 7731ef1 and 8fe4edc, the 19 attempts a throttle or an outage of
// Daytona's API or the table is waited out with) comes after the
// deadline, before the check that kills the command.
type afterTheDeadline struct {
	wait, killed, collected, cleanedUp, beforeStart time.Duration
	collectDelays                                   time.Duration
}

func addUpAfterTheDeadline(t *testing.T) afterTheDeadline {
	t.Helper()
	states := retriers(t).States
	delays := func(state string, names ...string) (sum time.Duration) {
		for _, r := range states[state].Retry {
			if len(names) == 0 || retries([]retrier{r}, names[0]) {
				sum += time.Duration(r.total()) * time.Second
			}
		}
		return sum
	}
	lastDelay := func(state, name string) time.Duration {
		for _, r := range states[state].Retry {
			if retries([]retrier{r}, name) {
				d := r.delays()
				return time.Duration(d[len(d)-1]) * time.Second
			}
		}
		return 0
	}
	attempt := func(state string) time.Duration { return time.Duration(states[state].TimeoutSeconds) * time.Second }

	var a afterTheDeadline
	// nextWait's wait ends within 2 s of the deadline (the time left, plus
	// a second, rounded up to whole seconds).
	a.wait = delays("Wait") + 2*time.Second
	a.killed = a.wait + attempt("Check") + delays("Check")
	a.collectDelays = delays("Collect")
	a.collected = a.killed + service.MaxCollectRest + a.collectDelays
	a.cleanedUp = a.collected + attempt("CleanUp") + delays("CleanUp")
	a.beforeStart = delays("Prepare") + delays("CreateSandbox", "Sandbox.Transient") + lastDelay("CreateSandbox", "Sandbox.Capacity") +
		attempt("CreateSandbox") + delays("StartCommand")
	return a
}

// TestExecutionMarginHoldsTheWaitBeforeTheKillingCheck: the
// execution's timeout (CAPACITY_WAIT + GITHUB_QUEUE_TIMEOUT +
// MAX_TASK_DURATION + TaskExecutionMargin) holds the retries before the
// command starts, the admitted create, and after the deadline the Wait
// before the killing check, the check, the collect and the clean-up; or,
// at the worst case, the execution times out before its clean-up (the
// task ended by task-ended instead, its collect cut, the alarm raised).
func TestExecutionMarginHoldsTheWaitBeforeTheKillingCheck(t *testing.T) {
	a := addUpAfterTheDeadline(t)
	if need := a.beforeStart + a.cleanedUp; need > sandstep.TaskExecutionMargin {
		t.Errorf("needs up to %s (before the start %s; after the deadline: the Wait before the killing check %s, the check %s, through the collect %s, through the clean-up %s), has %s (TaskExecutionMargin): "+
			"the execution times out before its clean-up",
			need, a.beforeStart, a.wait, a.killed-a.wait, a.collected, a.cleanedUp, sandstep.TaskExecutionMargin)
	}
}
