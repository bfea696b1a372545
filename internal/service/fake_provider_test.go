package service

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// fakeProvider is an in-memory provider that records what it is asked and
// fails on demand. Sandboxes are kept by name (the sandstep id).
type fakeProvider struct {
	mu        sync.Mutex
	sandboxes map[string]*fakeSandbox // by name
	creates   int
	// fail makes the named operation ("create", "upload", "git", "exec",
	// "get", "delete") return the error.
	fail map[string]error
	// createThenFail makes create build the sandbox and then fail, as a
	// provider that times out after doing the work.
	createThenFail bool
	// execResult is returned by exec (after recording the command).
	execResult ExecResult
	execs      []Command
	specs      []ProviderSpec
	clones     []GitCloneSpec
	// hangCreate makes create build the sandbox, then wait for its
	// context to end, as a wait for a sandbox that never starts does.
	hangCreate bool
	// lateDeletes counts deletes called with a context already done.
	lateDeletes int
	// onSession runs at each exec that reaches the sandbox (Daytona's
	// first call, the session's creation).
	onSession func()
	// located are the toolboxes it was told of, by Daytona id, and
	// locatedBeforeExec those it knew when an exec came.
	located           map[string]string
	locatedBeforeExec []string
	// size is the size Create answers it gave (nil: it does not say).
	size *sandstep.Resources
}

// fakeToolbox is where the fake says every sandbox's toolbox answers.
const fakeToolbox = "https://proxy.test/toolbox"

func (p *fakeProvider) KnowToolbox(id, url string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.located == nil {
		p.located = map[string]string{}
	}
	p.located[id] = url
}

type fakeSandbox struct {
	id     string
	state  string
	since  time.Time // when its state last changed, as Daytona's updatedAt
	files  map[string][]byte
	labels map[string]string
}

func newFakeProvider() *fakeProvider {
	return &fakeProvider{sandboxes: map[string]*fakeSandbox{}, fail: map[string]error{}}
}

// listedDestroying returns what lists the sandbox named id again, once
// deleted, as Daytona does while it destroys it: in state destroying
// since at.
func (p *fakeProvider) listedDestroying(id string) func(at time.Time) {
	p.mu.Lock()
	kept := *p.sandboxes[id]
	p.mu.Unlock()
	return func(at time.Time) {
		p.mu.Lock()
		defer p.mu.Unlock()
		kept.state, kept.since = "destroying", at
		p.sandboxes[id] = &kept
	}
}

func (p *fakeProvider) failOn(op string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail[op] = err
}

func (p *fakeProvider) byID(id string) (*fakeSandbox, error) {
	for name, sb := range p.sandboxes {
		if sb.id == id || name == id { // Daytona knows a sandbox by its name too
			return sb, nil
		}
	}
	return nil, sandstep.Errorf(sandstep.ENOTFOUND, "provider sandbox %s not found", id)
}

func (p *fakeProvider) Create(ctx context.Context, spec ProviderSpec) (*ProviderSandbox, error) {
	p.mu.Lock()
	if p.hangCreate {
		p.sandboxes[spec.Name] = &fakeSandbox{id: "dt-" + spec.Name, state: "creating", files: map[string][]byte{}}
		p.creates++
		p.mu.Unlock()
		<-ctx.Done()
		return nil, sandstep.Wrap(ctx.Err(), sandstep.ETIMEOUT, "the sandbox did not start in time")
	}
	defer p.mu.Unlock()
	p.creates++
	p.specs = append(p.specs, spec)
	if err := p.fail["create"]; err != nil && !p.createThenFail {
		return nil, err
	}
	if _, dup := p.sandboxes[spec.Name]; dup {
		return nil, sandstep.Errorf(sandstep.ECONFLICT, "name %s exists", spec.Name)
	}
	sb := &fakeSandbox{id: "dt-" + spec.Name, state: "started", files: map[string][]byte{}, labels: spec.Labels}
	p.sandboxes[spec.Name] = sb
	if err := p.fail["create"]; err != nil {
		return nil, err
	}
	return &ProviderSandbox{ID: sb.id, Name: spec.Name, State: sb.state, ToolboxURL: fakeToolbox, Size: p.size}, nil
}

// List is the fake's Catalog: the sandboxes carrying all of labels.
func (p *fakeProvider) List(_ context.Context, labels map[string]string) ([]ProviderSandbox, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.fail["list"]; err != nil {
		return nil, err
	}
	var out []ProviderSandbox
	for name, sb := range p.sandboxes {
		match := true
		for k, v := range labels {
			match = match && sb.labels[k] == v
		}
		if match {
			out = append(out, ProviderSandbox{ID: sb.id, Name: name, State: sb.state, Owner: sb.labels[LabelOwner], Since: sb.since})
		}
	}
	return out, nil
}

func (p *fakeProvider) Get(_ context.Context, id string) (*ProviderSandbox, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.fail["get"]; err != nil {
		return nil, err
	}
	sb, err := p.byID(id)
	if err != nil {
		return nil, err
	}
	return &ProviderSandbox{ID: sb.id, State: sb.state, Since: sb.since}, nil
}

func (p *fakeProvider) Delete(ctx context.Context, idOrName string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ctx.Err() != nil {
		p.lateDeletes++
		return ctx.Err()
	}
	if err := p.fail["delete"]; err != nil {
		return err
	}
	for name, sb := range p.sandboxes {
		if name == idOrName || sb.id == idOrName {
			delete(p.sandboxes, name)
		}
	}
	return nil
}

func (p *fakeProvider) Upload(_ context.Context, id string, files []UploadFile) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	sb, err := p.byID(id)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := p.fail["upload"]; err != nil && !strings.HasPrefix(f.Path, ReservedDir) {
			return err
		}
		if err := p.fail["upload-secrets"]; err != nil && strings.HasPrefix(f.Path, ReservedDir) {
			return err
		}
		sb.files[f.Path] = f.Content
	}
	return nil
}

func (p *fakeProvider) GitClone(_ context.Context, id string, spec GitCloneSpec) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.byID(id); err != nil {
		return err
	}
	p.clones = append(p.clones, spec)
	return p.fail["git"]
}

func (p *fakeProvider) Exec(ctx context.Context, id string, cmd Command) (*ExecResult, error) {
	p.mu.Lock()
	hook := p.onSession
	if url, ok := p.located[id]; ok {
		p.locatedBeforeExec = append(p.locatedBeforeExec, id+" "+url)
	}
	p.mu.Unlock()
	if hook != nil {
		hook()
	}
	// The command's own deadline, as Daytona's provider gives Ready.
	cctx, cancel := context.WithTimeout(ctx, cmd.Timeout)
	defer cancel()
	if err := ready(cctx, cmd); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.byID(id); err != nil {
		return nil, err
	}
	p.execs = append(p.execs, cmd)
	if err := p.fail["exec"]; err != nil {
		return nil, err
	}
	r := p.execResult
	return &r, nil
}

// ready is what a provider does once the command's session is made: it
// awaits the caller's check.
func ready(ctx context.Context, cmd Command) error {
	if cmd.Ready == nil {
		return nil
	}
	return cmd.Ready(ctx)
}

func (p *fakeProvider) live() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var names []string
	for name := range p.sandboxes {
		names = append(names, name)
	}
	return names
}

// fakeSecrets resolves references from a map. It stands in for the
// owner scopes of internal/secrets (tested there) with their gist: a user
// names only references under .../users/<user>/.
type fakeSecrets map[string]string

func (f fakeSecrets) Check(owner, field, ref string) error {
	if !strings.Contains(ref, "/users/"+owner+"/") {
		e := sandstep.Invalid(field, "secret reference %s is not %s's to name", ref, owner)
		e.Err = sandstep.ErrSecretScope
		return e
	}
	return nil
}

func (fakeSecrets) OneRead(ctx context.Context) context.Context { return ctx }

func (f fakeSecrets) Resolve(_ context.Context, owner, field, ref string) (string, error) {
	if err := f.Check(owner, field, ref); err != nil {
		return "", err
	}
	v, ok := f[ref]
	if !ok {
		return "", sandstep.Invalid(field, "secret reference %s not found", ref)
	}
	return v, nil
}
