// Package sfnlocal is a local stand-in for AWS Step Functions (Standard
// workflows): an http.Handler speaking the AWS JSON 1.0 protocol of the SDKs
// and the CLI for the operations sandstep uses, over state machines given at
// construction. Executions run the real ASL in one long-lived Node process
// (runner/runner.cjs, on the npm package aws-local-stepfunctions) whose Task
// states all call back into this package: it invokes Lambda through the
// Lambda Invoke API given in Options, mints and waits for task tokens
// (.waitForTaskToken, SendTaskSuccess/Failure/Heartbeat), and records the
// execution history with AWS's event types. Executions and their histories
// are kept under a directory and survive a restart, which aborts the ones
// that were running; every execution that ends is handed to a callback as
// EventBridge's "Step Functions Execution Status Change" detail. How the
// history maps to AWS's and where this differs from AWS is told on Server.
package sfnlocal
