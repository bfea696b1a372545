package githubapp

import (
	"context"
	"maps"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// One comment, edited as the task progresses; written anew if deleted.
func TestUpsertComment(t *testing.T) {
	f := newFake(t)
	c := f.client(t)
	ctx := context.Background()
	rp := f.repos[testRepo]
	comment := func() map[int64]string {
		f.mu.Lock()
		defer f.mu.Unlock()
		return maps.Clone(rp.comments)
	}

	id, err := c.UpsertComment(ctx, testInstallation, testRepo, 3, 0, "queued")
	if err != nil {
		t.Fatal(err)
	}
	if got := comment(); !reflect.DeepEqual(got, map[int64]string{id: "queued"}) {
		t.Fatalf("comments %v after the first write", got)
	}
	id2, err := c.UpsertComment(ctx, testInstallation, testRepo, 3, id, "running")
	if err != nil || id2 != id {
		t.Fatalf("edit = %d, %v; want %d", id2, err, id)
	}
	if got := comment(); !reflect.DeepEqual(got, map[int64]string{id: "running"}) {
		t.Fatalf("comments %v after the edit: want one comment, edited", got)
	}

	f.mu.Lock()
	delete(rp.comments, id) // someone deleted it
	f.mu.Unlock()
	id3, err := c.UpsertComment(ctx, testInstallation, testRepo, 3, id, "done")
	if err != nil || id3 == id {
		t.Fatalf("after a deletion = %d, %v; want a new comment", id3, err)
	}
	if got := comment(); !reflect.DeepEqual(got, map[int64]string{id3: "done"}) {
		t.Fatalf("comments %v", got)
	}
	for _, r := range f.mintedRequests() {
		if !reflect.DeepEqual(r.Permissions, map[string]string{"issues": "write"}) {
			t.Errorf("a comment asked for %v, want issues: write only", r.Permissions)
		}
	}
	if n := len(f.mintedRequests()); n != 1 {
		t.Errorf("%d tokens minted for three comments, want 1 (cached)", n)
	}
}

func TestUpsertCommentBadArguments(t *testing.T) {
	tests := []struct {
		name      string
		issue     int
		commentID int64
		field     string
	}{
		{"no issue", 0, 0, "issue"},
		{"negative comment id", 1, -1, "commentID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			_, err := f.client(t).UpsertComment(context.Background(), testInstallation, testRepo, tt.issue, tt.commentID, "x")
			if sandstep.ErrorField(err) != tt.field {
				t.Fatalf("%v, want EINVALID naming %s", err, tt.field)
			}
		})
	}
}

// A body over GitHub's limit is cut to fit (the fake refuses a longer one
// as GitHub does) and says so.
func TestUpsertCommentLongBody(t *testing.T) {
	f := newFake(t)
	c := f.client(t)
	body := strings.Repeat("log line ✓\n", 10_000) // 110,000 characters
	id, err := c.UpsertComment(context.Background(), testInstallation, testRepo, 3, 0, body)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	got := f.repos[testRepo].comments[id]
	f.mu.Unlock()
	if !strings.HasSuffix(got, cutMarker) || !strings.HasPrefix(body, strings.TrimSuffix(got, cutMarker)) {
		t.Errorf("the stored comment is not the body's head and the marker: ...%q", got[len(got)-80:])
	}
}

func TestCutBody(t *testing.T) {
	const limit = 100
	tests := []struct {
		name string
		body string
		cut  bool
	}{
		{"short", "hello", false},
		{"exactly the limit", strings.Repeat("a", limit), false},
		{"one over", strings.Repeat("a", limit+1), true},
		{"multibyte at the limit", strings.Repeat("é", limit), false},
		{"multibyte over", strings.Repeat("é", limit+1), true},
		{"astral runes count twice", strings.Repeat("😀", limit/2+1), true},
		{"an open code block", "```\n" + strings.Repeat("x", limit), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cutBody(tt.body, limit)
			if !tt.cut {
				if got != tt.body {
					t.Errorf("cut a body that fits: %q", got)
				}
				return
			}
			if n := chars(got); n > limit {
				t.Errorf("%d UTF-16 units, over %d", n, limit)
			}
			if !utf8.ValidString(got) {
				t.Error("cut inside a character")
			}
			if !strings.HasSuffix(got, cutMarker) {
				t.Errorf("no marker: %q", got)
			}
			if strings.Count(got, "```")%2 != 0 {
				t.Errorf("a code block left open: %q", got)
			}
			head := strings.TrimSuffix(strings.TrimSuffix(got, cutMarker), "\n```")
			if !strings.HasPrefix(tt.body, head) || head == "" {
				t.Errorf("the kept part %q is not the body's head", head)
			}
		})
	}
}
