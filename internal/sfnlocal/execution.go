package sfnlocal

import (
	"cmp"
	"encoding/json"
	"os"
	"slices"
	"time"
)

// Execution statuses.
const (
	StatusRunning   = "RUNNING"
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusTimedOut  = "TIMED_OUT"
	StatusAborted   = "ABORTED"
)

// nameReuse is how long a closed execution's name stays taken.
const nameReuse = 90 * 24 * time.Hour

// abortedAtStart is the cause of the executions a restart aborts.
const abortedAtStart = "the local Step Functions server stopped while the execution was running"

// execution is one execution; the server's mu guards it.
type execution struct {
	rec    record
	runner *runner  // the runner running it
	hist   *os.File // open while running
	// lastID and lastType are the last history event's.
	lastID   int64
	lastType string
	calls    map[int64]*taskCall // Task calls not yet answered
	// caught is the <Type>StateExited that a Catch owes, written when the
	// next state is entered (its input is the Catch's output).
	caught, caughtState string
	// parallelStarted: ParallelStateStarted written for this entry.
	parallelStarted map[string]bool
	// entered is the input each state last entered with.
	entered map[string]json.RawMessage
}

func newExecution(rec record) *execution {
	return &execution{rec: rec, calls: map[int64]*taskCall{}, parallelStarted: map[string]bool{}, entered: map[string]json.RawMessage{}}
}

func (e *execution) closeHistory() {
	if e.hist != nil {
		_ = e.hist.Close()
		e.hist = nil
	}
}

// finish ends a running execution: its last event, its record, its task
// calls and tokens, and its status change. The caller holds s.mu.
func (s *Server) finish(e *execution, status string, output, errName, cause *string) {
	if e.rec.Status != StatusRunning {
		return
	}
	e.caught = ""
	typ, d := terminalEvent(status, output, errName, cause)
	s.appendEvent(e, typ, d)
	stop := s.now()
	e.rec.Status, e.rec.StopDate = status, &stop
	if status == StatusSucceeded {
		e.rec.Output = output
	}
	e.rec.Error, e.rec.Cause = errName, cause
	for _, c := range e.calls {
		s.retire(c, false)
	}
	e.closeHistory()
	if err := s.store.save(&e.rec); err != nil {
		s.log.Error("sfnlocal: saving an execution", "execution", e.rec.ExecutionArn, "err", err)
	}
	s.log.Info("sfnlocal: execution ended", "execution", e.rec.ExecutionArn, "status", status)
	s.notifier.push(statusChangeOf(&e.rec))
}

// recover loads the executions of Dir: those left RUNNING are ABORTED, and
// every status change not yet delivered is queued.
func (s *Server) recover() error {
	recs, err := s.store.loadAll()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var pending []*execution
	for _, rec := range recs {
		e := newExecution(*rec)
		events, err := s.store.readHistory(&e.rec)
		if err != nil {
			return err
		}
		if n := len(events); n > 0 {
			e.lastID, e.lastType = events[n-1].ID, events[n-1].Type
		}
		s.execs[e.rec.ExecutionArn] = e
		if e.rec.Status == StatusRunning && len(events) > 0 && s.endedInHistory(e, events[len(events)-1]) {
			pending = append(pending, e)
			continue
		}
		if e.rec.Status == StatusRunning {
			if e.hist, err = s.store.openHistory(&e.rec); err != nil {
				return err
			}
			s.abort(e, nil, ptr(abortedAtStart))
			continue // finish queued its status change
		}
		if !e.rec.Notified {
			pending = append(pending, e)
		}
	}
	slices.SortFunc(pending, func(a, b *execution) int {
		return cmp.Compare(stopOf(a).UnixNano(), stopOf(b).UnixNano())
	})
	for _, e := range pending {
		s.notifier.push(statusChangeOf(&e.rec))
	}
	return nil
}

// endedInHistory completes the record of an execution whose end reached
// its history but not its record (finish appends the event, then saves
// the record: a crash can fall between), as that event says, so that it
// is not aborted after it ended. The caller holds s.mu.
func (s *Server) endedInHistory(e *execution, last event) bool {
	status := map[string]string{
		"ExecutionSucceeded": StatusSucceeded, "ExecutionFailed": StatusFailed,
		"ExecutionTimedOut": StatusTimedOut, "ExecutionAborted": StatusAborted,
	}[last.Type]
	if status == "" {
		return false
	}
	d := last.Details
	if d == nil {
		d = &eventDetails{}
	}
	stop := last.Time
	e.rec.Status, e.rec.StopDate, e.rec.Error, e.rec.Cause = status, &stop, d.Error, d.Cause
	if status == StatusSucceeded {
		e.rec.Output = d.Output
	}
	if err := s.store.save(&e.rec); err != nil {
		s.log.Error("sfnlocal: saving an execution", "execution", e.rec.ExecutionArn, "err", err)
	}
	return true
}

func stopOf(e *execution) time.Time {
	if e.rec.StopDate == nil {
		return e.rec.StartDate
	}
	return *e.rec.StopDate
}

// abort ends a running execution as ABORTED and tells its runner. The
// caller holds s.mu.
func (s *Server) abort(e *execution, errName, cause *string) {
	s.finish(e, StatusAborted, nil, errName, cause)
	if e.runner != nil {
		e.runner.send(map[string]any{"t": "stop", "exec": e.rec.ExecutionArn})
	}
}
