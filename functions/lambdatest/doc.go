// Package lambdatest proves, without SAM, Docker or AWS, what
// `sam local invoke` does with sandstep's four Lambda functions. It holds
// tests only.
//
// The tests build every function's bootstrap exactly as `make build` and
// SAM's go1.x builder do (GOOS=linux, CGO_ENABLED=0, -trimpath,
// -ldflags='-s -w', -tags lambda.norpc), check from the binaries themselves
// (ELF sections and the embedded build information) that they are stripped,
// static and built with those flags, and keep the deployed arm64 build
// within its size budget (TestBootstrapSizes).
//
// TestSAMLocalInvoke then runs the host-architecture bootstraps under the
// AWS Lambda Runtime Interface Emulator (the module's `aws-lambda-rie` tool,
// the runtime `sam local invoke` uses), with the environment template.yaml
// gives each function and only the endpoints changed: an embedded minidyn
// DynamoDB and the local Daytona-compatible server, both on 127.0.0.1. It
// drives the events/*.json fixtures through the real Lambda Runtime API:
// create, exec, status, list, delete and agent execute, from API Gateway
// and from direct (state machine) callers, including the errors a state
// machine matches on. It also checks that a broken configuration stops a
// cold start with a message naming the variable, that every log line is
// JSON carrying the Lambda request id, and that the Daytona API key never
// appears in any output.
//
// The tests need the go command on PATH, take some tens of seconds on a
// cold build cache, and are skipped by `go test -short`.
package lambdatest
