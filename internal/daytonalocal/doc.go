// Package daytonalocal is a local, Daytona-compatible HTTP server: the main
// API (sandbox lifecycle) under /api and the toolbox API (processes,
// sessions, files, git) under /toolbox/{sandboxId}. It stands in for Daytona
// in tests and in `make local` (127.0.0.1:3003), so that the real client
// code runs against real HTTP with the published request and response
// shapes, status codes and error bodies.
//
// IT IS A DEVELOPMENT STAND-IN, NOT AN ISOLATION BOUNDARY. A "sandbox" is a
// directory on the host and its commands are ordinary host processes
// running as the server's own user. Nothing stops a command from reading or
// writing anywhere that user can, opening network connections, or leaving
// its process group (setsid). Never expose it beyond 127.0.0.1 and never
// run untrusted commands through it.
//
// # Sandboxes and paths
//
// Each sandbox owns Root/<id>/work (its work directory, its HOME, and the
// default cwd; reported by GET /work-dir and /user-home-dir) and
// Root/<id>/state (server bookkeeping: session state, upload staging).
// Toolbox paths map to the host like this:
//
//   - a relative path resolves against the work directory;
//   - an absolute path is taken as a host path and must lie inside the work
//     directory (the absolute work directory is what /work-dir returns);
//   - after cleaning (and resolving symbolic links of the part that
//     exists) the result must stay inside the work directory, otherwise the
//     request is rejected with 400. So "a/../b" is fine, "../x", "/etc/passwd"
//     and "/home/daytona/x" are not.
//
// Deleting a sandbox (or Close) SIGKILLs every process group it started and
// removes Root/<id>. Stopping a sandbox kills its processes and sessions
// but keeps its files.
//
// # Processes
//
// Commands run as `/bin/sh -c <command>` in their own process group, with an
// environment built from scratch (the server's own environment is not
// inherited, except PATH): PATH, HOME (the work directory), USER, LANG,
// DAYTONA_SANDBOX_ID, DAYTONA_SANDBOX_USER, then the sandbox's create-time
// env, then the request's envs. A /process/execute timeout (or the client
// going away) SIGKILLs the whole group and answers 408
// PROCESS_EXECUTION_TIMEOUT. Without a timeout (omitted or 0) a command may
// run until it ends, as with the v0.190 daemon.
//
// Sessions run their commands one after another through a per-session
// queue. Each command is a fresh shell that sources the command text from a
// file; the working directory and exported variables are saved when a
// command ends and restored for the next one, so `cd` and `export` persist
// between a session's commands. Plain (non-exported) shell variables,
// functions, aliases and `set` options do not. A command's stdout and stderr
// are captured line by line into one log with Daytona's markers (01 01 01
// before a stdout line, 02 02 02 before a stderr line; a partial last line
// gets a newline when the command ends). Output beyond Options.MaxOutputBytes
// per command is discarded (the first bytes are kept, so byte offsets stay
// stable).
//
// Background processes a command leaves behind keep running (as in a real
// sandbox) until the sandbox is stopped or deleted, the session is deleted,
// or the server is closed.
//
// # Faults
//
// Fault injection (latency, 429 with Retry-After, 503 bursts, empty-body 502,
// sandboxes stuck in creating, creates that fail after the sandbox exists,
// sandboxes going to error, follow sockets dropped mid-stream) is set with
// Options.Faults or at run time with AddFault, RemoveFault and ClearFaults,
// and can be scoped by operation name (the specs' operationId), method,
// path pattern and sandbox id or name.
//
// # Lifecycle and timers
//
// Create answers 200 with the sandbox in creating (pending_build with
// buildInfo) and moves it to started after Options.StartDelay (at once when
// zero). Start, stop, recover, labels and the timer endpoints work; stop
// always kills (force is implied). A background sweep enforces ttlMinutes
// (autoDestroyAt), autoStopInterval (toolbox calls, an open follow socket
// and POST last-activity count as activity; running processes do not) and
// autoDeleteInterval; autoArchive and autoPause are accepted and reported
// only. Toolbox calls to a sandbox that is not started get 400 (source
// DAYTONA_PROXY); unknown sandboxes 404.
//
// Not implemented: snapshots, volumes, archive/pause/resize/fork, previews
// and preview-token auth, PTY, code-run, LSP, computer use, socket.io
// events, and file operations beyond upload, download, folder, list, info
// and delete.
package daytonalocal
