package store_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/store"
)

// A take whose answer was lost and whose client's retry then met a
// conflict (the rate's items are the hottest) is tried again under its own
// name: counted once.
func TestRateTakeLostThenConflictedIsCountedOnce(t *testing.T) {
	clk := newClock()
	var n atomic.Int32
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			if !bytes.Contains(b, []byte("RATE#")) || !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".UpdateItem") || !bytes.Contains(b, []byte("lastTake")) {
				h.ServeHTTP(w, r)
				return
			}
			switch n.Add(1) {
			case 1: // lands, answer lost
				h.ServeHTTP(httptest.NewRecorder(), r)
				answerLost(w)
			case 2: // the retry meets a transaction on the item
				answerConflict(w)
			default:
				h.ServeHTTP(w, r)
			}
		})
	}
	st, _ := storeBehind(t, wrap, store.Options{CreateRate: 2, CreateWindow: time.Minute, Now: clk.Now})
	c := ctx(t)
	if err := reserve(c, st, "u", "a"); err != nil {
		t.Fatal(err)
	}
	if n.Load() < 3 {
		t.Fatalf("only %d rate updates seen: the test did not test", n.Load())
	}
	if err := reserve(c, st, "v", "b"); err != nil {
		t.Fatalf("second create of a window of 2 (the first's take: answer lost, then a conflict) = %v; want nil (the first create was counted twice)", err)
	}
}
