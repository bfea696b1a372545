package lambdatest

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// servedTime counts the time any request was in the handler once, however
// many were in it side by side, and leaves out a start's connection checks.
func TestServedTime(t *testing.T) {
	type req struct {
		method, path string
		start, end   int // ms on the test's clock
	}
	for _, tt := range []struct {
		name string
		reqs []req
		want int // ms
	}{
		{"one", []req{{"POST", "/", 0, 5}}, 5},
		{"one after another", []req{{"POST", "/", 0, 5}, {"POST", "/", 10, 12}}, 7},
		{"side by side", []req{{"POST", "/", 0, 5}, {"POST", "/", 1, 4}}, 5},
		{"overlapping", []req{{"POST", "/", 0, 5}, {"POST", "/", 3, 9}}, 9},
		{"connection checks left out", []req{{"GET", "/", 0, 5}, {"GET", "/api/health", 6, 8}, {"POST", "/api/sandbox", 10, 11}}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var clock time.Time
			at := func(ms int) {
				mu.Lock()
				defer mu.Unlock()
				clock = time.Unix(0, 0).Add(time.Duration(ms) * time.Millisecond)
			}
			st := &servedTime{now: func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				return clock
			}}
			release := make([]chan struct{}, len(tt.reqs))
			done := make([]chan struct{}, len(tt.reqs))
			for i := range tt.reqs {
				release[i], done[i] = make(chan struct{}), make(chan struct{})
			}
			entered := make(chan struct{})
			h := st.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				i, _ := strconv.Atoi(r.Header.Get("X-Req"))
				entered <- struct{}{}
				<-release[i]
			}))
			// In time order, a moment's ends before its starts; each
			// request is in the handler from its start to its end.
			for ms := 0; ms <= 20; ms++ {
				at(ms)
				for i, rq := range tt.reqs {
					if rq.end == ms {
						close(release[i])
						<-done[i]
					}
				}
				for i, rq := range tt.reqs {
					if rq.start != ms {
						continue
					}
					r := httptest.NewRequest(rq.method, rq.path, nil)
					r.Header.Set("X-Req", strconv.Itoa(i))
					go func() {
						defer close(done[i])
						h.ServeHTTP(httptest.NewRecorder(), r)
					}()
					<-entered
				}
			}
			if got := st.total(); got != time.Duration(tt.want)*time.Millisecond {
				t.Errorf("served %v, want %d ms", got, tt.want)
			}
		})
	}
}
