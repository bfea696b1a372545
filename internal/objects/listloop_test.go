package objects_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/sandstep/sandstep/internal/objects"
)

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
