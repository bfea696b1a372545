// Package local runs sandstep on one machine with no AWS account and no
// Daytona key: the same handlers, store and Daytona client as in AWS, with
// only the endpoints changed (docs/architecture.md, "The local stack").
// Start brings up, on 127.0.0.1 only, an API Gateway emulator serving
// template.yaml's routes (locally the bearer token is taken as the user
// id), the Lambda Invoke API, an embedded DynamoDB and, unless the
// environment names a real Daytona, the Daytona-compatible server of
// internal/daytonalocal (a development stand-in, not a security boundary),
// and the GitHub stand-in of internal/githublocal with a demo App.
// Every function is served in-process, wired from one app.Env as its
// main.go wires it in AWS, with the environment `sam local` would give it
// (see newEnvironment); README shows the ports and the examples.
package local
