package api

import (
	"context"
	"encoding/json"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// The task half of fakeService: it records calls like the rest and answers
// canned tasks named after the id asked for.

func (f *fakeService) task(id, owner string) *sandstep.Task {
	if f.nilResult {
		return nil
	}
	if id == "" {
		id = "tsk_started"
	}
	return &sandstep.Task{ID: id, Owner: owner, Status: sandstep.TaskRunning, CreatedAt: testTime}
}

func (f *fakeService) StartTask(ctx context.Context, call service.Call, in service.TaskInput) (*sandstep.Task, error) {
	if err := f.record(ctx, recorded{method: "StartTask", call: call, in: in}); err != nil {
		return nil, err
	}
	t := f.task("", call.UserID)
	if t != nil {
		t.Status = sandstep.TaskQueued
	}
	return t, nil
}

func (f *fakeService) GetTask(ctx context.Context, call service.Call, id string) (*sandstep.Task, error) {
	if err := f.record(ctx, recorded{method: "GetTask", call: call, id: id}); err != nil {
		return nil, err
	}
	return f.task(id, call.UserID), nil
}

func (f *fakeService) ListTasks(ctx context.Context, call service.Call, in service.TaskListInput) (*service.TaskList, error) {
	r := recorded{method: "ListTasks", call: call, cursor: in.Cursor, in: in}
	if in.Limit != nil {
		r.limit = *in.Limit
	}
	if err := f.record(ctx, r); err != nil {
		return nil, err
	}
	if f.nilResult {
		return nil, nil
	}
	return &service.TaskList{Items: []*sandstep.Task{f.task("tsk_one", call.UserID)}}, nil
}

func (f *fakeService) ReadTaskLogs(ctx context.Context, call service.Call, id, cursor string) (*service.TaskLogs, error) {
	if err := f.record(ctx, recorded{method: "ReadTaskLogs", call: call, id: id, cursor: cursor}); err != nil {
		return nil, err
	}
	if f.nilResult {
		return nil, nil
	}
	return &service.TaskLogs{Chunks: []sandstep.LogChunk{{Seq: 1, Stream: "stdout", Data: "hi\n", Time: testTime}}, NextCursor: "1"}, nil
}

func (f *fakeService) TaskArtifacts(ctx context.Context, call service.Call, id string) ([]service.Artifact, error) {
	if err := f.record(ctx, recorded{method: "TaskArtifacts", call: call, id: id}); err != nil {
		return nil, err
	}
	return []service.Artifact{{Path: "out.txt", Bytes: 3, URL: "http://127.0.0.1/out.txt"}}, nil
}

func (f *fakeService) CancelTask(ctx context.Context, call service.Call, id string) (*sandstep.Task, error) {
	if err := f.record(ctx, recorded{method: "CancelTask", call: call, id: id}); err != nil {
		return nil, err
	}
	return f.task(id, call.UserID), nil
}

func (f *fakeService) NudgeTask(ctx context.Context, id, secret string) error {
	return f.record(ctx, recorded{method: "NudgeTask", id: id, in: secret})
}

func (f *fakeService) stepAnswer(ctx context.Context, method string, step service.TaskStep) (*service.TaskStep, error) {
	if err := f.record(ctx, recorded{method: method, id: step.TaskID, in: step}); err != nil {
		return nil, err
	}
	if f.nilResult {
		return nil, nil
	}
	step.SandboxID = "sbx_task"
	return &step, nil
}

func (f *fakeService) PrepareTask(ctx context.Context, taskID string, input json.RawMessage) (*service.TaskStep, error) {
	if err := f.record(ctx, recorded{method: "PrepareTask", id: taskID, in: string(input)}); err != nil {
		return nil, err
	}
	return &service.TaskStep{TaskID: taskID, UserID: "user-1"}, nil
}

func (f *fakeService) CreateTaskSandbox(ctx context.Context, step service.TaskStep) (*service.TaskStep, error) {
	return f.stepAnswer(ctx, "CreateTaskSandbox", step)
}

func (f *fakeService) StartTaskCommand(ctx context.Context, step service.TaskStep) (*service.TaskStep, error) {
	return f.stepAnswer(ctx, "StartTaskCommand", step)
}

func (f *fakeService) WaitTask(ctx context.Context, step service.TaskStep, token string) error {
	return f.record(ctx, recorded{method: "WaitTask", id: step.TaskID, in: token})
}

func (f *fakeService) CheckTask(ctx context.Context, step service.TaskStep) (*service.TaskStep, error) {
	return f.stepAnswer(ctx, "CheckTask", step)
}

func (f *fakeService) CollectTask(ctx context.Context, step service.TaskStep) (*service.TaskStep, error) {
	return f.stepAnswer(ctx, "CollectTask", step)
}

func (f *fakeService) CleanUpTaskStep(ctx context.Context, taskID string, failure *service.TaskFailure) (*sandstep.Task, error) {
	return f.cleanUp(ctx, "CleanUpTaskStep", taskID, failure)
}

func (f *fakeService) CleanUpTask(ctx context.Context, taskID string, failure *service.TaskFailure) (*sandstep.Task, error) {
	return f.cleanUp(ctx, "CleanUpTask", taskID, failure)
}

func (f *fakeService) cleanUp(ctx context.Context, method, taskID string, failure *service.TaskFailure) (*sandstep.Task, error) {
	if err := f.record(ctx, recorded{method: method, id: taskID, in: failure}); err != nil {
		return nil, err
	}
	t := f.task(taskID, "user-1")
	if t != nil && failure != nil {
		t.Status = sandstep.TaskFailed
		t.Error = failure.Error
		if f.outcomes {
			return t, &service.OutcomeError{Task: t}
		}
	}
	if t != nil {
		t.Status = sandstep.TaskSucceeded
	}
	return t, nil
}

func (f *fakeService) Reap(ctx context.Context, opts service.ReapOptions) (*service.ReapReport, error) {
	if err := f.record(ctx, recorded{method: "Reap", in: opts}); err != nil {
		return nil, err
	}
	return &service.ReapReport{DryRun: opts.DryRun}, nil
}

func (f *fakeService) HandleIssue(ctx context.Context, ev service.IssueEvent) (*service.IssueOutcome, error) {
	if err := f.record(ctx, recorded{method: "HandleIssue", in: ev}); err != nil || f.nilResult {
		return nil, err
	}
	return &service.IssueOutcome{Action: "started", TaskID: "tsk_started"}, nil
}
