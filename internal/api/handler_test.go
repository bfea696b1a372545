package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/metrics"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// An answer stays as it was after later invokes of the same handler: the
// local stack reads each answer while other invokes of the function run.
func TestHandlerAnswersStayTheirOwn(t *testing.T) {
	h := quietAPI(&fakeService{}).Handler(FunctionStatus)
	var answers [][]byte
	var want []string
	for i := range 3 {
		// No such route: a 404 whose body names the request.
		ev := fmt.Sprintf(`{"version":"2.0","routeKey":"$default","rawPath":"/nothing","requestContext":{"requestId":"request-%d","http":{"method":"GET","path":"/nothing"}}}`, i)
		out, err := h.Invoke(context.Background(), []byte(ev))
		if err != nil {
			t.Fatalf("Invoke: %v", err)
		}
		answers, want = append(answers, out), append(want, string(out))
	}
	for i, out := range answers {
		if string(out) != want[i] {
			t.Errorf("answer %d changed after later invokes:\n%s\nwas\n%s", i, out, want[i])
		}
	}
}

// storeRateRefusal is the store's own refusal of a create the
// deployment's create budget (DAYTONA_CREATE_RATE) holds back, as the
// service hands it on. (A window spent by a burst is refused in the same
// form, store.refuseForRate's, but only after the store has retaken for
// seconds.)
func storeRateRefusal(t *testing.T) error {
	t.Helper()
	st, _, _ := storetest.New(t, store.Options{CreateRate: 300})
	ctx := context.Background()
	if err := st.SpendCreates(ctx, time.Now().Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	err := st.ReserveSlot(ctx, &sandstep.Sandbox{ID: "sbx_held", Owner: "user-1"})
	if !errors.Is(err, sandstep.ErrCreateRate) {
		t.Fatalf("a create while the budget is held back: %v, want a refusal for the create rate", err)
	}
	return fmt.Errorf("reserve quota slot: %w", err)
}

// emittedFaults sums the Faults metric of the EMF lines in out.
func emittedFaults(t *testing.T, out string) float64 {
	t.Helper()
	var n float64
	for l := range strings.Lines(out) {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("metrics line %q: %v", l, err)
		}
		if v, ok := m[metrics.Faults].(float64); ok {
			n += v
		}
	}
	return n
}

// A create refused for DAYTONA_CREATE_RATE is that limit serving a burst
// at the rate, as designed, like the quota's 429 and capacity's and a
// drain's 503: none is a fault (the numerator of <stack>-fault-rate-create),
// or an ordinary burst pages the operator. Its answer stays 503 transient
// with Retry-After. Daytona's own 429, met despite the shared budget, and
// any other transient answer stay faults.
func TestCreateRateRefusalIsNoFault(t *testing.T) {
	daytona429 := sandstep.Wrap(errors.New("429 Too Many Requests"), sandstep.ETRANSIENT, "provider create: Daytona is rate limiting us; try again")
	daytona429.RetryAfter = 30 * time.Second
	for _, tt := range []struct {
		name       string
		err        error
		status     int
		retryAfter bool
		fault      bool // what the fault-rate alarm counts
	}{
		{name: "quota refusal", err: sandstep.Errorf(sandstep.EQUOTA, "quota exceeded"), status: http.StatusTooManyRequests},
		{name: "capacity", err: sandstep.Errorf(sandstep.ECAPACITY, "no capacity"), status: http.StatusServiceUnavailable, retryAfter: true},
		{name: "drained", err: sandstep.Errorf(sandstep.EDRAINING, "drained"), status: http.StatusServiceUnavailable, retryAfter: true},
		{name: "create rate refusal, the budget held back", err: storeRateRefusal(t), status: http.StatusServiceUnavailable, retryAfter: true},
		{name: "Daytona's own 429", err: fmt.Errorf("provider create: %w", daytona429), status: http.StatusServiceUnavailable, retryAfter: true, fault: true},
		{name: "other transient", err: sandstep.Errorf(sandstep.ETRANSIENT, "daytona unavailable"), status: http.StatusServiceUnavailable, fault: true},
		{name: "internal", err: errors.New("boom"), status: http.StatusInternalServerError, fault: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := &bytes.Buffer{}
			a, _ := newTestAPI(&fakeService{err: tt.err}, Options{Metrics: MetricsOptions{Namespace: "sandstep-test", Writer: out}})
			res := invokeAPI(t, a, "create", apiEvent(RouteCreateSandbox, withBody(`{}`)))
			if res.StatusCode != tt.status || (res.Headers["Retry-After"] != "") != tt.retryAfter {
				t.Fatalf("answered %d, Retry-After %q: %s; want %d, Retry-After %v", res.StatusCode, res.Headers["Retry-After"], res.Body, tt.status, tt.retryAfter)
			}
			code := decodeErrorBody(t, res).Code
			if code != sandstep.ErrorCode(tt.err) {
				t.Errorf("answered code %s, want the error's own %s", code, sandstep.ErrorCode(tt.err))
			}
			if got := emittedFaults(t, out.String()); (got > 0) != tt.fault {
				t.Errorf("answered %d %s; Faults = %v, want a fault: %v (%v)", res.StatusCode, code, got, tt.fault, tt.err)
			}
		})
	}
}
