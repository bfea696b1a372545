// Package txtoken makes a DynamoDB stand-in honour the ClientRequestToken
// of TransactWriteItems, as DynamoDB does and the embedded minidyn does not:
// a call repeating, within ten minutes, the token of one that succeeded
// succeeds without writing again, and one that repeats it with other items
// is refused. The store relies on it when a transaction's answer is lost
// and its client sends it again.
package txtoken

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Window is how long DynamoDB keeps a token after the call that used it.
const Window = 10 * time.Minute

const target = "DynamoDB_20120810.TransactWriteItems"

// Wrap returns h honouring TransactWriteItems' tokens; now is the clock
// (nil: time.Now).
func Wrap(h http.Handler, now func() time.Time) http.Handler {
	if now == nil {
		now = time.Now
	}
	return &tokens{next: h, now: now, seen: map[string]*use{}}
}

type tokens struct {
	next http.Handler
	now  func() time.Time

	mu   sync.Mutex
	seen map[string]*use
	// done are the tokens of calls that succeeded, oldest first, to
	// forget each once its window has passed.
	done []string
}

// use is a token's call: the items it carried, and when it succeeded
// (zero while it runs).
type use struct {
	items [sha256.Size]byte
	done  time.Time
}

func (t *tokens) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") != target {
		t.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		fail(w, "SerializationException", "the request's body could not be read")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var in struct {
		ClientRequestToken string
		TransactItems      json.RawMessage
	}
	if json.Unmarshal(body, &in) != nil || in.ClientRequestToken == "" {
		t.next.ServeHTTP(w, r)
		return
	}
	items, ok := digest(in.TransactItems)
	if !ok {
		t.next.ServeHTTP(w, r)
		return
	}

	t.mu.Lock()
	now := t.now()
	for len(t.done) > 0 && now.Sub(t.seen[t.done[0]].done) > Window {
		delete(t.seen, t.done[0])
		t.done = t.done[1:]
	}
	u, ok := t.seen[in.ClientRequestToken]
	switch {
	case ok && u.items != items:
		t.mu.Unlock()
		fail(w, "IdempotentParameterMismatchException", "the client token was used by a request with other items")
		return
	case ok && u.done.IsZero():
		t.mu.Unlock()
		fail(w, "TransactionInProgressException", "the transaction with this client token is still in progress")
		return
	case ok:
		t.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = io.WriteString(w, "{}")
		return
	}
	u = &use{items: items}
	t.seen[in.ClientRequestToken] = u
	t.mu.Unlock()

	rec := httptest.NewRecorder()
	t.next.ServeHTTP(rec, r)
	t.mu.Lock()
	if rec.Code == http.StatusOK {
		u.done = t.now()
		t.done = append(t.done, in.ClientRequestToken)
	} else {
		// A call that failed consumed nothing: the token may be used again.
		delete(t.seen, in.ClientRequestToken)
	}
	t.mu.Unlock()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// digest identifies items by their meaning, not their bytes: a client
// encodes maps in any order (the Go SDK does, its expression values).
func digest(items json.RawMessage) ([sha256.Size]byte, bool) {
	var v any
	if json.Unmarshal(items, &v) != nil {
		return [sha256.Size]byte{}, false
	}
	canon, err := json.Marshal(v) // map keys sorted
	if err != nil {
		return [sha256.Size]byte{}, false
	}
	return sha256.Sum256(canon), true
}

// fail answers as DynamoDB answers a client error of type code.
func fail(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(http.StatusBadRequest)
	b, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#" + code, "message": msg})
	_, _ = w.Write(b)
}
