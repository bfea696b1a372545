package notify

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// TestSendBoundsTheAnswersHeader: only an answer's status matters, yet
// the client reads a header of up to its default 10 MB, several times over
// in memory; the reaper makes 8 attempts at once in 256 MB. A receiver
// answering 8 MB of header must cost an attempt little. Counted in bytes
// allocated, not timed.
func TestSendBoundsTheAnswersHeader(t *testing.T) {
	for _, tc := range []struct {
		name      string
		headerMiB int
	}{
		{"8 MB of header", 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("HTTP/1.1 503 Service Unavailable\r\n")
			line := strings.Repeat("y", 8<<10)
			for i := range tc.headerMiB << 7 { // 128 lines of 8 KB a MB
				b.WriteString("X-Pad-" + strings.Repeat("a", i%7+1) + ": " + line + "\r\n")
			}
			b.WriteString("Content-Length: 0\r\nConnection: close\r\n\r\n")
			answer := []byte(b.String())
			url := rawReceiver(t, answer)
			s := NewSender(Options{Local: true})
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := s.Send(context.Background(), url, "dlv_1", []byte(`{}`), "")
			runtime.ReadMemStats(&after)
			if sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
				t.Errorf("Send: %v, want ETRANSIENT", err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 2<<20 {
				t.Errorf("the attempt allocated %d MB for a %d MB header; want at most 2 MB", got>>20, tc.headerMiB)
			}
		})
	}
}
