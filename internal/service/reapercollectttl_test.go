package service

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
)

// keepRecorder is fakeSessions that records the lifetime it was last
// asked to give a sandbox (KeepFor).
type keepRecorder struct {
	fakeSessions
	mu   sync.Mutex
	kept time.Duration
}

func (k *keepRecorder) KeepFor(_ context.Context, _ string, d time.Duration) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.kept = d
	return nil
}

// A task's collect that may outlive the task's deadline moves its
// sandbox's life on at Daytona (KeepFor, whole minutes from now) and
// records the new ttlMinutes, "so the reaper judges the sandbox by the
// life Daytona gives it" (keepForCollect). Kept for its caller
// (keepSandbox), the sandbox then ends at Daytona at that life, as asked:
// README, "When something fails": one Daytona ended at its ttlMinutes is
// counted lived, not a finding. The recorded ttlMinutes is rounded up
// from the record's createdAt, not from the moment Daytona counts from,
// so it can end up to a minute after Daytona's: a reaper run in that
// minute finds the sandbox vanished before its deadline and counts it
// "gone", an alarm for nothing that failed.
func TestReapCountsASandboxThatLivedItsMovedLifeLived(t *testing.T) {
	ctx := context.Background()
	p := newFakeProvider()
	keeper := &keepRecorder{}
	svc, st, clk := newTaskService(t, p, func(_ *store.Store, d *Deps) { d.Sessions = keeper })
	// A task's sandbox: its command's timeout (an hour and a half) and
	// the clean-up margin.
	ttl := 90 + int(sandstep.TaskCleanupMargin/time.Minute)
	sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{TTLMinutes: &ttl})
	if err != nil {
		t.Fatal(err)
	}
	// Its command started a minute on; half a minute past its deadline,
	// its collect runs in an invocation with 4m37s left.
	clk.Set(clk.Now().Add(time.Minute + 90*time.Minute + 30*time.Second))
	now := clk.Now()
	cctx, cancel := context.WithTimeout(ctx, 4*time.Minute+37*time.Second)
	defer cancel()
	svc.keepForCollect(cctx, &sandstep.Task{ID: "tsk_collect", SandboxID: sb.ID, Deadline: &now}, sb)
	keeper.mu.Lock()
	kept := keeper.kept
	keeper.mu.Unlock()
	if kept == 0 {
		t.Fatal("the collect did not move the sandbox's life (the case's premise)")
	}
	// Daytona destroys it the whole minutes KeepFor asked for after now.
	daytonaEnd := now.Add((kept + time.Minute - 1) / time.Minute * time.Minute)
	rec, err := st.GetSandbox(ctx, sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	if recEnd := sandboxDeadline(rec); recEnd.After(daytonaEnd) {
		t.Errorf("recorded deadline %v is %v after the life Daytona was given (%v)", recEnd, recEnd.Sub(daytonaEnd), daytonaEnd)
	}

	// Daytona ends it at that life; the reaper's next run comes a second
	// later.
	p.mu.Lock()
	delete(p.sandboxes, sb.ID)
	p.mu.Unlock()
	clk.Set(daytonaEnd.Add(time.Second))
	rep, err := svc.Reap(ctx, ReapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Gone != 0 || rep.Lived != 1 {
		t.Errorf("Reap = %+v; want it lived (Daytona ended it at the life it was given), not gone", *rep)
	}
}
