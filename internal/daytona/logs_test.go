package daytona

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsLogServer answers the follow socket with frames, then closes with code.
func wsLogServer(t *testing.T, frames [][]byte, gap time.Duration, code websocket.StatusCode) *fake {
	return newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if !strings.HasSuffix(r.URL.Path, "/logs") || r.URL.Query().Get("follow") != "true" {
			http.NotFound(w, r)
			return
		}
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		for _, f := range frames {
			if err := conn.Write(r.Context(), websocket.MessageBinary, f); err != nil {
				return
			}
			if gap > 0 {
				time.Sleep(gap)
			}
		}
		conn.Close(code, "")
	})
}

func follow(t *testing.T, f *fake, mods ...func(*Config)) (string, string, error) {
	t.Helper()
	c := toolboxClient(t, f, "sb-1", mods...)
	var so, se bytes.Buffer
	err := c.FollowSessionCommandLogs(context.Background(), "sb-1", "job-1", "cmd-1", &so, &se)
	return so.String(), se.String(), err
}

func TestFollowLogsFrames(t *testing.T) {
	const O, E = StdoutMarker, StderrMarker
	tests := []struct {
		name           string
		frames         []string
		stdout, stderr string
	}{
		{"one frame", []string{O + "hello\n" + E + "oops\n"}, "hello\n", "oops\n"},
		{"interleaved frames", []string{O + "a\n", E + "b\n", O + "c\n", E + "d\n"}, "a\nc\n", "b\nd\n"},
		{"marker split across frames", []string{O + "a\n\x02", "\x02", "\x02b\n"}, "a\n", "b\n"},
		{"utf8 split across frames", []string{O + "gr\xc3", "\xbc\xc3\x9f " + E + "\xf0\x9f", "\x98\x80\n"}, "grüß ", "😀\n"},
		{"no markers (old daemon)", []string{"plain ", "text\n"}, "plain text\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var frames [][]byte
			for _, f := range tt.frames {
				frames = append(frames, []byte(f))
			}
			f := wsLogServer(t, frames, 0, websocket.StatusNormalClosure)
			so, se, err := follow(t, f)
			if err != nil {
				t.Fatal(err)
			}
			if so != tt.stdout || se != tt.stderr {
				t.Errorf("stdout %q stderr %q, want %q %q", so, se, tt.stdout, tt.stderr)
			}
		})
	}
}

func TestFollowLogsEveryFrameBoundary(t *testing.T) {
	log := []byte(StdoutMarker + "ünïcode out\n" + StderrMarker + "err ✗\n" + StdoutMarker + "done\n")
	wantO, wantE := refDemux(log)
	// The session id carries the cut offset: /toolbox/sb-1/process/session/<cut>/...
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		parts := strings.Split(r.URL.Path, "/")
		cut, err := strconv.Atoi(parts[5])
		if err != nil || cut > len(log) {
			http.Error(w, "bad cut", 400)
			return
		}
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		conn.Write(r.Context(), websocket.MessageBinary, log[:cut])
		conn.Write(r.Context(), websocket.MessageBinary, log[cut:])
		conn.Close(websocket.StatusNormalClosure, "")
	})
	c := toolboxClient(t, f, "sb-1")
	for cut := 0; cut <= len(log); cut++ {
		var so, se bytes.Buffer
		if err := c.FollowSessionCommandLogs(context.Background(), "sb-1", strconv.Itoa(cut), "c", &so, &se); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if !bytes.Equal(so.Bytes(), wantO) || !bytes.Equal(se.Bytes(), wantE) {
			t.Fatalf("cut %d: stdout %q stderr %q", cut, so.Bytes(), se.Bytes())
		}
	}
}

func TestFollowLogsHandshake(t *testing.T) {
	var hdr http.Header
	var path, query string
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		hdr, path, query = r.Header.Clone(), r.URL.EscapedPath(), r.URL.RawQuery
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		conn.Close(websocket.StatusNormalClosure, "")
	})
	if _, _, err := follow(t, f); err != nil {
		t.Fatal(err)
	}
	if path != "/toolbox/sb-1/process/session/job-1/command/cmd-1/logs" || query != "follow=true" {
		t.Errorf("handshake %s?%s", path, query)
	}
	checkSDKHeaders(t, hdr)
}

func TestFollowLogsFailures(t *testing.T) {
	t.Run("handshake refused with 502", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { w.WriteHeader(502) })
		_, _, err := follow(t, f)
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != 502 || !IsTransient(err) {
			t.Fatalf("err = %v, want a transient 502 *APIError", err)
		}
	})
	t.Run("closed with 1011 keeps the output so far", func(t *testing.T) {
		f := wsLogServer(t, [][]byte{[]byte(StdoutMarker + "partial\n")}, 0, websocket.StatusInternalError)
		so, _, err := follow(t, f)
		if err == nil || !strings.Contains(err.Error(), "1011") {
			t.Fatalf("err = %v, want the close status", err)
		}
		if so != "partial\n" {
			t.Errorf("stdout = %q", so)
		}
	})
	t.Run("context cancelled mid-stream", func(t *testing.T) {
		f := wsLogServer(t, [][]byte{[]byte("a"), []byte("b")}, 5*time.Second, websocket.StatusNormalClosure)
		c := toolboxClient(t, f, "sb-1")
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := c.FollowSessionCommandLogs(ctx, "sb-1", "s", "c", nil, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("stream outlives the response-header timeout", func(t *testing.T) {
		f := wsLogServer(t, [][]byte{[]byte("a"), []byte("b"), []byte("c")}, 100*time.Millisecond, websocket.StatusNormalClosure)
		so, _, err := follow(t, f, func(c *Config) { c.ResponseHeaderTimeout = 30 * time.Millisecond })
		if err != nil || so != "abc" {
			t.Fatalf("stdout, err = %q, %v", so, err)
		}
	})
	t.Run("writer error", func(t *testing.T) {
		f := wsLogServer(t, [][]byte{[]byte("a")}, 0, websocket.StatusNormalClosure)
		c := toolboxClient(t, f, "sb-1")
		err := c.FollowSessionCommandLogs(context.Background(), "sb-1", "s", "c", failWriter{}, nil)
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("err = %v", err)
		}
	})
}
