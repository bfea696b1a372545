package sfnlocal

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
)

// StatusChange is the detail of EventBridge's "Step Functions Execution
// Status Change" event, member for member: dates are milliseconds since the
// epoch, and what an execution does not have is null.
type StatusChange struct {
	ExecutionArn    string       `json:"executionArn"`
	StateMachineArn string       `json:"stateMachineArn"`
	Name            string       `json:"name"`
	Status          string       `json:"status"`
	StartDate       int64        `json:"startDate"`
	StopDate        *int64       `json:"stopDate"`
	Input           string       `json:"input"`
	InputDetails    *DataDetails `json:"inputDetails"`
	Output          *string      `json:"output"`
	OutputDetails   *DataDetails `json:"outputDetails"`
	Error           *string      `json:"error"`
	Cause           *string      `json:"cause"`
}

// DataDetails says whether a payload is included in the event.
type DataDetails struct {
	Included bool `json:"included"`
}

// EventBridgeEvent is the whole event an EventBridge rule on
// source aws.states hands its target (e.g. a Lambda function).
type EventBridgeEvent struct {
	Version    string       `json:"version"`
	ID         string       `json:"id"`
	DetailType string       `json:"detail-type"`
	Source     string       `json:"source"`
	Account    string       `json:"account"`
	Time       string       `json:"time"`
	Region     string       `json:"region"`
	Resources  []string     `json:"resources"`
	Detail     StatusChange `json:"detail"`
}

// Envelope wraps a status change as EventBridge delivers it.
func Envelope(c StatusChange, region, account string) EventBridgeEvent {
	at := time.UnixMilli(c.StartDate)
	if c.StopDate != nil {
		at = time.UnixMilli(*c.StopDate)
	}
	return EventBridgeEvent{
		Version:    "0",
		ID:         uuid.NewString(),
		DetailType: "Step Functions Execution Status Change",
		Source:     "aws.states",
		Account:    account,
		Time:       at.UTC().Format("2006-01-02T15:04:05Z"),
		Region:     region,
		Resources:  []string{c.ExecutionArn},
		Detail:     c,
	}
}

func statusChangeOf(r *record) StatusChange {
	c := StatusChange{
		ExecutionArn:    r.ExecutionArn,
		StateMachineArn: r.StateMachineArn,
		Name:            r.Name,
		Status:          r.Status,
		StartDate:       r.StartDate.UnixMilli(),
		Input:           r.Input,
		InputDetails:    &DataDetails{Included: true},
		Output:          r.Output,
		Error:           r.Error,
		Cause:           r.Cause,
	}
	if r.StopDate != nil {
		c.StopDate = ptr(r.StopDate.UnixMilli())
	}
	if r.Output != nil {
		c.OutputDetails = &DataDetails{Included: true}
	}
	return c
}

// notifier calls OnStatusChange from one goroutine, in order, and marks
// each execution delivered once the call returned before the server closed.
type notifier struct {
	ctx  context.Context
	fn   func(context.Context, StatusChange)
	mark func(arn string)

	mu    sync.Mutex
	queue []StatusChange
	wake  chan struct{}
	done  chan struct{}
}

func newNotifier(ctx context.Context, fn func(context.Context, StatusChange), mark func(string)) *notifier {
	n := &notifier{ctx: ctx, fn: fn, mark: mark, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go n.loop()
	return n
}

func (n *notifier) push(c StatusChange) {
	n.mu.Lock()
	n.queue = append(n.queue, c)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) loop() {
	defer close(n.done)
	for {
		n.mu.Lock()
		var next *StatusChange
		if len(n.queue) > 0 {
			next = &n.queue[0]
			n.queue = n.queue[1:]
		}
		n.mu.Unlock()
		if next == nil {
			select {
			case <-n.wake:
				continue
			case <-n.ctx.Done():
				return
			}
		}
		if n.ctx.Err() != nil {
			return
		}
		if n.fn != nil {
			n.fn(n.ctx, *next)
		}
		if n.ctx.Err() == nil {
			n.mark(next.ExecutionArn)
		}
	}
}

// wait returns once the loop has ended (the server's context is done).
func (n *notifier) wait() { <-n.done }

// markNotified records that an execution's status change was delivered.
func (s *Server) markNotified(arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.execs[arn]
	if e == nil || e.rec.Notified || e.rec.Status == StatusRunning {
		return
	}
	e.rec.Notified = true
	if err := s.store.save(&e.rec); err != nil {
		s.log.Error("sfnlocal: saving an execution", "execution", arn, "err", err)
	}
}
