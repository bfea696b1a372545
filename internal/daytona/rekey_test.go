package daytona

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// boundedReread is a Config.RereadKey as its contract has it: it reads
// the parameter (now holding key) at most once, and answers what that
// read found after (it bounds how often it reads); reads counts the
// calls.
type boundedReread struct {
	key   string
	reads atomic.Int32
}

func (b *boundedReread) reread(context.Context) (string, error) {
	b.reads.Add(1)
	return b.key, nil
}

// Calls in flight on one client (the client is for concurrent use) when
// the operator revokes the old key all meet Daytona's 401. One of them
// reads the rotated key; the others, refused with the key the client no
// longer holds, must go again with the one it holds now rather than fail
// while the client has a key Daytona accepts (their reread answers the
// key the other read a moment ago, now the key held).
func TestConcurrentRefusalsUseTheKeyReadByAnother(t *testing.T) {
	const newKey = "dtn_NEW_0123456789abcdef0123456789abcdef"
	cases := []struct {
		name  string
		calls int
	}{
		{"two calls", 2},
		{"eight calls", 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Every call sent with the old key waits until all have
			// arrived, then is refused: they fail together.
			var arrived sync.WaitGroup
			arrived.Add(tc.calls)
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				if r.Header.Get("Authorization") != "Bearer "+newKey {
					arrived.Done()
					arrived.Wait()
					refuseKey(w)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				id := strings.TrimPrefix(r.URL.Path, "/sandbox/")
				w.Write([]byte(`{"id":"` + id + `","state":"started"}`))
			})
			rr := &boundedReread{key: newKey}
			c := newClient(t, f.URL, func(cfg *Config) { cfg.RereadKey = rr.reread })
			var wg sync.WaitGroup
			errs := make([]error, tc.calls)
			for i := range tc.calls {
				wg.Go(func() {
					_, errs[i] = c.GetSandbox(context.Background(), "sb-"+string(rune('a'+i)))
				})
			}
			wg.Wait()
			failed := 0
			for _, err := range errs {
				if err != nil {
					failed++
					t.Logf("refused: %v", err)
				}
			}
			if failed > 0 {
				t.Errorf("%d of %d calls failed with the client holding the key Daytona accepts", failed, tc.calls)
			}
			if n := rr.reads.Load(); n > int32(tc.calls) {
				t.Errorf("%d rereads for %d calls", n, tc.calls)
			}
		})
	}
}

// A 401 is the key refused only when Daytona says so: the toolbox's
// GIT_AUTH_FAILED is the caller's git token refused by the repository.
// Taken for the key, it would spend the instance's one reread a minute
// and send the clone again. Otherwise Daytona's 401 reads the key again
// and the call goes once more.
func TestOnlyAKeyRefusedReadsTheKeyAgain(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantReads int32
		wantSent  int32
	}{
		{"the key refused", `{"statusCode":401,"message":"Invalid API key","error":"Unauthorized"}`, 1, 2},
		{"the git token refused", `{"statusCode":401,"message":"authentication required","code":"GIT_AUTH_FAILED"}`, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sent atomic.Int32
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				sent.Add(1)
				writeJSON(w, http.StatusUnauthorized, json.RawMessage(tt.body))
			})
			rr := &boundedReread{key: "dtn_NEW_0123456789abcdef0123456789abcdef"}
			c := newClient(t, f.URL, func(cfg *Config) { cfg.RereadKey = rr.reread })
			if _, err := c.GetSandbox(context.Background(), "sb-a"); err == nil {
				t.Fatal("a refused call succeeded")
			}
			if n := rr.reads.Load(); n != tt.wantReads {
				t.Errorf("%d rereads, want %d", n, tt.wantReads)
			}
			if n := sent.Load(); n != tt.wantSent {
				t.Errorf("%d requests sent, want %d", n, tt.wantSent)
			}
		})
	}
}
