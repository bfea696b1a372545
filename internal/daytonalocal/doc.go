// Package daytonalocal is a local, Daytona-compatible HTTP server: the main
// API (sandbox lifecycle) under /api and the toolbox API (processes,
// sessions, files, git) under /toolbox/{sandboxId}, with Daytona's request
// and response shapes, status codes and error bodies, faults a test can
// inject (see Fault) and Daytona's sandbox-create rate limit (see
// RateLimit). It stands in for Daytona in tests and in `make local`
// (127.0.0.1:3003), so that the real client runs against real HTTP. It
// shares no code with that client, on purpose. In a root it is given, the
// sandboxes outlive the server: a new server on the root has them again,
// stopped, as Daytona's auto-stopped sandboxes are.
//
// IT IS A DEVELOPMENT STAND-IN, NOT AN ISOLATION BOUNDARY. A "sandbox" is a
// directory on the host and its commands are ordinary host processes
// running as the server's own user. Nothing stops a command from reading or
// writing anywhere that user can, opening network connections, or
// dropping the environment mark by which the server finds a sandbox's
// processes to kill them (env -i). A create's network policy
// (networkBlockAll, networkAllowList, domainAllowList) is recorded and
// reported back, never enforced. Never expose it beyond 127.0.0.1 and
// never run untrusted commands through it.
package daytonalocal
