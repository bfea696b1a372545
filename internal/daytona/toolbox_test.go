package daytona

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestUploadFilesMultipart(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	type part struct{ path, content string }
	var got []part
	var contentLength int64
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		contentLength = r.ContentLength
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		paths := map[string]string{}
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			b, _ := io.ReadAll(p)
			name := p.FormName()
			switch {
			case strings.HasSuffix(name, ".path"):
				paths[strings.TrimSuffix(name, ".path")] = string(b)
			case strings.HasSuffix(name, ".file"):
				if p.FileName() == "" {
					http.Error(w, "file part without filename", 400)
					return
				}
				got = append(got, part{paths[strings.TrimSuffix(name, ".file")], string(b)})
			}
		}
		w.WriteHeader(200)
	})
	c := toolboxClient(t, f, "sb-1")
	err := c.UploadFiles(context.Background(), "sb-1", []UploadFile{
		{Path: "/work/a.txt", Content: strings.NewReader("alpha")},
		{Path: "rel/dir/big.bin", Content: bytes.NewReader(big)},
		{Path: "/work/empty", Content: strings.NewReader("")},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []part{{"/work/a.txt", "alpha"}, {"rel/dir/big.bin", string(big)}, {"/work/empty", ""}}
	if len(got) != len(want) {
		t.Fatalf("got %d files, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].path != want[i].path || got[i].content != want[i].content {
			t.Errorf("file %d: %q (%d bytes), want %q (%d bytes)", i, got[i].path, len(got[i].content), want[i].path, len(want[i].content))
		}
	}
	if contentLength != -1 {
		t.Errorf("Content-Length %d: the body should be streamed (chunked), not buffered", contentLength)
	}
	r := f.requests()[0]
	if r.Method != "POST" || r.Path != "/toolbox/sb-1/files/bulk-upload" || !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data; boundary=") {
		t.Errorf("request %s %s %s", r.Method, r.Path, r.Header.Get("Content-Type"))
	}
	checkSDKHeaders(t, r.Header)
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("source broke") }

func TestUploadFilesErrors(t *testing.T) {
	t.Run("source read error names the file", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(200)
		})
		c := toolboxClient(t, f, "sb-1")
		err := c.UploadFiles(context.Background(), "sb-1", []UploadFile{{Path: "/work/x", Content: errReader{}}})
		if err == nil || !strings.Contains(err.Error(), "source broke") || !strings.Contains(err.Error(), "/work/x") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("server rejects early, no retry", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			writeJSON(w, 503, map[string]any{"message": "busy"})
		})
		c := toolboxClient(t, f, "sb-1")
		err := c.UploadFiles(context.Background(), "sb-1", []UploadFile{{Path: "/work/x", Content: bytes.NewReader(make([]byte, 1<<20))}})
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != 503 {
			t.Fatalf("err = %v", err)
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("%d requests; a streamed upload cannot be replayed", n)
		}
	})
	// A cancelled context stops at once (config.go), even while the
	// writer sits in a Read of a stalled source, which closing the pipe
	// does not wake.
	t.Run("cancelled while the source blocks: returns at once", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusOK)
		})
		c := toolboxClient(t, f, "sb-1")
		release := make(chan struct{})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		files := []UploadFile{
			{Path: "/tmp/a", Content: blockingReader{release}},
			{Path: "/tmp/b", Content: strings.NewReader("b")},
		}
		done := make(chan error, 1)
		go func() { done <- c.UploadFiles(ctx, "sb-1", files) }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want the deadline", err)
			}
		case <-time.After(3 * time.Second):
			close(release)
			t.Fatal("UploadFiles still running 3s after its context ended")
		}
		// The caller owns its slice again: the writer, woken by the
		// source, must not touch it (-race).
		close(release)
		files[1] = UploadFile{}
		time.Sleep(50 * time.Millisecond) // let the writer run
	})
}

// blockingReader blocks in Read until release is closed: a caller's
// content that stalls (a pipe, a network stream).
type blockingReader struct{ release chan struct{} }

func (b blockingReader) Read(p []byte) (int, error) {
	<-b.release
	return 0, io.EOF
}

func TestOutputBound(t *testing.T) {
	const limit = 1000
	big := strings.Repeat("é", 5000) // 10000 bytes
	tests := []struct {
		name  string
		body  string
		ctype string
		run   func(c *Client) (string, bool, error)
	}{
		{
			name: "execute result, exit code after it",
			body: fmt.Sprintf(`{"result":%q,"exitCode":137}`, big),
			run: func(c *Client) (string, bool, error) {
				r, err := c.ExecuteCommand(context.Background(), "sb-1", ExecuteRequest{Command: "x"})
				if err == nil && r.ExitCode != 137 {
					return "", false, fmt.Errorf("exit code %d, want 137", r.ExitCode)
				}
				if err != nil {
					return "", false, err
				}
				return r.Result, r.Truncated, nil
			},
		},
		{
			name: "sync session exec",
			body: fmt.Sprintf(`{"cmdId":"c1","stdout":%q,"stderr":"e","exitCode":1}`, big),
			run: func(c *Client) (string, bool, error) {
				r, err := c.ExecuteSessionCommand(context.Background(), "sb-1", "s", SessionExecuteRequest{Command: "x"})
				if err != nil {
					return "", false, err
				}
				if r.CmdID != "c1" || r.Stderr != "e" || r.ExitCode == nil || *r.ExitCode != 1 {
					return "", false, fmt.Errorf("response %+v", r)
				}
				return r.Stdout, r.Truncated, nil
			},
		},
		{
			name: "logs json",
			body: fmt.Sprintf(`{"output":"","stdout":%q,"stderr":""}`, big),
			run: func(c *Client) (string, bool, error) {
				r, err := c.GetSessionCommandLogs(context.Background(), "sb-1", "s", "c")
				if err != nil {
					return "", false, err
				}
				return r.Stdout, r.Truncated, nil
			},
		},
		{
			name: "logs text", body: big, ctype: "text/plain",
			run: func(c *Client) (string, bool, error) {
				r, err := c.GetSessionCommandLogs(context.Background(), "sb-1", "s", "c")
				if err != nil {
					return "", false, err
				}
				return r.Output, r.Truncated, nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				ct := tt.ctype
				if ct == "" {
					ct = "application/json"
				}
				w.Header().Set("Content-Type", ct)
				io.WriteString(w, tt.body)
			})
			c := toolboxClient(t, f, "sb-1", func(cfg *Config) { cfg.MaxOutputBytes = limit })
			out, truncated, err := tt.run(c)
			if err != nil {
				t.Fatal(err)
			}
			if !truncated || len(out) > limit || len(out) < limit-4 || !strings.HasPrefix(big, out) {
				t.Errorf("len %d truncated %v (want a prefix of <= %d bytes, flagged)", len(out), truncated, limit)
			}
		})
	}
}

// Output holds both streams and their markers: it passes the bound while
// each stream fits, and says so apart, so that a whole stdout and stderr
// are not reported cut.
func TestCombinedOutputPastTheBoundLeavesTheStreamsWhole(t *testing.T) {
	const limit = 1000
	half := strings.Repeat("a", 600)
	output := "\x01\x01\x01" + half + "\x02\x02\x02" + half
	js := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	tests := []struct {
		name string
		body string
		run  func(c *Client) (stdout, stderr string, truncated, outputTruncated bool, err error)
	}{
		{
			name: "sync session exec",
			body: fmt.Sprintf(`{"cmdId":"c1","output":%s,"stdout":%s,"stderr":%s,"exitCode":0}`, js(output), js(half), js(half)),
			run: func(c *Client) (string, string, bool, bool, error) {
				r, err := c.ExecuteSessionCommand(context.Background(), "sb-1", "s", SessionExecuteRequest{Command: "x"})
				if err != nil {
					return "", "", false, false, err
				}
				return r.Stdout, r.Stderr, r.Truncated, r.OutputTruncated, nil
			},
		},
		{
			name: "logs json",
			body: fmt.Sprintf(`{"output":%s,"stdout":%s,"stderr":%s}`, js(output), js(half), js(half)),
			run: func(c *Client) (string, string, bool, bool, error) {
				r, err := c.GetSessionCommandLogs(context.Background(), "sb-1", "s", "c")
				if err != nil {
					return "", "", false, false, err
				}
				return r.Stdout, r.Stderr, r.Truncated, r.OutputTruncated, nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tt.body)
			})
			c := toolboxClient(t, f, "sb-1", func(cfg *Config) { cfg.MaxOutputBytes = limit })
			stdout, stderr, truncated, outputTruncated, err := tt.run(c)
			if err != nil {
				t.Fatal(err)
			}
			if stdout != half || stderr != half || truncated || !outputTruncated {
				t.Errorf("stdout %d bytes, stderr %d, truncated %v, output truncated %v; want both whole (600), not truncated, output truncated",
					len(stdout), len(stderr), truncated, outputTruncated)
			}
		})
	}
}

func TestSessionExecRejectsMissingCmdID(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 202, map[string]any{})
	})
	c := toolboxClient(t, f, "sb-1")
	_, err := c.ExecuteSessionCommand(context.Background(), "sb-1", "s", SessionExecuteRequest{Command: "x", RunAsync: true})
	if err == nil || !strings.Contains(err.Error(), "cmdId") {
		t.Fatalf("err = %v", err)
	}
}

func TestToolboxErrors(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		run      func(c *Client) error
		check    func(error) bool
		wantCode string
	}{
		{
			name: "download not found", status: 404,
			body: `{"statusCode":404,"message":"file not found","code":"FILE_NOT_FOUND","path":"/files/download","timestamp":"t"}`,
			run: func(c *Client) error {
				_, err := c.DownloadFile(context.Background(), "sb-1", "/nope", io.Discard)
				return err
			},
			check: IsNotFound, wantCode: "FILE_NOT_FOUND",
		},
		{
			name: "session exists", status: 409,
			body:  `{"statusCode":409,"message":"session already exists","code":"CONFLICT","path":"/process/session","timestamp":"t"}`,
			run:   func(c *Client) error { return c.CreateSession(context.Background(), "sb-1", "s") },
			check: func(err error) bool { return !IsTransient(err) }, wantCode: "CONFLICT",
		},
		{
			name: "git auth", status: 401,
			body: `{"statusCode":401,"message":"authentication required","code":"GIT_AUTH_FAILED","path":"/git/clone","timestamp":"t"}`,
			run: func(c *Client) error {
				return c.GitClone(context.Background(), "sb-1", GitCloneRequest{URL: "https://x/y.git", Path: "y"})
			},
			check: func(err error) bool { return !IsTransient(err) }, wantCode: "GIT_AUTH_FAILED",
		},
		{
			name: "proxy empty 502 on a stopped sandbox", status: 502, body: "",
			run:   func(c *Client) error { return c.DeleteSession(context.Background(), "sb-1", "s") },
			check: IsTransient,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				if tt.body != "" {
					w.Header().Set("Content-Type", "application/json")
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			c := toolboxClient(t, f, "sb-1", func(cfg *Config) { cfg.Retry.MaxAttempts = 1 })
			err := tt.run(c)
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != tt.status || ae.Code != tt.wantCode || !tt.check(err) {
				t.Fatalf("err = %v (%+v)", err, ae)
			}
		})
	}
}

// An execute answer without an exit code says nothing of how the command
// ended; read as 0 it would report a command that failed, or never ran,
// as succeeded.
func TestExecuteWithoutExitCodeIsAnError(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr bool
	}{
		{name: "exit code absent", body: `{"result":"done\n"}`, wantErr: true},
		{name: "exit code null", body: `{"exitCode":null,"result":""}`, wantErr: true},
		{name: "empty object", body: `{}`, wantErr: true},
		{name: "exit code 0", body: `{"exitCode":0,"result":"ok"}`},
		{name: "exit code 3", body: `{"result":"","exitCode":3}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tt.body)
			})
			c := toolboxClient(t, f, "sb-1")
			res, err := c.ExecuteCommand(context.Background(), "sb-1", ExecuteRequest{Command: "make", Timeout: 5})
			if !tt.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				var want ExecuteResponse
				_ = json.Unmarshal([]byte(tt.body), &want)
				if res.ExitCode != want.ExitCode {
					t.Errorf("exit code %d, want %d", res.ExitCode, want.ExitCode)
				}
				return
			}
			if err == nil {
				t.Fatalf("answer %s read as exit %d, want an error", tt.body, res.ExitCode)
			}
			if !errors.Is(err, ErrNoExitCode) || IsTransient(err) {
				t.Errorf("err = %v (transient %v); want ErrNoExitCode, not transient: the command may have run", err, IsTransient(err))
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("%d requests; the command must not be sent again", n)
			}
		})
	}
}
