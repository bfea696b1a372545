package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/metrics"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// slowCreate is a fakeService whose create is seen to begin, and then
// lasts into the next millisecond: what an invocation writes is stamped
// either at its start or after that create.
type slowCreate struct {
	*fakeService
	began time.Time
}

func (s *slowCreate) CreateSandbox(ctx context.Context, call service.Call, in service.CreateSandboxInput) (*sandstep.Sandbox, error) {
	s.began = time.Now()
	for time.Now().UnixMilli() <= s.began.UnixMilli() {
	}
	return s.fakeService.CreateSandbox(ctx, call, in)
}

// Lambda's Errors counts the invocations that answered the runtime with an
// error: the ones our code returned and the ones it never answered (a
// crash, an out-of-memory kill, the function's timeout, a failed init).
// The crash alarms subtract FunctionErrors, what our code returned, so it
// counts exactly the invocations whose answer Lambda sees as an error
// (never an HTTP answer, a 500 included), stamped at the invocation's
// start as Lambda stamps Errors: an invocation across a period's end
// would otherwise be a crash in one period and a negative in the next.
func TestFunctionErrorsCountTheErrorsLambdaSees(t *testing.T) {
	for _, tt := range []struct {
		name    string
		err     error
		payload string
	}{
		{name: "HTTP answer", payload: "api"},
		{name: "HTTP 500", err: errors.New("boom"), payload: "api"},
		{name: "HTTP 400", err: sandstep.Errorf(sandstep.EINVALID, "bad"), payload: "api"},
		{name: "direct answer", payload: `{"action":"create","userId":"u1"}`},
		{name: "direct refused", err: sandstep.Errorf(sandstep.EINVALID, "bad"), payload: `{"action":"create","userId":"u1"}`},
		{name: "direct internal", err: errors.New("boom"), payload: `{"action":"create","userId":"u1"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := &bytes.Buffer{}
			svc := &slowCreate{fakeService: &fakeService{err: tt.err}}
			a, _ := newTestAPI(svc, Options{Metrics: MetricsOptions{Namespace: "sandstep-test", Writer: out}})
			payload := []byte(tt.payload)
			if tt.payload == "api" {
				var err error
				if payload, err = json.Marshal(apiEvent(RouteCreateSandbox, withBody(`{}`))); err != nil {
					t.Fatal(err)
				}
			}
			_, lambdaErr := a.Handler(FunctionCreate).Invoke(context.Background(), payload)
			want := 0.0
			if lambdaErr != nil {
				want = 1
			}
			got, stamps := emitted(t, out.String(), metrics.FunctionErrors)
			if got != want {
				t.Errorf("Lambda sees error %v; FunctionErrors = %v, want %v", lambdaErr, got, want)
			}
			if svc.began.IsZero() {
				return
			}
			for _, ms := range stamps {
				if ms > svc.began.UnixMilli() {
					t.Errorf("metrics stamped %d ms, after the create began (%d ms): want the invocation's start", ms, svc.began.UnixMilli())
				}
			}
		})
	}
}

// emitted sums metric name over out's EMF lines, and lists every line's
// timestamp.
func emitted(t *testing.T, out, name string) (sum float64, stamps []int64) {
	t.Helper()
	for l := range strings.Lines(out) {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var m struct {
			AWS struct{ Timestamp int64 } `json:"_aws"`
		}
		var values map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("metrics line %q: %v", l, err)
		}
		if err := json.Unmarshal([]byte(l), &values); err != nil {
			t.Fatalf("metrics line %q: %v", l, err)
		}
		stamps = append(stamps, m.AWS.Timestamp)
		if v, ok := values[name].(float64); ok {
			sum += v
		}
	}
	return sum, stamps
}
