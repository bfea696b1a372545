package service

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/logging"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/secrets"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
	"github.com/sandstep/sandstep/internal/testutil"
)

// fakeStore answers GetParameter and GetSecretValue from a map.
type fakeStore map[string]string

func (f fakeStore) GetParameter(_ context.Context, name string, _ bool) (string, error) {
	return f.get(name)
}

func (f fakeStore) GetSecretValue(_ context.Context, id string) (string, error) { return f.get(id) }

func (f fakeStore) get(name string) (string, error) {
	if v, ok := f[name]; ok {
		return v, nil
	}
	return "", errors.New("no such secret in the fake")
}

// The secret values of the scope tests; none may reach a log line.
const (
	aliceValue  = "alice-canary-Hq27xv"
	repoValue   = "repo-canary-Lw83kd"
	sharedValue = "shared-canary-Pz51mt"
)

type scopeHarness struct {
	svc      *Service
	provider *fakeProvider
	store    *store.Store
	objects  *fakeObjects
	logs     *testutil.Buffer
}

// newScopeHarness is a service over the real resolver of internal/secrets
// (the scopes under test) with the AWS stores faked, logging JSON as the
// functions do.
func newScopeHarness(t *testing.T) *scopeHarness {
	t.Helper()
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 3})
	aws := fakeStore{
		"/sandstep/secrets/users/alice/token":    aliceValue,
		"/sandstep/secrets/repos/octo/repo/key":  repoValue,
		"/sandstep/secrets/shared/npm":           sharedValue,
		"sandstep/users/alice/git":               aliceValue,
		"/sandstep/secrets/users/alice_2Fx/deep": "alice-x-value",
	}
	scopes, err := secrets.NewScopes("/sandstep/secrets/", "sandstep/", "ssm:/sandstep/secrets/shared/")
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.Buffer{}
	p := newFakeProvider()
	objs := newFakeObjects()
	svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
		Secrets: secrets.NewResolver(aws, aws, secrets.WithScopes(scopes)).Strings(),
		Tasks:   st, Objects: objs, Machine: fakeMachine{}, Sessions: fakeSessions{}},
		Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Logger: logging.New(logs, logging.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	return &scopeHarness{svc: svc, provider: p, store: st, objects: objs, logs: logs}
}

// deniedLines returns the "denied" records of the log, each as JSON.
func deniedLines(t *testing.T, logs *testutil.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %v: %s", err, sc.Text())
		}
		if rec["message"] == "denied" {
			out = append(out, rec)
		}
	}
	return out
}

// wantDenied checks that the log holds exactly one denied record, with
// these fields, and no secret value anywhere.
func wantDenied(t *testing.T, logs *testutil.Buffer, want map[string]string) {
	t.Helper()
	lines := deniedLines(t, logs)
	if len(lines) != 1 {
		t.Fatalf("%d denied lines, want 1:\n%s", len(lines), logs.String())
	}
	rec := lines[0]
	if rec["level"] != "WARN" {
		t.Errorf("denied logged at %v, want WARN", rec["level"])
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("denied line %s = %v, want %q: %v", k, rec[k], v, rec)
		}
	}
	for _, v := range []string{aliceValue, repoValue, sharedValue} {
		if strings.Contains(logs.String(), v) {
			t.Errorf("a secret value reached the log:\n%s", logs.String())
		}
	}
}

// A caller names their own secrets and the shared ones; another's is a
// 400 naming the field, decided before anything is read or made, and
// logged once as denied.
func TestSecretScopes(t *testing.T) {
	aliceRef := "ssm:/sandstep/secrets/users/alice/token"
	tests := []struct {
		name   string
		caller string
		run    func(h *scopeHarness, call Call) error
		field  string // "" when allowed
		target string
		// value is the secret the created sandbox holds, when allowed.
		value string
	}{
		{name: "alice names her own", caller: "alice", value: aliceValue,
			run: create(CreateSandboxInput{SecretEnv: map[string]string{"T": aliceRef}})},
		{name: "bob names a shared one", caller: "bob", value: sharedValue,
			run: create(CreateSandboxInput{SecretEnv: map[string]string{"T": "ssm:/sandstep/secrets/shared/npm"}})},
		{name: "bob names alice's", caller: "bob", field: "secretEnv.T", target: aliceRef,
			run: create(CreateSandboxInput{SecretEnv: map[string]string{"T": aliceRef}})},
		{name: "bob names alice's as a git token", caller: "bob", field: "git.tokenSecret", target: "secretsmanager:sandstep/users/alice/git",
			run: create(CreateSandboxInput{Git: &GitSource{URL: "https://h/r.git", TokenSecret: "secretsmanager:sandstep/users/alice/git"}})},
		{name: "alice/x is not alice", caller: "alice/x", field: "secretEnv.T", target: aliceRef,
			run: create(CreateSandboxInput{SecretEnv: map[string]string{"T": aliceRef}})},
		{name: "alice cannot reach alice/x's", caller: "alice", field: "secretEnv.T", target: "ssm:/sandstep/secrets/users/alice_2Fx/deep",
			run: create(CreateSandboxInput{SecretEnv: map[string]string{"T": "ssm:/sandstep/secrets/users/alice_2Fx/deep"}})},
		{name: "bob names a repository's", caller: "bob", field: "secretEnv.T", target: "ssm:/sandstep/secrets/repos/octo/repo/key",
			run: create(CreateSandboxInput{SecretEnv: map[string]string{"T": "ssm:/sandstep/secrets/repos/octo/repo/key"}})},
		{name: "bob's agent-execute names alice's", caller: "bob", field: "secretEnv.T", target: aliceRef,
			run: func(h *scopeHarness, call Call) error {
				_, err := h.svc.AgentExecute(context.Background(), call, AgentExecuteInput{
					CreateSandboxInput: CreateSandboxInput{SecretEnv: map[string]string{"T": aliceRef}}, Command: "true"})
				return err
			}},
		{name: "bob's task names alice's", caller: "bob", field: "sandbox.secretEnv.T", target: aliceRef,
			run: func(h *scopeHarness, call Call) error {
				_, err := h.svc.StartTask(context.Background(), call, TaskInput{
					Sandbox: CreateSandboxInput{SecretEnv: map[string]string{"T": aliceRef}}, Command: "true"})
				return err
			}},
		{name: "bob's console start names alice's", caller: "bob", field: "task.sandbox.secretEnv.T", target: aliceRef,
			run: func(h *scopeHarness, call Call) error {
				input := `{"userId":"bob","task":{"sandbox":{"secretEnv":{"T":"` + aliceRef + `"}},"command":"true"}}`
				_, err := h.svc.PrepareTask(context.Background(), NewTaskID(), json.RawMessage(input))
				return err
			}},
		{name: "a repository's task names its own", caller: "github:octo/repo", value: repoValue,
			run: func(h *scopeHarness, call Call) error {
				tk, err := h.svc.StartTask(context.Background(), call, TaskInput{
					Sandbox: CreateSandboxInput{SecretEnv: map[string]string{"T": "ssm:/sandstep/secrets/repos/octo/repo/key"}}, Command: "true"})
				if err != nil {
					return err
				}
				// The sandbox step resolves it as the task's owner.
				_, err = h.svc.CreateTaskSandbox(context.Background(), TaskStep{TaskID: tk.ID, UserID: tk.Owner})
				return err
			}},
		{name: "a repository's task names a user's", caller: "github:octo/repo", field: "sandbox.secretEnv.T", target: aliceRef,
			run: func(h *scopeHarness, call Call) error {
				_, err := h.svc.StartTask(context.Background(), call, TaskInput{
					Sandbox: CreateSandboxInput{SecretEnv: map[string]string{"T": aliceRef}}, Command: "true"})
				return err
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newScopeHarness(t)
			err := tc.run(h, Call{UserID: tc.caller, RequestID: "req-1"})
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if len(h.provider.specs) != 1 {
					t.Fatalf("%d sandboxes made, want 1", len(h.provider.specs))
				}
				files := h.provider.sandboxes[h.provider.specs[0].Name].files
				if got := string(files[secretsFile]); got != "T='"+tc.value+"'\n" {
					t.Errorf("secrets file %q, want the value of T", got)
				}
				if lines := deniedLines(t, h.logs); len(lines) != 0 {
					t.Errorf("an allowed call logged denied: %v", lines)
				}
				return
			}
			wantCode(t, err, sandstep.EINVALID)
			if sandstep.ErrorField(err) != tc.field {
				t.Errorf("field %q, want %q: %v", sandstep.ErrorField(err), tc.field, err)
			}
			for _, v := range []string{aliceValue, repoValue, sharedValue} {
				if strings.Contains(err.Error(), v) {
					t.Errorf("the error holds a secret value: %v", err)
				}
			}
			if h.provider.creates != 0 || len(h.objects.objs) != 0 {
				t.Errorf("a refused reference made %d sandboxes and %d objects", h.provider.creates, len(h.objects.objs))
			}
			if q, err := h.store.GetQuota(context.Background(), tc.caller); err != nil || q.Active != 0 {
				t.Errorf("a refused reference took a slot: %+v, %v", q, err)
			}
			wantDenied(t, h.logs, map[string]string{"reason": DeniedSecretScope, "userId": tc.caller, "target": tc.target, "field": tc.field})
		})
	}
}

func create(in CreateSandboxInput) func(h *scopeHarness, call Call) error {
	return func(h *scopeHarness, call Call) error {
		_, err := h.svc.CreateSandbox(context.Background(), call, in)
		return err
	}
}
