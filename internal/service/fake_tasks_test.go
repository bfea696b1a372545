package service

import (
	"context"
	"sync"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// The task half of the fakes: a bucket in memory, a state machine that
// records its starts, and sessions that no test here reaches.

type fakeObjects struct {
	mu   sync.Mutex
	objs map[string][]byte
}

func newFakeObjects() *fakeObjects { return &fakeObjects{objs: map[string][]byte{}} }

func (o *fakeObjects) Put(_ context.Context, key string, body []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.objs[key] = append([]byte(nil), body...)
	return nil
}

func (o *fakeObjects) Get(_ context.Context, key string) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b, ok := o.objs[key]
	if !ok {
		return nil, sandstep.Errorf(sandstep.ENOTFOUND, "no object %s", key)
	}
	return b, nil
}

func (o *fakeObjects) List(context.Context, string, string, int) ([]string, error) { return nil, nil }

func (o *fakeObjects) Link(_ context.Context, key string, _ time.Duration) (string, error) {
	return "http://127.0.0.1/" + key, nil
}

type fakeMachine struct {
	mu     sync.Mutex
	starts []string
}

func (m *fakeMachine) Start(_ context.Context, name string, _ []byte) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.starts = append(m.starts, name)
	return m.ExecutionARN(name), nil
}

func (m *fakeMachine) Stop(context.Context, string, string, string) error { return nil }
func (m *fakeMachine) Wake(context.Context, string, []byte) error         { return nil }
func (m *fakeMachine) ExecutionARN(name string) string {
	return "arn:aws:states:us-east-1:123456789012:execution:tasks:" + name
}

type fakeSessions struct{}

var errUnused = sandstep.Errorf(sandstep.EINTERNAL, "not used by these tests")

func (fakeSessions) StartCommand(context.Context, string, string, string) (string, error) {
	return "", errUnused
}
func (fakeSessions) CommandExit(context.Context, string, string, string) (*int, error) {
	return nil, errUnused
}
func (fakeSessions) StopCommand(context.Context, string, string) error    { return errUnused }
func (fakeSessions) KeepFor(context.Context, string, time.Duration) error { return errUnused }
