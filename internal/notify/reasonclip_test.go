package notify

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// TestSendClipsTheReceiversReason: a failed attempt's message becomes
// the notice's lastError, kept in the task's record (at most 400 KB) and
// shown by GET /tasks/{id} and the task list. The status line's reason
// phrase is the receiver's to choose, up to the client's 10 MB of headers.
func TestSendClipsTheReceiversReason(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status string // the status line after "HTTP/1.1 "
		want   string // in the message
	}{
		{"short", "503 Service Unavailable", "503"},
		{"60 KB reason", "503 " + strings.Repeat("x", 60<<10), "503"},
		// Past the header's bound: refused as such.
		{"half a megabyte's reason", "503 " + strings.Repeat("x", 500<<10), "could not be reached"},
		// Not a status line: the client's error quotes it.
		{"60 KB malformed status", strings.Repeat("x", 60<<10), "could not be reached"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := rawReceiver(t, []byte("HTTP/1.1 "+tc.status+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			s := NewSender(Options{Local: true})
			err := s.Send(context.Background(), url, "dlv_1", []byte(`{}`), "")
			if sandstep.ErrorCode(err) != sandstep.ETRANSIENT {
				t.Fatalf("Send: %v, want ETRANSIENT", err)
			}
			msg := sandstep.ErrorMessage(err)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("message %.80q does not say %q", msg, tc.want)
			}
			if len(msg) > 512 {
				t.Errorf("message is %d bytes, want at most 512 (it becomes the notice's lastError)", len(msg))
			}
		})
	}
}

// rawReceiver answers one notice with answer, byte for byte (what an
// http.Handler cannot write: an over-long or malformed status line, a
// header of megabytes), and gives its URL.
func rawReceiver(t *testing.T, answer []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for { // the request's header; the body is not waited for
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		_, _ = c.Write(answer)
	}()
	return "http://" + ln.Addr().String() + "/hook"
}
