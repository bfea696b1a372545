package sfnlocal

import (
	"encoding/json"
	"strings"
	"time"
)

// event is one history event as it is kept (one line of the history file).
type event struct {
	ID      int64         `json:"id"`
	Prev    int64         `json:"prev"`
	Time    time.Time     `json:"ts"`
	Type    string        `json:"type"`
	Details *eventDetails `json:"d,omitempty"`
}

// eventDetails holds the members of every <type>EventDetails this package
// writes; each event fills only those of its own type.
type eventDetails struct {
	Name               string       `json:"name,omitempty"`
	Index              *int         `json:"index,omitempty"`
	Length             *int         `json:"length,omitempty"`
	Resource           string       `json:"resource,omitempty"`
	ResourceType       string       `json:"resourceType,omitempty"`
	Region             string       `json:"region,omitempty"`
	Parameters         *string      `json:"parameters,omitempty"`
	TimeoutInSeconds   *int64       `json:"timeoutInSeconds,omitempty"`
	HeartbeatInSeconds *int64       `json:"heartbeatInSeconds,omitempty"`
	RoleArn            string       `json:"roleArn,omitempty"`
	Input              *string      `json:"input,omitempty"`
	InputDetails       *dataDetails `json:"inputDetails,omitempty"`
	Output             *string      `json:"output,omitempty"`
	OutputDetails      *dataDetails `json:"outputDetails,omitempty"`
	Error              *string      `json:"error,omitempty"`
	Cause              *string      `json:"cause,omitempty"`
}

type dataDetails struct {
	Truncated bool `json:"truncated"`
}

// withInput and withOutput set a payload member with its details.
func (d *eventDetails) withInput(s string) *eventDetails {
	d.Input, d.InputDetails = &s, &dataDetails{}
	return d
}

func (d *eventDetails) withOutput(s string) *eventDetails {
	d.Output, d.OutputDetails = &s, &dataDetails{}
	return d
}

// withoutData is d without the execution's data (GetExecutionHistory's
// includeExecutionData false).
func (d *eventDetails) withoutData() *eventDetails {
	if d == nil {
		return nil
	}
	c := *d
	c.Input, c.InputDetails, c.Output, c.OutputDetails, c.Parameters = nil, nil, nil, nil, nil
	return &c
}

// detailsMember names the member an event type's details go in.
func detailsMember(typ string) string {
	switch {
	case strings.HasSuffix(typ, "StateEntered"):
		return "stateEnteredEventDetails"
	case strings.HasSuffix(typ, "StateExited"):
		return "stateExitedEventDetails"
	}
	switch typ {
	case "LambdaFunctionStarted", "ParallelStateStarted", "ParallelStateSucceeded", "ParallelStateFailed",
		"ParallelStateAborted", "MapStateSucceeded", "MapStateFailed", "MapStateAborted":
		return ""
	}
	return strings.ToLower(typ[:1]) + typ[1:] + "EventDetails"
}

// wire is the event as GetExecutionHistory returns it.
func (ev event) wire(includeData bool) map[string]any {
	m := map[string]any{
		"id":              ev.ID,
		"previousEventId": ev.Prev,
		"timestamp":       epochOf(ev.Time),
		"type":            ev.Type,
	}
	d := ev.Details
	if !includeData {
		d = d.withoutData()
	}
	if member := detailsMember(ev.Type); member != "" && d != nil {
		m[member] = d
	}
	return m
}

// appendEvent adds an event to e's history. The caller holds s.mu.
func (s *Server) appendEvent(e *execution, typ string, d *eventDetails) {
	prev := e.lastID
	if e.lastType == "ExecutionStarted" {
		prev = 0 // AWS: the first state entered follows nothing
	}
	ev := event{ID: e.lastID + 1, Prev: prev, Time: s.now(), Type: typ, Details: d}
	e.lastID, e.lastType = ev.ID, typ
	if e.hist == nil {
		s.log.Error("sfnlocal: an event after the history was closed", "execution", e.rec.ExecutionArn, "type", typ)
		return
	}
	b, err := json.Marshal(ev)
	if err == nil {
		_, err = e.hist.Write(append(b, '\n'))
	}
	if err != nil {
		s.log.Error("sfnlocal: writing history", "execution", e.rec.ExecutionArn, "err", err)
	}
}

// onEvent maps one event of the runner's log to history events (see
// Server) and ends the execution on the runner's last event. The caller
// holds s.mu.
func (s *Server) onEvent(e *execution, ev *runnerEvent) {
	if ev.Type != "StateEntered" && e.caught != "" {
		e.caught = "" // nothing entered after the Catch: the execution ended
	}
	switch ev.Type {
	case "StateEntered":
		e.entered[ev.State] = ev.Input
		if e.caught != "" {
			// The Catch's output is the next state's input.
			s.appendEvent(e, e.caught, (&eventDetails{Name: e.caughtState}).withOutput(jsonText(ev.Input)))
			e.caught = ""
		}
		s.appendEvent(e, ev.StateType+"StateEntered", (&eventDetails{Name: ev.State}).withInput(jsonText(ev.Input)))
		if ev.StateType == "Parallel" {
			delete(e.parallelStarted, ev.State)
		}
	case "StateExited":
		switch ev.StateType {
		case "Parallel":
			s.appendEvent(e, "ParallelStateSucceeded", nil)
		case "Map":
			s.appendEvent(e, "MapStateSucceeded", nil)
		}
		s.appendEvent(e, ev.StateType+"StateExited", (&eventDetails{Name: ev.State}).withOutput(jsonText(ev.Output)))
	case "StateFailed":
		switch ev.StateType {
		case "Task":
			if ev.Error != nil && *ev.Error == "States.Timeout" {
				s.taskTimedOut(e, ev.State)
			}
		case "Parallel":
			s.appendEvent(e, "ParallelStateFailed", nil)
		case "Map":
			s.appendEvent(e, "MapStateFailed", nil)
		}
	case "StateCaught":
		e.caught, e.caughtState = ev.StateType+"StateExited", ev.State
	case "ParallelBranchStarted":
		if !e.parallelStarted[ev.State] {
			e.parallelStarted[ev.State] = true
			s.appendEvent(e, "ParallelStateStarted", nil)
		}
	case "MapIterationStarted", "MapIterationSucceeded", "MapIterationFailed":
		s.appendEvent(e, ev.Type, &eventDetails{Name: ev.State, Index: ev.Index})
	case "ExecutionSucceeded":
		s.finish(e, StatusSucceeded, ptr(jsonText(ev.Output)), nil, nil)
	case "ExecutionFailed":
		s.finish(e, StatusFailed, nil, ev.Error, ev.Cause)
	case "ExecutionTimeout":
		s.finish(e, StatusTimedOut, nil, ptr("States.Timeout"), nil)
	}
}

// terminalEvent is the history event that ends an execution in status.
func terminalEvent(status string, output *string, errName, cause *string) (string, *eventDetails) {
	switch status {
	case StatusSucceeded:
		return "ExecutionSucceeded", (&eventDetails{}).withOutput(deref(output, "null"))
	case StatusFailed:
		return "ExecutionFailed", &eventDetails{Error: errName, Cause: cause}
	case StatusTimedOut:
		return "ExecutionTimedOut", &eventDetails{Error: errName, Cause: cause}
	}
	return "ExecutionAborted", &eventDetails{Error: errName, Cause: cause}
}

// jsonText is a JSON value as text; a missing one is null.
func jsonText(b json.RawMessage) string {
	if len(b) == 0 {
		return "null"
	}
	return string(b)
}

func ptr[T any](v T) *T { return &v }

func deref(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}
