// Package daytonacontract holds the contract tests of sandstep's Daytona
// client against its local Daytona-compatible server: the real client talks
// real HTTP (and WebSocket) to the real server, and every request the
// client sends and every response the server returns is validated against
// Daytona's published specs (internal/daytonaspec). A shape mismatch on
// either side fails the test. The tests skip, saying why, when the specs
// are not beside the clone (see daytonaspec.EnvSpecs).
package daytonacontract
