package statemachine

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/sandstep/sandstep/internal/sfnlocal"
	"github.com/sandstep/sandstep/internal/testutil"
)

// runTask runs the definition raw to its end against lambda, which is
// given the client of the local Step Functions first (setClient).
func runTask(t *testing.T, raw string, lambda http.Handler, setClient func(*sfn.Client)) *sfn.DescribeExecutionOutput {
	t.Helper()
	testutil.NeedNode(t, sfnlocal.RunnerInstalled())
	fl := httptest.NewServer(lambda)
	t.Cleanup(fl.Close)
	const fn = "arn:aws:lambda:us-east-1:123456789012:function:"
	def := sfnlocal.Substitute(raw, map[string]string{
		"ExecutionTimeoutSeconds": "3600",
		"CreateFunctionArn":       fn + "create:1",
		"ExecuteFunctionArn":      fn + "execute:1",
		"StatusFunctionArn":       fn + "status:1",
		"DeleteFunctionArn":       fn + "delete:1",
	})
	fast := map[string]time.Duration{}
	for _, s := range []string{"Prepare", "CreateSandbox", "StartCommand", "Wait", "Check", "Collect", "CleanUp", "CleanUpAfterFailure"} {
		fast[s] = time.Millisecond
	}
	ended := make(chan struct{}, 1)
	srv, err := sfnlocal.New(sfnlocal.Options{
		Dir:                    t.TempDir(),
		Region:                 "us-east-1",
		AccountID:              "123456789012",
		StateMachines:          map[string]string{"task": def},
		LambdaEndpoint:         fl.URL,
		RetryIntervalOverrides: fast,
		OnStatusChange: func(context.Context, sfnlocal.StatusChange) {
			select {
			case ended <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		_ = srv.Close()
	})
	client := sfn.New(sfn.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(hs.URL),
	})
	setClient(client)
	ctx := context.Background()
	start, err := client.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String("arn:aws:states:us-east-1:123456789012:stateMachine:task"),
		Name:            aws.String("tsk-watched"),
		Input:           aws.String(`{"userId":"alice","command":"make"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	case <-time.After(time.Minute):
		t.Fatal("the execution did not end within a minute")
	}
	out, err := client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: start.ExecutionArn})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
