package daytona

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/logging"
	"github.com/sandstep/sandstep/internal/testutil"
)

// TestGiveUpLineNamesDaytonasID: the warning that a sandbox which
// failed to start could not be deleted (it may leak) names Daytona's id
// as daytonaId. sandboxId on a log line is sandstep's id (README: logs
// carry requestId, userId, sandboxId), which a filter on sandboxId looks
// for: Daytona's id there is the wrong one, and it would replace the id
// the context carries.
func TestGiveUpLineNamesDaytonasID(t *testing.T) {
	tests := []struct {
		name        string
		ctxSandbox  string
		wantSandbox any // the line's sandboxId: the context's, or none
	}{
		{"a create, no sandbox in the context", "", nil},
		{"a sandbox in the context", "sbx_mine", "sbx_mine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDaytonaFake(t)
			d.byName["ss-1"] = sandboxJSON("id-ss-1", "ss-1", StateCreating, "")
			d.states = []SandboxState{StateError}
			d.deleteStatus = 400
			logs := &testutil.Buffer{}
			c := newClient(t, d.URL, func(cfg *Config) { cfg.Logger = logging.New(logs, logging.Options{}) })
			ctx := context.Background()
			if tt.ctxSandbox != "" {
				ctx = logging.WithSandboxID(ctx, tt.ctxSandbox)
			}
			if _, err := c.WaitUntilStarted(ctx, "id-ss-1"); err == nil {
				t.Fatal("want the start's failure")
			}
			var line map[string]any
			for l := range strings.SplitSeq(logs.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && m["message"] == "daytona: could not delete a sandbox that failed to start" {
					line = m
				}
			}
			if line == nil {
				t.Fatalf("no line for the failed delete; logs:\n%s", logs.String())
			}
			if line["sandboxId"] != tt.wantSandbox || line["daytonaId"] != "id-ss-1" {
				t.Errorf("line %v: sandboxId %v, daytonaId %v; want sandboxId %v and Daytona's id as daytonaId",
					line, line["sandboxId"], line["daytonaId"], tt.wantSandbox)
			}
		})
	}
}
