package objects_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sandstep/sandstep/internal/objects"
)

// S3 may answer a page with fewer keys than max-keys and more to come
// (IsTruncated, NextContinuationToken): List reads on, or a caller taking
// a short page for the end (the task logs' readers) skips keys that exist.
func TestListReadsOnPastAShortTruncatedPage(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("continuation-token") == "" {
			fmt.Fprint(w, `<ListBucketResult><IsTruncated>true</IsTruncated><KeyCount>2</KeyCount><MaxKeys>`+q.Get("max-keys")+`</MaxKeys>`+
				`<NextContinuationToken>tok2</NextContinuationToken>`+
				`<Contents><Key>t1/log/1</Key></Contents><Contents><Key>t1/log/2</Key></Contents></ListBucketResult>`)
			return
		}
		fmt.Fprint(w, `<ListBucketResult><IsTruncated>false</IsTruncated><KeyCount>2</KeyCount>`+
			`<Contents><Key>t1/log/3</Key></Contents><Contents><Key>t1/log/4</Key></Contents></ListBucketResult>`)
	}))
	t.Cleanup(hs.Close)
	b := bucketAt(t, hs.URL, objects.Options{})
	keys, err := b.List(context.Background(), "t1/log/", "", 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keys, ","); got != "t1/log/1,t1/log/2,t1/log/3" {
		t.Errorf("List(limit 3) = [%s]; S3 said the listing was truncated, want the first 3 keys", got)
	}
}

// A listing that answers the same truncated page to its own token (a
// stand-in that ignores continuation-token) ends List, not a loop.
func TestListStopsWhenAPageDoesNotMoveOn(t *testing.T) {
	var n atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		truncated := "true"
		if n.Add(1) >= 50 { // end the test's loop; S3 stand-ins never do
			truncated = "false"
		}
		fmt.Fprint(w, `<ListBucketResult><IsTruncated>`+truncated+`</IsTruncated><NextContinuationToken>tok</NextContinuationToken>`+
			`<Contents><Key>t1/log/1</Key></Contents><Contents><Key>t1/log/2</Key></Contents></ListBucketResult>`)
	}))
	t.Cleanup(hs.Close)
	b := bucketAt(t, hs.URL, objects.Options{})
	keys, err := b.List(context.Background(), "t1/log/", "", 10)
	if got := n.Load(); got > 3 {
		t.Fatalf("List = %v, %v after %d requests for a listing that repeats one page with one token; want it to stop once a page brings nothing new", keys, err, got)
	}
}
