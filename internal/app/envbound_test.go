package app

import (
	"strconv"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/service"
)

// An exec's env is bounded as Daytona is sent it (exported, quoted, in
// JSON), not by its raw bytes: an env of quotes, which the line carries
// five bytes each, runs when it passes the bound and is refused naming env
// when it does not, never a 400 of Daytona's naming no field.
func TestAnEnvOfQuotesIsBoundedAsSent(t *testing.T) {
	s := newStack(t, nil)
	status, sb := s.call(t, "alice", "POST /sandboxes", "/sandboxes", map[string]any{})
	if status != 201 {
		t.Fatalf("create: %d %v", status, sb)
	}
	id := sb["id"].(string)
	quotes := func(total int) map[string]string {
		env := map[string]string{}
		for i := 0; total > 0; i++ {
			n := min(service.MaxEnvValueBytes, total)
			env["V"+strconv.Itoa(i)] = strings.Repeat("'", n)
			total -= n
		}
		return env
	}
	for _, tc := range []struct {
		name       string
		env        map[string]string
		wantStatus int
	}{
		// A quote is five bytes as sent: a fifth of the bound, less the
		// lines' own bytes, passes.
		{"within the bound as sent", quotes(service.MaxEnvBytes/5 - 1024), 200},
		{"within the bound raw, past it as sent", quotes(service.MaxEnvBytes), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, res := s.call(t, "alice", "POST /sandboxes/{id}/exec", "/sandboxes/"+id+"/exec",
				map[string]any{"command": `printf %s "$V0" | wc -c`, "env": tc.env})
			if status != tc.wantStatus {
				t.Fatalf("exec = %d %.300v, want %d", status, res, tc.wantStatus)
			}
			if e, _ := res["error"].(map[string]any); status == 400 && (e["field"] != "env" || !strings.Contains(e["message"].(string), "as sent")) {
				t.Errorf("refusal %v, want one naming env", e)
			}
		})
	}
}
