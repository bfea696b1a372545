package service

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/testutil"
)

// TestReaperSlotReadFailureLogged: a held slot whose sandbox record
// cannot be read is counted failed (the reaper-failed alarm), and, as
// every other failed finding, has an ERROR line naming the sandbox and its
// owner with the error: the runbook's "the reaper's log line names the
// error" is all the operator has to go on.
func TestReaperSlotReadFailureLogged(t *testing.T) {
	ctx := context.Background()
	p := newFakeProvider()
	var reads *flakyReads
	svc, _, _ := newTaskService(t, p, func(st *store.Store, d *Deps) {
		reads = &flakyReads{Store: st}
		d.Sandboxes = reads
	})
	logs := &testutil.Buffer{}
	svc.opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	// A ready sandbox, alive and young: the run's one read of a record is
	// its slot's.
	reads.mu.Lock()
	reads.failReads = 1
	reads.mu.Unlock()
	rep, err := svc.Reap(ctx, ReapOptions{})
	if err != nil || rep.Failed != 1 {
		t.Fatalf("Reap = %+v, %v; want one failed finding (the slot's read)", rep, err)
	}
	var found bool
	for l := range strings.SplitSeq(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil || m["level"] != "ERROR" {
			continue
		}
		if m["sandboxId"] == sb.ID && m["userId"] == "alice" && strings.Contains(fmt.Sprint(m["err"]), "throttled") {
			found = true
		}
	}
	if !found {
		t.Errorf("the reaper counted a failed finding with no ERROR line naming sandbox %s, alice and the error; logs:\n%s", sb.ID, logs.String())
	}
}
