// Package daytona is sandstep's typed REST client for Daytona: the main API
// (sandbox lifecycle) and the per-sandbox toolbox (commands, sessions,
// files, git), with its own wire types and errors. It imports only the
// standard library and github.com/coder/websocket.
//
// # Configuration
//
// Configuration is read as Daytona's SDKs read it:
//
//	DAYTONA_API_KEY     required; sent as "Authorization: Bearer <key>"
//	DAYTONA_API_URL     default https://app.daytona.io/api
//	                    (DAYTONA_SERVER_URL is the deprecated alias)
//	DAYTONA_TARGET      region sent as "target" on create
//
//	cfg, err := daytona.ConfigFromEnv(os.Getenv)
//	if err != nil { ... }            // names the missing variable
//	c, err := daytona.New(cfg)       // once per process; safe for concurrent use
//
// Every call sends the Go SDK's identification headers
// (X-Daytona-Source: sdk-go, X-Daytona-SDK-Version: 0.218.0, User-Agent:
// sdk-go/0.218.0), toolbox calls included: the toolbox daemon answers log
// requests with stdout and stderr split only when the SDK version header
// is at least 0.167.0.
//
// The default HTTP client has dial and TLS-handshake timeouts and no
// overall timeout. Each call takes a context.Context first and its own
// response-header bound: Config.ResponseHeaderTimeout for ordinary calls,
// the command timeout plus 5 s for ExecuteCommand, none for a synchronous
// session command, an upload, a clone or a log stream (the context bounds
// those).
//
// # Sandboxes
//
//	sb, err := c.CreateSandboxAndWait(ctx, daytona.CreateSandboxParams{
//		Name:       sandstepID,          // unique: makes the create idempotent
//		Image:      "python:3.12-slim",  // or Snapshot; becomes buildInfo "FROM …\n"
//		Labels:     map[string]string{"sandstep/id": sandstepID, "sandstep/owner": owner},
//		TTLMinutes: &ttl,                // dead-man's switch
//	})
//
// CreateSandbox never blindly repeats POST /sandbox. After a timeout, a
// network error once the request may have been sent, a 5xx, or a 400
// "Sandbox failed to start", it looks the sandbox up by its name
// (GET /sandbox/{name}): found means the create happened (for "failed to
// start" the error is returned together with the sandbox, which the caller
// must delete); not found means it is tried again. A 409 duplicate name on
// a retry means an earlier attempt succeeded and the sandbox is fetched by
// name. Without a Name, only failures that provably created nothing (no
// connection, 429) are retried.
//
// WaitUntilStarted polls GET /sandbox/{id} with growing pauses up to
// Config.PollInterval until "started". Unlike the official SDKs it deletes
// what it gives up on — a sandbox in error or build_failed (the error
// carries errorReason), or one still not started when the context ends —
// using a short context detached from the caller's, so that a cancelled
// caller still cleans up. The *StartError says whether the delete worked.
//
// GetSandbox (by id or name), ListSandboxes (labels matched by
// containment, JSON-encoded; repeated states; cursor paging) and
// ListAllSandboxes (walks every page), DeleteSandbox, StartSandbox,
// StopSandbox and RefreshActivity (POST /sandbox/{id}/last-activity, which
// keeps auto-stop away from a silent job) complete the lifecycle.
//
// # Toolbox
//
// Toolbox calls take the sandbox ID and go through its regional proxy:
// base = TrimRight(toolboxProxyUrl, "/") + "/" + sandboxId. The proxy URL
// comes from any Sandbox or list item the client has seen, else from
// GET /sandbox/{id}/toolbox-proxy-url; it is cached per sandbox ID and
// replaced when a newer DTO carries another one.
//
//	res, err := c.ExecuteCommand(ctx, id, daytona.ExecuteRequest{Command: "make test", Timeout: 300})
//	// res.ExitCode, res.Result (stdout and stderr interleaved), res.Truncated
//
// ExecuteCommand always sends a timeout (Config.ExecTimeout by default); a
// command killed at its timeout is a *CommandTimeoutError (HTTP 408).
// Sessions separate the streams: CreateSession, ExecuteSessionCommand
// (RunAsync → 202 with a command id; synchronous → 200 with output and exit
// code), GetSessionCommand (ExitCode nil until the command ended),
// GetSessionCommandLogs (a snapshot; Output keeps the raw marker bytes for
// byte-offset resumption), FollowSessionCommandLogs (a WebSocket stream
// demultiplexed into two io.Writers) and DeleteSession (which kills the
// session's commands). Output kept from any response is bounded by
// Config.MaxOutputBytes: bodies are decoded in one streaming pass that keeps
// at most that many bytes per output field and flags Truncated, so a huge
// output costs reading time, not memory, and its exit code is still read.
//
// The raw log prefixes each line with 01 01 01 (stdout) or 02 02 02
// (stderr). Demuxer splits it when it arrives cut at arbitrary byte
// boundaries, holding back up to two bytes that may start a split marker
// and the first bytes of a UTF-8 character split across chunks.
// Log streaming is best effort: on an error, read the snapshot and decide
// success from the exit code.
//
// Files: UploadFiles (multipart files[i].path / files[i].file, streamed),
// DownloadFile (into an io.Writer), CreateFolder. Git: GitClone, whose
// password never appears in errors.
//
// # Errors and retries
//
// Failures are typed: *APIError (status, message, the toolbox's Daytona
// error code, method and path; non-JSON bodies such as an empty 502 or an
// HTML page give a cut snippet), *RateLimitError (a 429 with its
// Retry-After or Retry-After-<limiter> wait), *NetworkError (no answer;
// NotSent when the connection was never made), *ValidationError (bad
// input, caught before any request: ids that go into URL paths must be
// non-empty and free of "/", "\", "..", and control characters),
// *CommandTimeoutError and *StartError. IsNotFound, IsConflict, IsTransient
// (429, 502, 503, 504, network failures, 409 "state change in progress"),
// IsTimeout and IsRateLimited classify them.
//
// Idempotent calls (GETs, DELETEs, start/stop, last-activity, folder
// creation) are retried on transient failures with exponential backoff and
// full jitter, at least as long as any Retry-After asks. A wait that would
// end after the context deadline is not started: the call returns the last
// error at once. A cancelled context stops at once, with context.Canceled
// in the chain. Calls that are not idempotent (execute, session commands,
// clone) are repeated only when the server provably did not act (no
// connection, 429); streamed uploads are never repeated.
//
// The API key never appears in an error, a log line or a printed Config or
// Client: response bodies echoing it are redacted before they are cut.
package daytona
