package daytona

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// A Retry-After of seconds past a day is ignored as implausible
// (parseRetryAfter), and so is the same wait written as an HTTP date:
// taken whole (up to 292 years, "Fri, 31 Dec 9999 23:59:59 GMT"), it
// travelled on to the create's wait and the API's Retry-After header,
// where adding to it overflowed ("Retry-After: -9223372035").
func TestRetryAfterDateBoundedAsSeconds(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct{ name, value string }{
		{"seconds past a day (ignored today)", "90000"},
		{"a date two days ahead", now.Add(48 * time.Hour).UTC().Format(http.TimeFormat)},
		{"a date in year 9999", "Fri, 31 Dec 9999 23:59:59 GMT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			h.Set("Retry-After", tc.value)
			err := newAPIError("POST", "/sandbox", 429, h, []byte(`{"message":"slow down"}`), func(s string) string { return s })
			var rl *RateLimitError
			if !errors.As(err, &rl) {
				t.Fatalf("err = %T, want *RateLimitError", err)
			}
			if rl.RetryAfter > 24*time.Hour {
				t.Errorf("Retry-After %q gives a wait of %v (as whole seconds plus one: %d), past the day the seconds form is bounded by",
					tc.value, rl.RetryAfter, int((rl.RetryAfter+time.Second-1)/time.Second))
			}
		})
	}
}
