package service

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/testutil"
)

// The reaper's line for what it did to a sandbox is the one an operator
// follows from a reaper alarm (README: logs carry requestId, userId,
// sandboxId, taskId; Logs Insights finds a sandbox by sandboxId). It must
// name the sandbox as sandboxId, as every other line about a sandbox does,
// and its owner as userId, not under a key of its own.
func TestReaperLineNamesTheSandboxAndItsOwner(t *testing.T) {
	ctx := context.Background()
	p := newFakeProvider()
	svc, _, clk := newTaskService(t, p, nil)
	logs := &testutil.Buffer{}
	svc.opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(clk.Now().Add(time.Duration(sb.TTLMinutes)*time.Minute + abandonedAfter + time.Minute))
	if rep, err := svc.Reap(ctx, ReapOptions{}); err != nil || rep.Expired != 1 {
		t.Fatalf("Reap = %+v, %v; want it expired", rep, err)
	}
	var line map[string]any
	for l := range strings.SplitSeq(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "reaper: sandbox past its deadline deleted" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no line for the expired sandbox in the logs:\n%s", logs.String())
	}
	if line["sandboxId"] != sb.ID || line["userId"] != "alice" {
		t.Errorf("the reaper's line %v; want sandboxId %s and userId alice", line, sb.ID)
	}
}
