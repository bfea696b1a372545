package daytonalocal

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func newBenchHarness(b *testing.B) *harness {
	b.Helper()
	srv, err := New(Options{Root: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	b.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	return &harness{t: b, srv: srv, ts: ts}
}

// BenchmarkCreateGetDelete measures one sandbox's main-API round trips
// (create, get, delete) over loopback HTTP.
func BenchmarkCreateGetDelete(b *testing.B) {
	h := newBenchHarness(b)
	for b.Loop() {
		sb := h.create(nil)
		if _, status := h.get(sb.ID); status != http.StatusOK {
			b.Fatalf("get: %d", status)
		}
		if r := h.api("DELETE", "/sandbox/"+sb.ID, nil); r.status != http.StatusOK {
			b.Fatalf("delete: %d", r.status)
		}
	}
}

// BenchmarkExecuteTrue measures /process/execute of `true`: HTTP plus
// starting /bin/sh in its own process group.
func BenchmarkExecuteTrue(b *testing.B) {
	h := newBenchHarness(b)
	sb := h.create(nil)
	for b.Loop() {
		if code, _ := h.execute(sb.ID, "true"); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}

// BenchmarkSessionExecSync measures a synchronous session command (the
// wrapper restores and saves the session's state around it).
func BenchmarkSessionExecSync(b *testing.B) {
	h := newBenchHarness(b)
	sb := h.create(nil)
	h.tb(sb.ID, "POST", "/process/session", map[string]any{"sessionId": "bench"})
	for b.Loop() {
		h.sessionExec(sb.ID, "bench", "true", false)
	}
}
