// Package stepfunctions is the service's door to AWS Step Functions: it
// starts and stops the task state machine's executions and wakes a waiting
// one with its task token, and classifies the service's errors into
// sandstep's codes.
package stepfunctions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sandstep/sandstep/internal/awsjson"
	"github.com/sandstep/sandstep/internal/sandstep"
)

// Service is Step Functions on the JSON protocol (members in lower camel
// case): the four operations sandstep calls need no generated SDK client,
// whose endpoint tables every bootstrap would compile at its start.
var Service = awsjson.Service{EndpointPrefix: "states", TargetPrefix: "AWSStepFunctions", Version: "1.0"}

// Machine is one state machine.
type Machine struct {
	client *awsjson.Client
	arn    string
}

// New returns the state machine arn, called with cfg's region,
// credentials and HTTP client; opts.Endpoint replaces AWS's.
func New(cfg aws.Config, opts awsjson.Options, arn string) (*Machine, error) {
	c, err := awsjson.New(cfg, Service, opts)
	if err != nil {
		return nil, err
	}
	return &Machine{client: c, arn: arn}, nil
}

// Start starts an execution named name (the task id, so that a retried
// request never starts two) with input, and returns its ARN. Starting the
// same name with the same input again returns the same execution.
func (m *Machine) Start(ctx context.Context, name string, input []byte) (string, error) {
	in := struct {
		StateMachineArn string `json:"stateMachineArn"`
		Name            string `json:"name"`
		Input           string `json:"input"`
	}{m.arn, name, string(input)}
	var out struct {
		ExecutionArn string `json:"executionArn"`
	}
	if err := m.client.Call(ctx, "StartExecution", in, &out); err != nil {
		return "", classify("start execution "+name, err)
	}
	return out.ExecutionArn, nil
}

// Stop stops the execution; one that has already ended is no error.
func (m *Machine) Stop(ctx context.Context, executionARN, errName, cause string) error {
	in := struct {
		ExecutionArn string `json:"executionArn"`
		Error        string `json:"error"`
		Cause        string `json:"cause"`
	}{executionARN, errName, cause}
	return classify("stop execution", m.client.Call(ctx, "StopExecution", in, nil))
}

// Wake ends the wait the token belongs to with output. A token whose wait
// has already ended (timed out, succeeded) is ENOTFOUND.
func (m *Machine) Wake(ctx context.Context, token string, output []byte) error {
	in := struct {
		TaskToken string `json:"taskToken"`
		Output    string `json:"output"`
	}{token, string(output)}
	return classify("wake the execution", m.client.Call(ctx, "SendTaskSuccess", in, nil))
}

// Running reports whether the execution is still running, and when one
// that is not stopped (DescribeExecution's stopDate); one that does not
// exist is not running, stopped at no known time.
func (m *Machine) Running(ctx context.Context, executionARN string) (running bool, stopped time.Time, err error) {
	in := struct {
		ExecutionArn string `json:"executionArn"`
	}{executionARN}
	var out struct {
		Status   string   `json:"status"`
		StopDate *float64 `json:"stopDate"`
	}
	err = classify("describe execution", m.client.Call(ctx, "DescribeExecution", in, &out))
	if sandstep.ErrorCode(err) == sandstep.ENOTFOUND {
		return false, time.Time{}, nil
	} else if err != nil {
		return false, time.Time{}, err
	}
	if out.StopDate != nil {
		stopped = time.UnixMilli(int64(*out.StopDate * 1e3)).UTC()
	}
	return out.Status == "RUNNING", stopped, nil
}

// ExecutionARN is the ARN of the execution named name of this machine.
func (m *Machine) ExecutionARN(name string) string {
	return executionARN(m.arn, name)
}

// ThrottledRetryAfter is the wait a caller refused for Step Functions'
// throttling is asked for: its token buckets refill by hundreds a second.
const ThrottledRetryAfter = 2 * time.Second

// classify maps a Step Functions error to a sandstep code.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var ae *awsjson.APIError
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("stepfunctions: %s: %w", op, err)
	case errors.As(err, &ae):
		switch ae.Code {
		case "ExecutionDoesNotExist", "TaskDoesNotExist", "TaskTimedOut", "InvalidToken":
			return sandstep.Wrap(err, sandstep.ENOTFOUND, "stepfunctions: %s: %s", op, ae.Code)
		case "ExecutionAlreadyExists":
			return sandstep.Wrap(err, sandstep.ECONFLICT, "stepfunctions: %s: an execution of that name exists", op)
		case "ExecutionLimitExceeded":
			return busy(err, op)
		}
		if ae.Retryable() {
			// Throttled or failed on its side, after the client's own
			// retries: the buckets refill within a second or two.
			return busy(err, op)
		}
	case errors.As(err, &ne):
		return sandstep.Wrap(err, sandstep.ETRANSIENT, "stepfunctions: %s: unreachable; try again", op)
	}
	return sandstep.Wrap(err, sandstep.EINTERNAL, "stepfunctions: %s failed", op)
}

func busy(err error, op string) error {
	e := sandstep.Wrap(err, sandstep.ETRANSIENT, "stepfunctions: %s: Step Functions is busy; try again", op)
	e.RetryAfter = ThrottledRetryAfter
	return e
}
