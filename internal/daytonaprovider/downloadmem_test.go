package daytonaprovider

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
)

// An artifact is read whole (up to 100 MB) before it is stored. Read
// into a buffer that doubles as it fills, a 100 MiB file allocated 256 MiB,
// 192 MiB of it live at once, and a collect of two such artifacts took the
// execute function (512 MB) past its memory: the task, whose command
// succeeded, failed and its artifacts were lost. The daemon announces a
// file's size (Content-Length): the download takes that much, once.
func TestDownloadAllocatesTheFileOnce(t *testing.T) {
	cases := []struct {
		name string
		size int
	}{
		{"just over a power of two", 16<<20 + 1},
		{"just under one", 16<<20 - 1},
		{"between", 24 << 20},
	}
	chunk := make([]byte, 32<<10)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hs *httptest.Server
			hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/api/sandbox/sb-1":
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, `{"id":"sb-1","name":"sb-1","state":"started","desiredState":"started","toolboxProxyUrl":"`+hs.URL+`/toolbox"}`)
				case "/toolbox/sb-1/files/download":
					w.Header().Set("Content-Type", "application/octet-stream")
					w.Header().Set("Content-Length", strconv.Itoa(tc.size))
					for left := tc.size; left > 0; left -= len(chunk) {
						if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
							return
						}
					}
				default:
					http.NotFound(w, r)
				}
			}))
			p := providerBehind(t, hs, Options{})
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			got, err := p.Download(context.Background(), "sb-1", "out.bin", 100<<20)
			runtime.ReadMemStats(&after)
			if err != nil || len(got) != tc.size {
				t.Fatalf("Download = %d bytes, %v; want %d", len(got), err, tc.size)
			}
			// The file once, and what a request costs besides (well under
			// a MiB): not the file's size again.
			allocated := after.TotalAlloc - before.TotalAlloc
			if bound := uint64(tc.size) + 1<<20; allocated > bound {
				t.Errorf("downloading %d bytes allocated %d (%.1f×), want at most %d", tc.size, allocated, float64(allocated)/float64(tc.size), bound)
			}
		})
	}
}
