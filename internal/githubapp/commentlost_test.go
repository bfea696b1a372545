package githubapp

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// A new comment GitHub wrote but whose answer never came back (a 502 from
// its front end, the connection cut after the write): the task's later
// writes (the ended comment, with the id the first write answered) must
// land on that comment. README: "One comment on the issue follows the
// task: written when it starts, edited when it ends". Otherwise the
// issue keeps a comment saying "started" for ever, and the end is a
// second comment.
func TestCommentWhoseAnswerWasLostIsFound(t *testing.T) {
	tests := []struct {
		name       string
		loseAnswer func(w http.ResponseWriter)
	}{
		{"a 502 after the write", func(w http.ResponseWriter) {
			ghError(w, http.StatusBadGateway, "Server Error")
		}},
		{"the connection cut after the write", func(w http.ResponseWriter) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			c := f.client(t)
			ctx := context.Background()
			var once sync.Once
			f.fault = func(w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/issues/3/comments") {
					return false
				}
				hit := false
				once.Do(func() { hit = true })
				if !hit {
					return false
				}
				f.serve(httptest.NewRecorder(), r) // GitHub writes the comment...
				tt.loseAnswer(w)                   // ...and its answer is lost
				return true
			}
			id, err := c.UpsertComment(ctx, testInstallation, testRepo, 3, 0, "started")
			if err != nil {
				t.Logf("the started comment: %v", err)
				id = 0 // as the service keeps it: no id
			}
			if _, err := c.UpsertComment(ctx, testInstallation, testRepo, 3, id, "ended"); err != nil {
				t.Fatalf("the ended comment: %v", err)
			}
			f.mu.Lock()
			got := maps.Clone(f.repos[testRepo].comments)
			f.mu.Unlock()
			if len(got) != 1 {
				t.Errorf("the issue's comments: %v; want one, saying ended", got)
			}
		})
	}
}
