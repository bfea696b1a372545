package daytona

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The benchmarks measure the client's overhead per call on loopback. Each
// has a "bare" sub-benchmark doing the same HTTP exchange with a plain
// http.Client and encoding/json, so client/bare is the overhead ratio.

func benchServer(b *testing.B, body []byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func BenchmarkClientGetSandbox(b *testing.B) {
	body, _ := json.Marshal(sandboxJSON("sb-1", "ss-1", StateStarted, "http://127.0.0.1:1/toolbox"))
	srv := benchServer(b, body)
	ctx := context.Background()
	b.Run("client", func(b *testing.B) {
		c := newClient(b, srv.URL)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.GetSandbox(ctx, "sb-1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		hc := DefaultHTTPClient()
		b.ReportAllocs()
		for b.Loop() {
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/sandbox/sb-1", nil)
			req.Header.Set("Authorization", "Bearer "+testKey)
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var sb Sandbox
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err := json.Unmarshal(raw, &sb); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkClientExecute(b *testing.B) {
	body := []byte(`{"exitCode":0,"result":"` + string(bytes.Repeat([]byte("output line\\n"), 100)) + `"}`)
	srv := benchServer(b, body)
	ctx := context.Background()
	b.Run("client", func(b *testing.B) {
		c := newClient(b, srv.URL)
		c.remember("sb-1", srv.URL+"/toolbox")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.ExecuteCommand(ctx, "sb-1", ExecuteRequest{Command: "make test", Timeout: 30}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		hc := DefaultHTTPClient()
		b.ReportAllocs()
		for b.Loop() {
			in, _ := json.Marshal(ExecuteRequest{Command: "make test", Timeout: 30})
			req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/toolbox/sb-1/process/execute", bytes.NewReader(in))
			req.Header.Set("Authorization", "Bearer "+testKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var out ExecuteResponse
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err := json.Unmarshal(raw, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDemux(b *testing.B) {
	chunk := bytes.Repeat([]byte(StdoutMarker+"some output line here\n"+StderrMarker+"warning: ünïcode\n"), 200)
	d := NewDemuxer(io.Discard, io.Discard)
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		d.Write(chunk)
	}
}
