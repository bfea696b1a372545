package api

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sandstep/sandstep/internal/service"
)

// huntService is the real service over dependencies none of which may be
// reached: every input below must be refused by validation.
func huntService(t *testing.T) *API {
	t.Helper()
	deps := unreached{}
	svc, err := service.New(service.Deps{Provider: deps, Sandboxes: deps, Quota: deps, Idempotency: deps, Audit: deps,
		Tasks: unreachedTasks{}, Objects: unreachedObjects{}, Machine: unreachedTasks{}, Sessions: unreachedTasks{}},
		service.Options{Deployment: func(context.Context) (string, error) { return "test", nil }, Limits: service.Limits{
			DefaultTTLMinutes: 60, MaxTTLMinutes: 60, DefaultExecTimeout: time.Minute, MaxExecTimeout: time.Minute,
			MaxOutputBytes: 1 << 10, MaxTaskDuration: time.Hour, MaxTaskLogBytes: 1 << 10, TaskBackstop: time.Minute,
		}})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := newTestAPI(svc, Options{})
	return a
}

// refusedBeforeDeps fails the test, rather than crashing it, when the
// input was accepted and the service went on to a dependency (a nil
// interface of unreached panics).
func refusedBeforeDeps(t *testing.T) {
	t.Helper()
	if r := recover(); r != nil {
		t.Fatalf("the input was accepted: the service went on to its dependencies (%v)", r)
	}
}

// huntSandboxID is a well-formed sandbox id, so that the exec's other
// fields are what is judged.
const huntSandboxID = "sbx_aaaaaaaaaaaaaaaaaaaaaaaaaa"

func withSandboxID(id string) evOption {
	return func(ev *events.APIGatewayV2HTTPRequest) {
		ev.PathParameters = map[string]string{"id": id}
		ev.RawPath = strings.ReplaceAll(ev.RawPath, "sbx_one", id)
	}
}

// TestTimeoutZeroRefused: README gives timeoutSeconds as 1 –
// MAX_EXEC_TIMEOUT_SECONDS (a task's 1 – MAX_TASK_DURATION) with a
// default when it is left out, as ttlMinutes is 1 – MAX_TTL_MINUTES. An
// explicit 0 is out of that range and must be refused naming the field,
// on every route and direct action that takes it, not silently run with
// the default (a task's: MAX_TASK_DURATION, 12 hours).
func TestTimeoutZeroRefused(t *testing.T) {
	a := huntService(t)
	http := []struct {
		name, route, body string
	}{
		{"exec", RouteExec, `{"command":"true","timeoutSeconds":0}`},
		{"agent execute", RouteAgentExecute, `{"command":"true","timeoutSeconds":0}`},
		{"task", RouteStartTask, `{"command":"true","timeoutSeconds":0}`},
	}
	for _, tt := range http {
		t.Run("http/"+tt.name, func(t *testing.T) {
			defer refusedBeforeDeps(t)
			res := a.ServeEvent(context.Background(), apiEvent(tt.route, withBody(tt.body), withSandboxID(huntSandboxID)))
			if res.StatusCode != 400 {
				t.Fatalf("status %d, want 400 naming timeoutSeconds; body %s", res.StatusCode, res.Body)
			}
			if d := decodeErrorBody(t, res); d.Field != "timeoutSeconds" {
				t.Errorf("error %+v, want field timeoutSeconds", d)
			}
		})
	}
	direct := []struct {
		name, function, payload string
	}{
		{"exec", FunctionExecute, `{"action":"exec","userId":"u","sandboxId":"` + huntSandboxID + `","command":"true","timeoutSeconds":0}`},
		{"agent execute", FunctionExecute, `{"action":"agent-execute","userId":"u","command":"true","timeoutSeconds":0}`},
	}
	for _, tt := range direct {
		t.Run("direct/"+tt.name, func(t *testing.T) {
			defer refusedBeforeDeps(t)
			out, err := a.Handler(tt.function).Invoke(context.Background(), []byte(tt.payload))
			if err == nil {
				t.Fatalf("Invoke answered %s, want Sandbox.InvalidInput naming timeoutSeconds", out)
			}
			if msg := err.Error(); !strings.Contains(msg, "timeoutSeconds") {
				t.Errorf("error %v, want Sandbox.InvalidInput naming timeoutSeconds", err)
			}
		})
	}
}

func intp(v int) *int { return &v }
