package service

import (
	"bufio"
	"net"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// TestNoticeRecordsALongAnswer: a receiver's failed answer is kept as
// the notice's lastError in the task's record (400 KB at most) and shown.
// One whose status line runs long (the client allowed 10 MB of header)
// must leave its attempt recorded with a short lastError, not a record
// too large to write.
func TestNoticeRecordsALongAnswer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status string // after "HTTP/1.1 "
		want   string // in lastError
	}{
		{"long reason", "503 " + strings.Repeat("x", 60<<10), "503"},
		{"half a megabyte's reason", "503 " + strings.Repeat("x", 500<<10), "could not be reached"},
		{"long malformed status", strings.Repeat("x", 60<<10), "could not be reached"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ln.Close() })
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					br := bufio.NewReader(c)
					for {
						line, err := br.ReadString('\n')
						if err != nil || line == "\r\n" {
							break
						}
					}
					_, _ = c.Write([]byte("HTTP/1.1 " + tc.status + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
					_ = c.Close()
				}
			}()
			h := newNoticeHarness(t, localSender(), nil)
			tk := h.start(t, &NotifyInput{URL: "http://" + ln.Addr().String() + "/hook"})
			h.succeed(t, tk.ID)
			n := h.record(t, tk.ID).Notify
			if n.Status != sandstep.NoticePending || n.Attempts != 1 || !strings.Contains(n.LastError, tc.want) || len(n.LastError) > 1024 {
				t.Errorf("notice after the first attempt: status %s, attempts %d, lastError %.80q (%d bytes); want pending, 1, naming %q in at most 1 KB",
					n.Status, n.Attempts, n.LastError, len(n.LastError), tc.want)
			}
		})
	}
}
