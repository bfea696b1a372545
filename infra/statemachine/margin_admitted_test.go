package statemachine

import (
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// CAPACITY_WAIT (and GITHUB_QUEUE_TIMEOUT) are checked when a create is
// refused: the last refusal may come just inside the bound, and the
// attempt after its delay that is admitted then makes the sandbox and
// clones the repository, up to CreateSandbox's TimeoutSeconds, all after
// the bound and before the command's deadline starts counting. The
// execution's own timeout (CAPACITY_WAIT + GITHUB_QUEUE_TIMEOUT +
// MAX_TASK_DURATION + TaskExecutionMargin) must hold it too, or at the
// worst case the execution ends before its clean-up: the task ended by the
// ended execution's clean-up instead, its collect cut (the pull request of
// a task that exited 0 not opened), and the "execution reached its own
// timeout" alarm raised.
func TestExecutionMarginHoldsTheAdmittedCreate(t *testing.T) {
	states := retriers(t).States
	sum := func(state string, names ...string) (d time.Duration) {
		for _, r := range states[state].Retry {
			for _, n := range names {
				for _, e := range r.ErrorEquals {
					if e == n {
						d += time.Duration(r.total()) * time.Second
					}
				}
			}
		}
		return d
	}
	all := func(state string) (d time.Duration) {
		for _, r := range states[state].Retry {
			d += time.Duration(r.total()) * time.Second
		}
		return d
	}
	last := func(state, name string) time.Duration {
		for _, r := range states[state].Retry {
			for _, e := range r.ErrorEquals {
				if e == name {
					d := r.delays()
					return time.Duration(d[len(d)-1]) * time.Second
				}
			}
		}
		return 0
	}
	attempt := func(state string) time.Duration { return time.Duration(states[state].TimeoutSeconds) * time.Second }

	retriesBefore := all("Prepare") + sum("CreateSandbox", "Sandbox.Transient") + last("CreateSandbox", "Sandbox.Capacity") + all("StartCommand")
	afterDeadline := attempt("Check") + all("Check") + service.MaxCollectRest + all("Collect") + attempt("CleanUp") + all("CleanUp")
	cases := []struct {
		name string
		need time.Duration
	}{
		{"the retries alone (what the margin test counts)", retriesBefore + afterDeadline},
		{"and the admitted create's own attempt (make the sandbox, clone)", retriesBefore + attempt("CreateSandbox") + afterDeadline},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.need > sandstep.TaskExecutionMargin {
				t.Errorf("the work outside the admission bounds and the command takes up to %s; the execution keeps %s for it (TaskExecutionMargin)",
					tc.need, sandstep.TaskExecutionMargin)
			}
		})
	}
}
