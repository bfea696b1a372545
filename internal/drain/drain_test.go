package drain

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/awsjson"
)

// fakeParameters holds one parameter, counts reads and fails on demand.
type fakeParameters struct {
	value   *string // nil: no such parameter
	err     error
	reads   int
	lastKey string
}

func (f *fakeParameters) GetParameter(_ context.Context, name string, _ bool) (string, error) {
	f.reads++
	f.lastKey = name
	if f.err != nil {
		return "", f.err
	}
	if f.value == nil {
		return "", &awsjson.APIError{Code: "ParameterNotFound", StatusCode: 400}
	}
	return *f.value, nil
}

func ptr(s string) *string { return &s }

func TestValues(t *testing.T) {
	tests := []struct {
		name  string
		value *string
		want  bool
	}{
		{"true drains", ptr("true"), true},
		{"true with a newline drains", ptr("true\n"), true},
		{"false", ptr("false"), false},
		{"empty", ptr(""), false},
		{"anything else", ptr("yes"), false},
		{"another case is not the value", ptr("TRUE"), false},
		{"no parameter", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakeParameters{value: tt.value}
			if got := New(p, "/sandstep/drain", Options{}).Drained(context.Background()); got != tt.want {
				t.Errorf("Drained = %v, want %v", got, tt.want)
			}
			if p.lastKey != "/sandstep/drain" {
				t.Errorf("read %q", p.lastKey)
			}
		})
	}
}

// A read is trusted for MaxAge, never longer, whatever the option asks.
func TestCache(t *testing.T) {
	tests := []struct {
		name   string
		maxAge time.Duration
		after  time.Duration // since the first read
		reads  int           // in all, after a second call
	}{
		{"within the default age", 0, MaxAge - time.Millisecond, 1},
		{"at the default age", 0, MaxAge, 2},
		{"an age over the most is cut to it", time.Hour, MaxAge, 2},
		{"within a shorter age", 5 * time.Second, 4 * time.Second, 1},
		{"past a shorter age", 5 * time.Second, 5 * time.Second, 2},
		{"no cache", -1, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
			p := &fakeParameters{value: ptr("true")}
			s := New(p, "/d", Options{MaxAge: tt.maxAge, Now: func() time.Time { return now }})
			if !s.Drained(context.Background()) {
				t.Fatal("not drained")
			}
			*p.value = "false"
			now = now.Add(tt.after)
			got := s.Drained(context.Background())
			if p.reads != tt.reads {
				t.Errorf("%d reads, want %d", p.reads, tt.reads)
			}
			if want := tt.reads == 1; got != want {
				t.Errorf("Drained = %v after %s, want %v", got, tt.after, want)
			}
		})
	}
}

// A failed read keeps what was known, logs, and is not tried again
// within the age.
func TestReadFailure(t *testing.T) {
	tests := []struct {
		name  string
		known *string // what a first read found; nil: no read before the failure
		want  bool
	}{
		{"fails open before any read", nil, false},
		{"stays drained", ptr("true"), true},
		{"stays resumed", ptr("false"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
			var logs bytes.Buffer
			p := &fakeParameters{value: tt.known}
			s := New(p, "/d", Options{Now: func() time.Time { return now }, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			if tt.known != nil {
				s.Drained(context.Background())
				now = now.Add(MaxAge)
			}
			p.err = &awsjson.APIError{Code: "ThrottlingException", StatusCode: 400}
			if got := s.Drained(context.Background()); got != tt.want {
				t.Errorf("Drained = %v, want %v", got, tt.want)
			}
			if !strings.Contains(logs.String(), "the drain switch was not read") {
				t.Errorf("no warning logged: %s", logs.String())
			}
			reads := p.reads
			now = now.Add(MaxAge - time.Second)
			s.Drained(context.Background())
			if p.reads != reads {
				t.Errorf("a failed read was tried again within MaxAge")
			}
		})
	}
}

// A read that hangs is given up on: the caller's create is not held up.
func TestReadIsBounded(t *testing.T) {
	p := hangingParameters{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if New(p, "/d", Options{}).Drained(ctx) {
		t.Error("a read that never answered drained")
	}
}

type hangingParameters struct{}

func (hangingParameters) GetParameter(ctx context.Context, _ string, _ bool) (string, error) {
	<-ctx.Done()
	return "", ctx.Err()
}

// BenchmarkDrainedCached is what a warm instance pays per operation for
// the switch: a read of its cache, no round trip.
func BenchmarkDrainedCached(b *testing.B) {
	p := &fakeParameters{value: ptr("false")}
	s := New(p, "/d", Options{})
	ctx := context.Background()
	s.Drained(ctx)
	for b.Loop() {
		s.Drained(ctx)
	}
	if p.reads != 1 {
		b.Fatalf("%d reads for a cached switch", p.reads)
	}
}

// Renew reads again once the value is half its age old, so the next
// Drained answers the new value without a read of its own.
func TestRenew(t *testing.T) {
	tests := []struct {
		name   string
		maxAge time.Duration
		first  bool          // Drained was asked before
		after  time.Duration // since then
		reads  bool          // Renew reads
	}{
		{"young", 0, true, MaxAge/2 - time.Millisecond, false},
		{"half its age", 0, true, MaxAge / 2, true},
		{"half a shorter age", 10 * time.Second, true, 5 * time.Second, true},
		{"never read: Drained reads", 0, false, 0, false},
		{"no cache: Drained reads", -1, true, time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
			p := &fakeParameters{value: ptr("false")}
			s := New(p, "/d", Options{MaxAge: tt.maxAge, Now: func() time.Time { return now }})
			if tt.first {
				s.Drained(context.Background())
			}
			before := p.reads
			*p.value = "true"
			now = now.Add(tt.after)
			s.Renew(context.Background())
			if got := p.reads - before; got != map[bool]int{true: 1}[tt.reads] {
				t.Fatalf("Renew made %d reads, want reading %v", got, tt.reads)
			}
			if !tt.reads {
				return
			}
			if !s.Drained(context.Background()) || p.reads != before+1 {
				t.Errorf("after Renew, Drained answered the old value or read again (%d reads)", p.reads-before)
			}
		})
	}
}
