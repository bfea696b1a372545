package daytonalocal

import (
	"errors"
	"strings"
	"time"
)

// Latency is time added to every call of a kind, before it is served, so
// that the server answers about as slowly as a real Daytona: what a load
// run or a benchmark measures around it is then the share a real
// deployment would see. Zero fields add nothing. Latency faults (AddFault)
// add to it.
type Latency struct {
	// Create delays createSandbox.
	Create time.Duration
	// Get delays getSandbox and listSandboxes.
	Get time.Duration
	// Delete delays deleteSandbox.
	Delete time.Duration
	// Toolbox delays every toolbox call (/toolbox/...): commands,
	// sessions, files, git.
	Toolbox time.Duration
}

func (l Latency) validate() error {
	if l.Create < 0 || l.Get < 0 || l.Delete < 0 || l.Toolbox < 0 {
		return errors.New("daytonalocal: Options.Latency must not be negative")
	}
	return nil
}

// of is the latency of one call: its operation and path.
func (l Latency) of(op, path string) time.Duration {
	switch {
	case strings.HasPrefix(path, toolboxPrefix+"/"):
		return l.Toolbox
	case op == "createSandbox":
		return l.Create
	case op == "getSandbox", op == "listSandboxes":
		return l.Get
	case op == "deleteSandbox":
		return l.Delete
	}
	return 0
}
