package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/webhook"
)

// eventsDir holds the sample events for `sam local invoke -e` and the
// handler tests.
const eventsDir = "../../events"

// fixtureFunction returns the function an events/*.json file is for, from
// its name: <function>[-<variant>]-(api|direct).json; agent-execute-* is
// for execute.
func fixtureFunction(name string) (function string, api bool, ok bool) {
	base := strings.TrimSuffix(name, ".json")
	switch {
	case strings.HasSuffix(base, "-api"):
		api = true
	case strings.HasSuffix(base, "-direct"):
	default:
		return "", false, false
	}
	base = strings.TrimPrefix(base, "agent-")
	function, _, _ = strings.Cut(base, "-")
	return function, api, slices.Contains(Functions(), function)
}

// decodeEventStrict decodes an API Gateway event with unknown fields
// disallowed: a typo'd field in a fixture must fail. encoding/json matches
// names case-insensitively, so decodeStrict checks them exactly too.
func decodeEventStrict(data []byte) (events.APIGatewayV2HTTPRequest, error) {
	var ev events.APIGatewayV2HTTPRequest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return ev, err
	}
	return ev, decodeStrict(data, &events.APIGatewayV2HTTPRequest{})
}

// checkAPIFixture decodes an API event fixture and its body strictly.
func checkAPIFixture(data []byte) (events.APIGatewayV2HTTPRequest, error) {
	ev, err := decodeEventStrict(data)
	if err != nil {
		return ev, err
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return ev, err
		}
	}
	var in any
	switch ev.RouteKey {
	case RouteGitHubWebhook:
		// Signed: any change to the body is caught.
		sig, _ := header(ev.Headers, webhook.SignatureHeader)
		return ev, webhook.Verify([]byte(testWebhookSecret), body, sig)
	case RouteCreateSandbox:
		in = &service.CreateSandboxInput{}
	case RouteExec:
		in = &service.ExecInput{}
	case RouteAgentExecute:
		in = &service.AgentExecuteInput{}
	case RouteStartTask:
		in = &service.TaskInput{}
	case RouteSetUserLimit:
		in = &service.UserLimitInput{}
	}
	if in != nil {
		// Both decoders: encoding/json as the brief's minimum, and this
		// package's (exact names, paths in errors).
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(in); err != nil {
			return ev, err
		}
		if err := decodeStrict(body, in); err != nil {
			return ev, err
		}
	}
	return ev, nil
}

// checkDirectFixture picks the action a direct input fixture names and
// decodes it strictly into that action's input type; it returns the action.
func checkDirectFixture(data []byte, function string) (string, error) {
	a, _ := newTestAPI(&fakeService{}, Options{})
	act, err := a.pick(function, data)
	if err != nil {
		return "", err
	}
	_, _, err = act.serve(context.Background(), data)
	return act.name, err
}

func TestEventFixtures(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in %s: %v", eventsDir, err)
	}
	routesSeen := map[string]bool{}
	actionsSeen := map[string]bool{}
	for _, path := range paths {
		name := filepath.Base(path)
		if name == taskInputFixture {
			continue // TestTaskInputFixture
		}
		t.Run(name, func(t *testing.T) {
			function, isAPI, ok := fixtureFunction(name)
			if !ok {
				t.Fatalf("%s: name is not <function>[-variant]-(api|direct).json", name)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if isAPI != isAPIGatewayEvent(data) {
				t.Fatalf("isAPIGatewayEvent = %v for an %v fixture", !isAPI, map[bool]string{true: "API", false: "direct"}[isAPI])
			}
			if !isAPI {
				action, err := checkDirectFixture(data, function)
				if err != nil {
					t.Fatalf("direct input: %v", err)
				}
				if !bytes.Contains(data, []byte(`"action": "`+action+`"`)) {
					t.Errorf("direct fixture does not name its action %q", action)
				}
				actionsSeen[function+" "+action] = true
			} else {
				ev, err := checkAPIFixture(data)
				if err != nil {
					t.Fatalf("API event: %v", err)
				}
				owner, known := RouteFunction(ev.RouteKey)
				rc := ev.RequestContext
				switch {
				case !known || owner != function:
					t.Errorf("routeKey %q belongs to %q, not %q", ev.RouteKey, owner, function)
				case ev.Version != "2.0" || rc.RouteKey != ev.RouteKey || rc.Stage != "$default":
					t.Errorf("version %q, requestContext.routeKey %q, stage %q", ev.Version, rc.RouteKey, rc.Stage)
				case rc.AccountID == "" || rc.APIID == "" || rc.DomainName == "" || rc.RequestID == "" || rc.Time == "" || rc.TimeEpoch == 0:
					t.Errorf("requestContext incomplete: %+v", rc)
				case rc.HTTP.Method == "" || rc.HTTP.Path != ev.RawPath || rc.HTTP.Protocol == "" || rc.HTTP.SourceIP == "" || rc.HTTP.UserAgent == "":
					t.Errorf("requestContext.http incomplete: %+v", rc.HTTP)
				case !strings.HasPrefix(ev.RouteKey, rc.HTTP.Method+" "):
					t.Errorf("method %q does not match route %q", rc.HTTP.Method, ev.RouteKey)
				case routes[ev.RouteKey].public && rc.Authorizer != nil:
					t.Errorf("route %q has no authorizer, but the fixture has one", ev.RouteKey)
				case !routes[ev.RouteKey].public && (rc.Authorizer == nil || rc.Authorizer.JWT == nil || rc.Authorizer.JWT.Claims["sub"] == "" ||
					rc.Authorizer.JWT.Claims["iss"] == "" || len(rc.Authorizer.JWT.Scopes) == 0):
					t.Errorf("authorizer.jwt incomplete: %+v", rc.Authorizer)
				case strings.Contains(ev.RouteKey, "{id}") && !strings.Contains(ev.RawPath, ev.PathParameters["id"]):
					t.Errorf("path parameter id %q not in rawPath %q", ev.PathParameters["id"], ev.RawPath)
				}
				routesSeen[ev.RouteKey] = true
			}

			// The fixture is served by its function, end to end.
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{})
			out, err := a.Handler(function).Invoke(context.Background(), data)
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			if isAPI {
				var res events.APIGatewayV2HTTPResponse
				if err := json.Unmarshal(out, &res); err != nil || res.StatusCode >= 300 {
					t.Fatalf("answer %s: %v", out, err)
				}
			}
			calls := svc.recordedCalls()
			if len(calls) != 1 {
				t.Fatalf("calls %+v", calls)
			}
			// Steps act for the task's owner, the nudge for the task, the
			// reaper for no one: only the rest carry a user.
			// GitHub's deliveries act for the repository the service names.
			if byUser := !strings.Contains(name, "-task-") && function != FunctionReaper && function != FunctionGitHub; byUser && calls[0].call.UserID == "" {
				t.Fatalf("no user in %+v", calls[0])
			}
		})
	}
	for key := range routes {
		if !routesSeen[key] {
			t.Errorf("no API event fixture for route %q", key)
		}
	}
	for _, fn := range Functions() {
		for _, action := range Actions(fn) {
			if !actionsSeen[fn+" "+action] {
				t.Errorf("no direct fixture for the %s action of function %q", action, fn)
			}
		}
	}
}

// taskInputFixture is a state machine execution's input, for a console
// start: the user and the task's spec inline.
const taskInputFixture = "task-input.json"

// TestTaskInputFixture decodes the console start's input as the first
// state does, and serves it through that state's action.
func TestTaskInputFixture(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(eventsDir, taskInputFixture))
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		UserID string          `json:"userId"`
		Task   json.RawMessage `json:"task"`
	}
	if err := decodeStrict(data, &in); err != nil || in.UserID == "" {
		t.Fatalf("input: %v (userId %q)", err, in.UserID)
	}
	if err := decodeStrict(in.Task, &service.TaskInput{}); err != nil {
		t.Fatalf("task: %v", err)
	}
	svc := &fakeService{}
	a, _ := newTestAPI(svc, Options{})
	payload, _ := json.Marshal(map[string]any{"action": ActionTaskPrepare, "taskId": testTaskID, "input": json.RawMessage(data)})
	if _, err := a.Handler(FunctionCreate).Invoke(context.Background(), payload); err != nil {
		t.Fatal(err)
	}
	if calls := svc.recordedCalls(); len(calls) != 1 || calls[0].method != "PrepareTask" || !strings.Contains(calls[0].in.(string), in.UserID) {
		t.Errorf("calls %+v", calls)
	}
}

// TestEventFixtureTyposFail proves the fixture checks can fail: a copy of
// every fixture with a misspelt field is rejected, at the top level, in
// the request context and in the body.
func TestEventFixtureTyposFail(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(eventsDir, "*.json"))
	for _, path := range paths {
		name := filepath.Base(path)
		if name == taskInputFixture {
			continue
		}
		function, isAPI, _ := fixtureFunction(name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var mutations map[string][]byte
		if isAPI {
			mutations = map[string][]byte{
				"top-level typo":      rename(t, data, "rawPath", "rawPth"),
				"requestContext typo": mutate(t, data, func(m map[string]any) { m["requestContext"].(map[string]any)["stages"] = "$default" }),
				"case-changed key":    rename(t, data, "routeKey", "RouteKey"),
			}
			if ev, _ := decodeEventStrict(data); ev.Body != "" {
				mutations["body typo"] = mutate(t, data, func(m map[string]any) {
					m["body"] = strings.Replace(m["body"].(string), `"`, `"typo_`, 1)
				})
			}
		} else {
			key := dataKey(t, data)
			mutations = map[string][]byte{
				"typo":             rename(t, data, key, key[:len(key)-1]),
				"extra field":      mutate(t, data, func(m map[string]any) { m["sandboxID"] = "x" }),
				"case-changed key": rename(t, data, key, strings.ToUpper(key[:1])+key[1:]),
			}
		}
		for mname, mutated := range mutations {
			t.Run(name+" "+mname, func(t *testing.T) {
				var err error
				if isAPI {
					_, err = checkAPIFixture(mutated)
				} else {
					_, err = checkDirectFixture(mutated, function)
				}
				if err == nil {
					t.Fatalf("mutated fixture accepted:\n%s", mutated)
				}
			})
		}
	}
}

// dataKey returns a direct fixture's first key after "action", sorted.
func dataKey(t *testing.T, data []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(maps.Keys(m))
	keys = slices.DeleteFunc(keys, func(k string) bool { return k == "action" })
	if len(keys) == 0 {
		t.Fatal("a direct fixture with nothing but its action")
	}
	return keys[0]
}

// mutate returns data, a JSON object, changed by f.
func mutate(t *testing.T, data []byte, f func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rename returns data with the top-level key from renamed to.
func rename(t *testing.T, data []byte, from, to string) []byte {
	t.Helper()
	return mutate(t, data, func(m map[string]any) {
		v, ok := m[from]
		if !ok {
			t.Fatalf("no key %q to rename", from)
		}
		delete(m, from)
		m[to] = v
	})
}
