package service

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// lagClone is fakeProvider whose first clone GitHub refuses as Daytona's
// provider reports it (GIT_AUTH_FAILED: git.url), after clock moves on by
// age.
type lagClone struct {
	*fakeProvider
	clk     *settableClock
	age     time.Duration
	refused int
}

func (p *lagClone) GitClone(ctx context.Context, id string, spec GitCloneSpec) error {
	if err := p.fakeProvider.GitClone(ctx, id, spec); err != nil {
		return err
	}
	if p.refused > 0 {
		return nil
	}
	p.refused++
	p.clk.Set(p.clk.Now().Add(p.age))
	return &sandstep.Error{Code: sandstep.EINVALID, Field: "git.url", Message: "the repository was not found or is not readable with the given token"}
}

// An issue's clone runs moments after its read token is minted (Daytona
// makes a sandbox in well under the 5 s GitHub may take to know a new
// token everywhere), and GitHub refuses a new token for a moment (401, or
// 403 while its permissions replicate): the clone goes again with it, as
// githubapp's calls and the push do, rather than failing the issue's task
// at once saying its repository cannot be read. A clone refused long after
// its token was minted is GitHub's word.
func TestIssueCloneOnANewTokenRefusedWhileItReplicates(t *testing.T) {
	tests := []struct {
		name   string
		age    time.Duration // the token's age when the clone is refused
		wantOK bool
	}{
		{"a token minted a moment ago", 0, true},
		// Anywhere in the lag: Daytona's create and the uploads may take
		// 4 s of the 5 between the minting and the clone.
		{"refused 4.5 s after its minting, before it settled", 4500 * time.Millisecond, true},
		{"refused 5.5 s after its minting, once it settled", 5500 * time.Millisecond, false},
		{"a token minted long before the clone", time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &settableClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 5, Now: clk.Now})
			p := &lagClone{fakeProvider: newFakeProvider(), clk: clk, age: tt.age}
			access := &fakeRepoAccess{life: time.Hour, now: clk.Now}
			svc, err := New(Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st,
				Tasks: st, Objects: newFakeObjects(), Machine: fakeMachine{}, Sessions: fakeSessions{}, RepoAccess: access},
				Options{Limits: testLimits(), Deployment: fixedDeployment(testDeployment), Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			spec := TaskInput{Command: "true", TimeoutSeconds: intp(3600)}
			ev := IssueEvent{Repo: "octo/hello", InstallationID: 7, Issue: 3, Title: "Fix it", CloneURL: "https://github.com/octo/hello.git", DefaultBranch: "main"}
			if err := issueSpec(&spec, ev); err != nil {
				t.Fatal(err)
			}
			tk, err := svc.StartTask(ctx, Call{UserID: sandstep.RepoUser(ev.Repo), RequestID: "delivery-1"}, spec)
			if err != nil {
				t.Fatalf("StartTask: %v", err)
			}
			_, err = svc.CreateTaskSandbox(ctx, TaskStep{TaskID: tk.ID, UserID: tk.Owner})
			if tt.wantOK && err != nil {
				t.Fatalf("CreateTaskSandbox = %v; want the clone asked again with its new token", err)
			}
			if !tt.wantOK && (sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != "sandbox.git.url") {
				t.Fatalf("CreateTaskSandbox = %v (field %q); want invalid_input at sandbox.git.url", err, sandstep.ErrorField(err))
			}
			p.mu.Lock()
			clones := len(p.clones)
			p.mu.Unlock()
			if want := map[bool]int{true: 2, false: 1}[tt.wantOK]; clones != want {
				t.Errorf("%d clones, want %d", clones, want)
			}
		})
	}
}
