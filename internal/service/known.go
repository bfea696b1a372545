package service

import (
	"sync"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// knownSandboxesMax bounds what an instance remembers: an entry is a few
// short strings, and an agent's commands go to one sandbox at a time.
const knownSandboxesMax = 1024

// knownSandboxes is what this instance has read of the sandboxes it found
// ready. A sandbox's id, owner, Daytona id and secrets file never change
// once it is ready, so a repeat exec checks its caller against them and
// starts Daytona's first call beside the read of the record's state, with
// no sandbox touched before its owner is checked.
type knownSandboxes struct {
	mu sync.Mutex
	m  map[string]sandstep.Sandbox
}

func newKnownSandboxes() *knownSandboxes {
	return &knownSandboxes{m: map[string]sandstep.Sandbox{}}
}

// owned returns what is known of sandbox id when owner owns it; nothing
// when it is not known (or is another's: the record's read says so and
// audits the denial).
func (k *knownSandboxes) owned(id, owner string) (*sandstep.Sandbox, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	sb, ok := k.m[id]
	if !ok || sb.Owner != owner {
		return nil, false
	}
	return &sb, true
}

// saw keeps what never changes of a ready sandbox the caller's exec read,
// and forgets one that is no longer ready.
func (k *knownSandboxes) saw(sb *sandstep.Sandbox) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if sb.State != sandstep.StateReady || sb.DaytonaID == "" {
		delete(k.m, sb.ID)
		return
	}
	if _, ok := k.m[sb.ID]; !ok && len(k.m) >= knownSandboxesMax {
		for id := range k.m { // any one: a forgotten sandbox costs one read
			delete(k.m, id)
			break
		}
	}
	k.m[sb.ID] = sandstep.Sandbox{ID: sb.ID, Owner: sb.Owner, DaytonaID: sb.DaytonaID,
		State: sandstep.StateReady, NoSecretsFile: sb.NoSecretsFile}
}

func (k *knownSandboxes) forget(id string) {
	k.mu.Lock()
	delete(k.m, id)
	k.mu.Unlock()
}
