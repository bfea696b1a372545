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
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// Machine is one state machine.
type Machine struct {
	client func() *sfn.Client
	arn    string
}

// New returns the state machine arn on client.
func New(client *sfn.Client, arn string) *Machine {
	return Lazy(func() *sfn.Client { return client }, arn)
}

// Lazy returns the state machine arn on the client build returns, called
// on the first call that needs it: building a Step Functions client is a
// cold start's cost, which a function whose first answers never call the
// service need not pay.
func Lazy(build func() *sfn.Client, arn string) *Machine {
	return &Machine{client: sync.OnceValue(build), arn: arn}
}

// Start starts an execution named name (the task id, so that a retried
// request never starts two) with input, and returns its ARN. Starting the
// same name with the same input again returns the same execution.
func (m *Machine) Start(ctx context.Context, name string, input []byte) (string, error) {
	out, err := m.client().StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(m.arn), Name: aws.String(name), Input: aws.String(string(input)),
	})
	if err != nil {
		return "", classify("start execution "+name, err)
	}
	return aws.ToString(out.ExecutionArn), nil
}

// Stop stops the execution; one that has already ended is no error.
func (m *Machine) Stop(ctx context.Context, executionARN, errName, cause string) error {
	_, err := m.client().StopExecution(ctx, &sfn.StopExecutionInput{
		ExecutionArn: aws.String(executionARN), Error: aws.String(errName), Cause: aws.String(cause),
	})
	return classify("stop execution", err)
}

// Wake ends the wait the token belongs to with output. A token whose wait
// has already ended (timed out, succeeded) is ENOTFOUND.
func (m *Machine) Wake(ctx context.Context, token string, output []byte) error {
	_, err := m.client().SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(string(output))})
	return classify("wake the execution", err)
}

// Running reports whether the execution is still running; one that does
// not exist is not.
func (m *Machine) Running(ctx context.Context, executionARN string) (bool, error) {
	out, err := m.client().DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(executionARN)})
	if err = classify("describe execution", err); sandstep.ErrorCode(err) == sandstep.ENOTFOUND {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return out.Status == types.ExecutionStatusRunning, nil
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
	var ae smithy.APIError
	var re *awshttp.ResponseError
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("stepfunctions: %s: %w", op, err)
	case errors.As(err, &ae):
		switch ae.ErrorCode() {
		case "ExecutionDoesNotExist", "TaskDoesNotExist", "TaskTimedOut", "InvalidToken":
			return sandstep.Wrap(err, sandstep.ENOTFOUND, "stepfunctions: %s: %s", op, ae.ErrorCode())
		case "ExecutionAlreadyExists":
			return sandstep.Wrap(err, sandstep.ECONFLICT, "stepfunctions: %s: an execution of that name exists", op)
		case "ExecutionLimitExceeded", "ThrottlingException", "TooManyRequestsException", "ServiceUnavailable", "InternalServerError":
			// The SDK has retried already; the bucket refills within a
			// second or two.
			busy := sandstep.Wrap(err, sandstep.ETRANSIENT, "stepfunctions: %s: Step Functions is busy; try again", op)
			busy.RetryAfter = ThrottledRetryAfter
			return busy
		}
		if ae.ErrorFault() == smithy.FaultServer {
			return sandstep.Wrap(err, sandstep.ETRANSIENT, "stepfunctions: %s: Step Functions failed; try again", op)
		}
	case errors.As(err, &re) && (re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == 0):
		return sandstep.Wrap(err, sandstep.ETRANSIENT, "stepfunctions: %s: unavailable; try again", op)
	case errors.As(err, &ne):
		return sandstep.Wrap(err, sandstep.ETRANSIENT, "stepfunctions: %s: unreachable; try again", op)
	}
	return sandstep.Wrap(err, sandstep.EINTERNAL, "stepfunctions: %s failed", op)
}
