// Package daytona is sandstep's REST client for Daytona: the main API,
// which creates, finds and deletes sandboxes, and each sandbox's toolbox,
// which runs commands and sessions, moves files and clones repositories.
// It has its own wire types and typed errors and imports only the standard
// library and github.com/coder/websocket.
//
// The one idea to keep in mind is that a call is repeated only when
// repeating cannot do harm. Idempotent calls are retried on transient
// failures (see RetryPolicy); the others only when the server provably did
// not act. A create is never blindly repeated: with a unique Name, a
// failure that may have created the sandbox is followed by a look-up by
// name (see CreateSandbox). The API key never appears in an error, a log
// line or a printed Config or Client.
package daytona
