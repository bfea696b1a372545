package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/sandstep/sandstep/internal/cost"
	"github.com/sandstep/sandstep/internal/logging"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/strictjson"
)

// Tasks is what the edge calls for long tasks; *service.Service implements
// it.
type Tasks interface {
	StartTask(ctx context.Context, call service.Call, in service.TaskInput) (*sandstep.Task, error)
	GetTask(ctx context.Context, call service.Call, id string) (*sandstep.Task, error)
	ListTasks(ctx context.Context, call service.Call, in service.TaskListInput) (*service.TaskList, error)
	ReadTaskLogs(ctx context.Context, call service.Call, id, cursor string) (*service.TaskLogs, error)
	TaskArtifacts(ctx context.Context, call service.Call, id string) ([]service.Artifact, error)
	CancelTask(ctx context.Context, call service.Call, id string) (*sandstep.Task, error)
	NudgeTask(ctx context.Context, id, secret string) error

	PrepareTask(ctx context.Context, taskID string, input json.RawMessage) (*service.TaskStep, error)
	CreateTaskSandbox(ctx context.Context, step service.TaskStep) (*service.TaskStep, error)
	StartTaskCommand(ctx context.Context, step service.TaskStep) (*service.TaskStep, error)
	WaitTask(ctx context.Context, step service.TaskStep, token string) error
	CheckTask(ctx context.Context, step service.TaskStep) (*service.TaskStep, error)
	CollectTask(ctx context.Context, step service.TaskStep) (*service.TaskStep, error)
	// CleanUpTaskStep is the last step's; CleanUpTask an ended execution's
	// event's, which never waits for GitHub.
	CleanUpTaskStep(ctx context.Context, taskID string, failure *service.TaskFailure) (*sandstep.Task, error)
	CleanUpTask(ctx context.Context, taskID string, failure *service.TaskFailure) (*sandstep.Task, error)
}

// The state machine's steps, as direct actions.
const (
	ActionTaskPrepare = "task-prepare" // create
	ActionTaskSandbox = "task-sandbox" // create
	ActionTaskStart   = "task-start"   // execute
	ActionTaskCollect = "task-collect" // execute
	ActionTaskWait    = "task-wait"    // status
	ActionTaskCheck   = "task-check"   // status
	ActionTaskCleanUp = "task-cleanup" // delete
	ActionTaskEnded   = "task-ended"   // delete: the execution status change
)

func (a *API) serveStartTask(r *request) (response, error) {
	var in service.TaskInput
	if err := decodeStrict(r.body, &in); err != nil {
		return response{}, err
	}
	t, err := a.svc.StartTask(r.ctx, r.call, in)
	if err != nil {
		return response{}, err
	}
	if t == nil {
		return response{}, errNoResult
	}
	return response{status: http.StatusAccepted, body: t, headers: map[string]string{"Location": location(r.call.APIURL, "tasks", t.ID)}}, nil
}

func (a *API) serveListTasks(r *request) (response, error) {
	in := service.TaskListInput{ListInput: service.ListInput{Cursor: r.query["cursor"]}, Status: r.query["status"]}
	if s, ok := r.query["limit"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil {
			return response{}, sandstep.Invalid("limit", "must be an integer from 1 to %d", service.MaxListLimit)
		}
		in.Limit = &n
	}
	list, err := a.svc.ListTasks(r.ctx, r.call, in)
	return ok200(list, err)
}

func (a *API) serveGetTask(r *request) (response, error) {
	t, err := a.svc.GetTask(r.ctx, r.call, r.id)
	return ok200(t, err)
}

func (a *API) serveTaskLogs(r *request) (response, error) {
	logs, err := a.svc.ReadTaskLogs(r.ctx, r.call, r.id, r.query["cursor"])
	return ok200(logs, err)
}

func (a *API) serveTaskArtifacts(r *request) (response, error) {
	arts, err := a.svc.TaskArtifacts(r.ctx, r.call, r.id)
	if err != nil {
		return response{}, err
	}
	if arts == nil {
		arts = []service.Artifact{}
	}
	return response{status: http.StatusOK, body: map[string]any{"items": arts}}, nil
}

func (a *API) serveCancelTask(r *request) (response, error) {
	t, err := a.svc.CancelTask(r.ctx, r.call, r.id)
	return ok200(t, err)
}

// serveNudgeTask takes a task's "look now" from its command. Its only
// credential is the task's nudge secret, as a bearer token.
func (a *API) serveNudgeTask(r *request) (response, error) {
	auth, _ := header(r.headers, "Authorization")
	secret, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || secret == "" {
		return response{}, sandstep.Errorf(sandstep.EUNAUTHENTICATED, "the task's nudge secret is required")
	}
	if err := a.svc.NudgeTask(r.ctx, r.id, secret); err != nil {
		return response{}, err
	}
	return response{status: http.StatusAccepted, body: map[string]bool{"accepted": true}}, nil
}

// Step is what every state machine step's input carries besides its data.
type Step struct {
	Action string `json:"action"`
}

func (s Step) step() {}

// StepInput is a step over a task the state machine carries.
type StepInput struct {
	Step
	service.TaskStep
}

// PrepareInput is the first step's input: the execution's name and input.
type PrepareInput struct {
	Step
	TaskID string          `json:"taskId"`
	Input  json.RawMessage `json:"input"`
}

// WaitInput is the wait step's input, with the wait's task token.
type WaitInput struct {
	StepInput
	Token string `json:"token"`
}

// CleanUpInput is the last step's input; Failure is what was caught.
type CleanUpInput struct {
	Step
	TaskID  string               `json:"taskId"`
	Failure *service.TaskFailure `json:"failure,omitempty"`
}

// CleanUpOutput is a clean-up's answer, and so the execution's output:
// the task's id and outcome, never its record, whose command alone may
// pass what a state may carry (256 KiB, with JSON's six bytes for each
// control character), an error (States.DataLimitExceeded) no Catch takes.
type CleanUpOutput struct {
	TaskID string              `json:"taskId"`
	Status sandstep.TaskStatus `json:"status"`
}

func cleanedUp(t *sandstep.Task) *CleanUpOutput {
	if t == nil {
		return nil
	}
	return &CleanUpOutput{TaskID: t.ID, Status: t.Status}
}

// EndedInput is the status-change rule's input: the "detail" of
// EventBridge's "Step Functions Execution Status Change" event, which the
// rule's input transformer passes with the action (the local stack sends
// the same). Detail is read leniently: EventBridge adds members over time,
// and a clean-up must never be refused for one.
type EndedInput struct {
	Step
	Detail strictjson.Lenient `json:"detail"`
}

// endedDetail is what the clean-up needs of a status change.
type endedDetail struct {
	Name   string  `json:"name"`
	Status string  `json:"status"`
	Error  *string `json:"error"`
	Cause  *string `json:"cause"`
}

func (e EndedInput) detail() endedDetail {
	var d endedDetail
	_ = json.Unmarshal(e.Detail, &d)
	return d
}

// stepInput is what every step's input type has.
type stepInput interface{ step() }

// step makes a direct action of a state machine step: the payload is
// decoded strictly into In and fn runs with the task in the log context.
// Steps act for the task's owner, whom the task's record names; their
// callers are the state machine and the status-change rule.
func step[In stepInput, Out any](function, name string, fn func(context.Context, In) (Out, error)) action {
	return action{function: function, name: name, serve: func(ctx context.Context, payload []byte) (context.Context, any, error) {
		var in In
		if err := decodeStrict(payload, &in); err != nil {
			return ctx, nil, err
		}
		if t, ok := any(in).(interface{ taskID() string }); ok {
			// And its owner and sandbox, once the service has read them
			// from the task's record. Not the reaper's: its run is about
			// many.
			ctx = logging.WithLearned(logging.WithTaskID(ctx, t.taskID()))
		}
		if u, ok := any(in).(interface{ ownerID() string }); ok {
			// Checked against the task's owner by the service, which
			// answers not_found for a mismatch: one left out is named.
			if err := sandstep.ValidateUserID("userId", u.ownerID()); err != nil {
				return ctx, nil, err
			}
			ctx = logging.WithUserID(ctx, u.ownerID())
		}
		out, err := fn(ctx, in)
		if err != nil {
			return ctx, nil, idNamed(err, stepIDName(in))
		}
		if isNil(out) {
			return ctx, map[string]any{}, nil
		}
		return ctx, out, nil
	}}
}

// stepIDName is what a step's input calls the task id the service
// refuses as "id": taskId, the ended rule's detail.name; "" for none.
func stepIDName(in any) string {
	switch in.(type) {
	case EndedInput:
		return "detail.name"
	case interface{ taskID() string }:
		return "taskId"
	}
	return ""
}

// ownerID is the user a step acts for, the task's owner.
func (s StepInput) ownerID() string { return s.UserID }

func (s StepInput) taskID() string    { return s.TaskID }
func (p PrepareInput) taskID() string { return p.TaskID }
func (c CleanUpInput) taskID() string { return c.TaskID }
func (e EndedInput) taskID() string   { return e.detail().Name }

// metered gives each invocation of a task's step a meter of what it uses
// (internal/cost), standing for states of the state machine: each step's
// one Task state; task-check none, since a Check that finds nothing new
// writes nothing that could carry it (the service counts each Check and
// its Choice with the Wait after them, or, ending the watch, itself);
// task-ended (the status-change rule, no state) none. A state retried is
// an invocation again and a transition again.
func (a *API) metered(states int, act action) action {
	serve := act.serve
	act.serve = func(ctx context.Context, payload []byte) (context.Context, any, error) {
		m := cost.NewMeter(nil, a.memoryMB, states)
		ctx, out, err := serve(cost.WithMeter(ctx, m), payload)
		// What the invocation used after its last write of the task is not
		// on the record (README, "Task cost"): said, to measure how much.
		if p := m.Pending(); p != (sandstep.TaskUsage{}) {
			a.logger.DebugContext(ctx, "task usage not recorded", "invocations", p.LambdaInvocations, "transitions", p.StateTransitions,
				"dynamodbReads", p.DynamoDBReadRequests, "dynamodbWrites", p.DynamoDBWriteRequests,
				"dynamodbWriteUnits", p.DynamoDBWriteUnits, "s3Gets", p.S3GetRequests, "s3Puts", p.S3PutRequests)
		}
		return ctx, out, err
	}
	return act
}

// taskActions are the state machine's steps.
func (a *API) taskActions() []action {
	t := a.svc
	return []action{
		a.metered(1, step(FunctionCreate, ActionTaskPrepare, func(ctx context.Context, in PrepareInput) (*service.TaskStep, error) {
			return t.PrepareTask(ctx, in.TaskID, in.Input)
		})),
		a.metered(1, step(FunctionCreate, ActionTaskSandbox, func(ctx context.Context, in StepInput) (*service.TaskStep, error) {
			return t.CreateTaskSandbox(ctx, in.TaskStep)
		})),
		a.metered(1, step(FunctionExecute, ActionTaskStart, func(ctx context.Context, in StepInput) (*service.TaskStep, error) {
			return t.StartTaskCommand(ctx, in.TaskStep)
		})),
		a.metered(1, step(FunctionExecute, ActionTaskCollect, func(ctx context.Context, in StepInput) (*service.TaskStep, error) {
			return t.CollectTask(ctx, in.TaskStep)
		})),
		a.metered(1, step(FunctionStatus, ActionTaskWait, func(ctx context.Context, in WaitInput) (*struct{}, error) {
			return nil, t.WaitTask(ctx, in.TaskStep, in.Token)
		})),
		a.metered(0, step(FunctionStatus, ActionTaskCheck, func(ctx context.Context, in StepInput) (*service.TaskStep, error) {
			return t.CheckTask(ctx, in.TaskStep)
		})),
		a.metered(1, step(FunctionDelete, ActionTaskCleanUp, func(ctx context.Context, in CleanUpInput) (*CleanUpOutput, error) {
			task, err := t.CleanUpTaskStep(ctx, in.TaskID, in.Failure)
			if oe, ok := err.(*service.OutcomeError); ok {
				// The task did not succeed: the execution fails with its
				// outcome as error name and cause.
				return nil, outcome{oe}
			}
			return cleanedUp(task), err
		})),
		a.metered(0, step(FunctionDelete, ActionTaskEnded, func(ctx context.Context, in EndedInput) (*CleanUpOutput, error) {
			// The execution has ended, maybe without its own clean-up (stopped,
			// timed out): clean up, and report nothing back to anyone.
			d := in.detail()
			if d.Name == "" || d.Status == "" {
				return nil, sandstep.Invalid("detail", "must be a Step Functions execution status change, with name and status")
			}
			var failure *service.TaskFailure
			if d.Status != "SUCCEEDED" {
				failure = &service.TaskFailure{Error: "Execution." + d.Status, Cause: "the execution ended " + strings.ToLower(d.Status)}
				if d.Error != nil {
					failure.Error = *d.Error
				}
				if d.Cause != nil {
					failure.Cause = *d.Cause
				}
			}
			task, err := t.CleanUpTask(ctx, d.Name, failure)
			if _, ok := err.(*service.OutcomeError); ok {
				return cleanedUp(task), nil
			}
			return cleanedUp(task), err
		})),
	}
}

// outcome is a task's outcome as the execution's error: its name is the
// Step Functions error name, its message the cause.
type outcome struct{ e *service.OutcomeError }

func (o outcome) Error() string { return o.e.Error() }
