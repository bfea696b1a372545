package lazyre

import (
	"slices"
	"sync"
	"testing"
)

func TestMatchesAsCompiled(t *testing.T) {
	re := New(`^a(b+)c$`)
	tests := []struct {
		name  string
		in    string
		match bool
		sub   []string
		index []int
	}{
		{"match", "abbc", true, []string{"abbc", "bb"}, []int{0, 4}},
		{"no match", "ac", false, nil, nil},
		{"anchored", "xabc", false, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := re.MatchString(tt.in); got != tt.match {
				t.Errorf("MatchString(%q) = %v, want %v", tt.in, got, tt.match)
			}
			if got := re.FindStringSubmatch(tt.in); !slices.Equal(got, tt.sub) {
				t.Errorf("FindStringSubmatch(%q) = %q, want %q", tt.in, got, tt.sub)
			}
			if got := re.FindStringIndex(tt.in); !slices.Equal(got, tt.index) {
				t.Errorf("FindStringIndex(%q) = %v, want %v", tt.in, got, tt.index)
			}
		})
	}
	if re.String() != `^a(b+)c$` {
		t.Errorf("String() = %q", re.String())
	}
}

// A bad pattern is not compiled by New, only at its first use.
func TestBadPatternPanicsOnFirstUse(t *testing.T) {
	re := New(`(`)
	defer func() {
		if recover() == nil {
			t.Fatal("matching a bad pattern did not panic")
		}
	}()
	re.MatchString("x")
}

func TestConcurrentFirstUse(t *testing.T) {
	re := New(`^x+$`)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if !re.MatchString("xx") {
				t.Error("no match")
			}
		})
	}
	wg.Wait()
}
