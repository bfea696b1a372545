package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

func TestNudgeNeedsTheTaskSecret(t *testing.T) {
	tests := []struct {
		name   string
		auth   string
		status int
		secret string
	}{
		{"bearer", "Bearer s3cret", http.StatusAccepted, "s3cret"},
		{"missing", "", http.StatusUnauthorized, ""},
		{"empty bearer", "Bearer ", http.StatusUnauthorized, ""},
		{"basic", "Basic czNjcmV0", http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			a, logs := newTestAPI(svc, Options{})
			ev := apiEvent(RouteNudgeTask)
			delete(ev.Headers, "authorization")
			if tt.auth != "" {
				ev.Headers["authorization"] = tt.auth
			}
			res := a.ServeEvent(context.Background(), ev)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tt.status, res.Body)
			}
			calls := svc.recordedCalls()
			switch {
			case tt.secret == "" && len(calls) != 0:
				t.Errorf("the service was called: %+v", calls)
			case tt.secret != "" && (len(calls) != 1 || calls[0].in != tt.secret || calls[0].id != testTaskID):
				t.Errorf("calls %+v, want one with the secret", calls)
			}
			if tt.secret != "" && strings.Contains(logs.String(), tt.secret) {
				t.Errorf("the secret reached the log: %s", logs.String())
			}
		})
	}
}

// Each step answers what the state machine reads next (ids and flags:
// task-check's ended, its next wait) or, the last, the task's id and
// outcome; never a record, whose command alone may pass the 256 KiB a
// state may carry (States.DataLimitExceeded, which no Catch takes).
func TestStepsAnswerIDsAndFlags(t *testing.T) {
	step := `"taskId":"` + testTaskID + `","userId":"user-1"`
	allowed := []string{"taskId", "userId", "sandboxId", "ended", "waitSeconds", "status"}
	tests := []struct{ name, function, payload string }{
		{"prepare", FunctionCreate, `{"action":"task-prepare","taskId":"` + testTaskID + `","input":{}}`},
		{"sandbox", FunctionCreate, `{"action":"task-sandbox",` + step + `}`},
		{"start", FunctionExecute, `{"action":"task-start",` + step + `}`},
		{"wait", FunctionStatus, `{"action":"task-wait",` + step + `,"token":"tok"}`},
		{"check", FunctionStatus, `{"action":"task-check",` + step + `}`},
		{"collect", FunctionExecute, `{"action":"task-collect",` + step + `}`},
		{"clean-up", FunctionDelete, `{"action":"task-cleanup","taskId":"` + testTaskID + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := newTestAPI(&fakeService{}, Options{})
			out, err := a.Handler(tt.function).Invoke(context.Background(), []byte(tt.payload))
			if err != nil {
				t.Fatalf("Invoke: %v (%s)", err, out)
			}
			var answer map[string]any
			if err := json.Unmarshal(out, &answer); err != nil {
				t.Fatalf("answer %s: %v", out, err)
			}
			for k := range answer {
				if !slices.Contains(allowed, k) {
					t.Errorf("the answer carries %q: %s", k, out)
				}
			}
		})
	}
}

// A task that did not succeed fails its execution under the outcome's
// name, not as a failure of the function.
func TestCleanUpAnswersTheOutcome(t *testing.T) {
	svc := &fakeService{outcomes: true}
	a, logs := newTestAPI(svc, Options{})
	ive := invokeError(t, a, FunctionDelete, `{"action":"task-cleanup","taskId":"`+testTaskID+`","failure":{"Error":"States.Timeout","Cause":""}}`)
	want := messages.InvokeResponse_Error{Type: "Task.Failed", Message: "task " + testTaskID + ": States.Timeout"}
	if !reflect.DeepEqual(ive, want) {
		t.Errorf("error %+v, want %+v", ive, want)
	}
	// The step's clean-up is the one that may wait for GitHub.
	if calls := svc.recordedCalls(); len(calls) != 1 || calls[0].method != "CleanUpTaskStep" {
		t.Errorf("calls %+v, want the step's clean-up", calls)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) || strings.Contains(logs.String(), `"level":"WARN"`) {
		t.Errorf("an outcome is not an error of ours to log: %s", logs.String())
	}
}

func TestTaskEnded(t *testing.T) {
	tests := []struct {
		name    string
		detail  string
		failure *service.TaskFailure
		invalid bool
	}{
		{"succeeded", `{"name":"` + testTaskID + `","status":"SUCCEEDED","error":null,"cause":null}`, nil, false},
		{"timed out", `{"name":"` + testTaskID + `","status":"TIMED_OUT","error":"States.Timeout","cause":null}`,
			&service.TaskFailure{Error: "States.Timeout", Cause: "the execution ended timed_out"}, false},
		{"aborted", `{"name":"` + testTaskID + `","status":"ABORTED","error":null,"cause":null}`,
			&service.TaskFailure{Error: "Execution.ABORTED", Cause: "the execution ended aborted"}, false},
		{"failed, with members EventBridge added later", `{"name":"` + testTaskID + `","status":"FAILED","error":"Task.Failed","cause":"exit 2","redriveCount":0,"newThing":{}}`,
			&service.TaskFailure{Error: "Task.Failed", Cause: "exit 2"}, false},
		{"no name", `{"status":"FAILED"}`, nil, true},
		{"not an object", `"x"`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{outcomes: true}
			a, _ := newTestAPI(svc, Options{})
			payload := `{"action":"task-ended","detail":` + tt.detail + `}`
			if tt.invalid {
				if ive := invokeError(t, a, FunctionDelete, payload); ive.Type != StepFunctionsName(sandstep.EINVALID) {
					t.Errorf("error %+v, want invalid input", ive)
				}
				return
			}
			// Whatever the outcome, the rule's call succeeds: nobody reads it.
			if _, err := a.Handler(FunctionDelete).Invoke(context.Background(), []byte(payload)); err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			calls := svc.recordedCalls()
			if len(calls) != 1 || calls[0].method != "CleanUpTask" || calls[0].id != testTaskID {
				t.Fatalf("calls %+v", calls)
			}
			if got := calls[0].in.(*service.TaskFailure); !reflect.DeepEqual(got, tt.failure) {
				t.Errorf("failure %+v, want %+v", got, tt.failure)
			}
		})
	}
}

// A task started through the API nudges the API where its caller found it,
// and its Location is found there too. Only the API's own execute-api
// domain has a named stage in its paths: on a custom domain the API
// mapping picks the stage.
func TestBaseURL(t *testing.T) {
	const api = "abc"
	tests := []struct {
		name, domain, stage, proto, want string
		apiURL                           string // API_URL
	}{
		{"default stage", "abc.execute-api.us-east-1.amazonaws.com", "$default", "https", "https://abc.execute-api.us-east-1.amazonaws.com", ""},
		{"named stage", "abc.execute-api.us-east-1.amazonaws.com", "prod", "https", "https://abc.execute-api.us-east-1.amazonaws.com/prod", ""},
		{"custom domain", "api.example.com", "$default", "https", "https://api.example.com", ""},
		{"custom domain mapped to a named stage", "api.example.com", "prod", "https", "https://api.example.com", ""},
		{"no proto header", "api.example.com", "$default", "", "https://api.example.com", ""},
		{"local stack", "127.0.0.1:3000", "$default", "http", "http://127.0.0.1:3000", ""},
		{"anything else is https", "api.example.com", "$default", "gopher", "https://api.example.com", ""},
		{"no domain", "", "$default", "https", "", ""},
		// A mapping key is in no event: API_URL says it.
		{"custom domain with a mapping key", "api.example.com", "$default", "https", "https://api.example.com/v1", "https://api.example.com/v1/"},
		{"API_URL of another host", "abc.execute-api.us-east-1.amazonaws.com", "prod", "https", "https://abc.execute-api.us-east-1.amazonaws.com/prod", "https://api.example.com/v1"},
		// An event's domainName carries no port: API_URL's default one is
		// none.
		{"API_URL spelling https's default port", "api.example.com", "$default", "https", "https://api.example.com:443/v1", "https://api.example.com:443/v1"},
		{"API_URL spelling http's default port", "api.example.com", "$default", "http", "http://api.example.com:80/v1", "http://api.example.com:80/v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{APIURL: tt.apiURL})
			ev := apiEvent(RouteStartTask)
			rc := &ev.RequestContext
			rc.APIID, rc.DomainName, rc.Stage = api, tt.domain, tt.stage
			rc.DomainPrefix, _, _ = strings.Cut(tt.domain, ".")
			if tt.proto != "" {
				ev.Headers["x-forwarded-proto"] = tt.proto
			}
			res := a.ServeEvent(context.Background(), ev)
			if res.StatusCode != http.StatusAccepted {
				t.Fatalf("status %d: %s", res.StatusCode, res.Body)
			}
			if got := svc.recordedCalls()[0].call.APIURL; got != tt.want {
				t.Errorf("APIURL = %q, want %q", got, tt.want)
			}
			if tt.want == "" {
				return
			}
			posted, _ := url.Parse(tt.want + "/tasks")
			loc, err := url.Parse(res.Headers["Location"])
			if err != nil {
				t.Fatal(err)
			}
			var started sandstep.Task
			if err := json.Unmarshal([]byte(res.Body), &started); err != nil {
				t.Fatal(err)
			}
			if got, want := posted.ResolveReference(loc).String(), tt.want+"/tasks/"+started.ID; got != want {
				t.Errorf("Location %q from %s is %s, want %s", loc, posted, got, want)
			}
		})
	}
}

// Each of a task's own invocations carries a usage meter, standing for the
// states of the state machine it represents; nothing else carries one.
func TestTaskStepsAreMetered(t *testing.T) {
	step := `"taskId":"` + testTaskID + `","userId":"user-1"`
	tests := []struct {
		name, function, payload string
		states                  int // -1: no meter
	}{
		{"prepare", FunctionCreate, `{"action":"task-prepare","taskId":"` + testTaskID + `","input":{}}`, 1},
		{"sandbox", FunctionCreate, `{"action":"task-sandbox",` + step + `}`, 1},
		{"start", FunctionExecute, `{"action":"task-start",` + step + `}`, 1},
		{"wait: its state (the service adds a check and choice before it)", FunctionStatus, `{"action":"task-wait",` + step + `,"token":"tok"}`, 1},
		{"check: counted by the wait after it, or by itself", FunctionStatus, `{"action":"task-check",` + step + `}`, 0},
		{"collect", FunctionExecute, `{"action":"task-collect",` + step + `}`, 1},
		{"clean-up", FunctionDelete, `{"action":"task-cleanup","taskId":"` + testTaskID + `"}`, 1},
		{"a sandbox's exec is no task's", FunctionExecute, `{"action":"exec","userId":"user-1","sandboxId":"sbx_1","command":"ls"}`, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{LambdaMemoryMB: 256})
			if out, err := a.Handler(tt.function).Invoke(context.Background(), []byte(tt.payload)); err != nil {
				t.Fatalf("Invoke: %v (%s)", err, out)
			}
			calls := svc.recordedCalls()
			if len(calls) != 1 {
				t.Fatalf("calls %+v, want one", calls)
			}
			m := calls[0].meter
			switch {
			case tt.states < 0 && m != nil:
				t.Errorf("metered: %+v", *m)
			case tt.states >= 0 && (m == nil || m.StateTransitions != tt.states || m.LambdaInvocations != 1):
				t.Errorf("meter %+v, want one invocation standing for %d states", m, tt.states)
			}
		})
	}
}
