package daytonalocal

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/testutil"
)

// floods writes 20 MiB to stdout, then 20 MiB to stderr, then a line to
// each: twice the default cap of 8 MiB, and more.
const floods = `head -c 20971520 /dev/zero | tr '\0' o; head -c 20971520 /dev/zero | tr '\0' e >&2`

func TestStreamsAreCappedApart(t *testing.T) {
	const limit = 8 << 20 // the default
	logs := &testutil.Buffer{}
	h := newHarness(t, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	sb := h.create(nil)
	wantOut, wantErr := strings.Repeat("o", limit), strings.Repeat("e", limit)

	t.Run("execute", func(t *testing.T) {
		code, res := h.execute(sb.ID, floods)
		if code != 0 {
			t.Fatalf("exit code %d", code)
		}
		// Each stream keeps its first 8 MiB; the result is stdout's, then
		// stderr's, as they were written.
		if res != wantOut+wantErr {
			t.Errorf("result: %d bytes, %d o and %d e; want %d of each", len(res), strings.Count(res, "o"), strings.Count(res, "e"), limit)
		}
	})
	t.Run("session", func(t *testing.T) {
		h.tb(sb.ID, "POST", "/process/session", map[string]any{"sessionId": "caps"})
		r, _ := h.sessionExec(sb.ID, "caps", floods, false)
		var res struct{ Stdout, Stderr string }
		r.decode(t, &res)
		if res.Stdout != wantOut || res.Stderr != wantErr {
			t.Errorf("stdout %d bytes (%d o), stderr %d bytes (%d e); want %d of each",
				len(res.Stdout), strings.Count(res.Stdout, "o"), len(res.Stderr), strings.Count(res.Stderr, "e"), limit)
		}
		r = h.tb(sb.ID, "GET", "/process/session/caps/command/"+r.json(t)["cmdId"].(string)+"/logs", nil)
		if r.status != http.StatusOK {
			t.Fatalf("logs: %d", r.status)
		}
		var logs struct{ Stdout, Stderr string }
		r.decode(t, &logs)
		if logs.Stdout != wantOut || logs.Stderr != wantErr {
			t.Errorf("logs: stdout %d bytes, stderr %d bytes; want %d each", len(logs.Stdout), len(logs.Stderr), limit)
		}
	})
	for _, want := range []string{"daytonalocal execute output truncated", "daytonalocal session command output truncated"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %q in the log", want)
		}
	}
}
