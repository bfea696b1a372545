package api

import (
	"maps"
	"slices"
)

// The Lambda functions served by this package, as API.Handler names them.
const (
	FunctionCreate  = "create"
	FunctionExecute = "execute"
	FunctionStatus  = "status"
	FunctionDelete  = "delete"
)

// The API Gateway route keys served by this package.
const (
	RouteCreateSandbox = "POST /sandboxes"
	RouteListSandboxes = "GET /sandboxes"
	RouteGetSandbox    = "GET /sandboxes/{id}"
	RouteExec          = "POST /sandboxes/{id}/exec"
	RouteDeleteSandbox = "DELETE /sandboxes/{id}"
	RouteAgentExecute  = "POST /api/agent/execute"
	RouteStartTask     = "POST /tasks"
	RouteListTasks     = "GET /tasks"
	RouteGetTask       = "GET /tasks/{id}"
	RouteTaskLogs      = "GET /tasks/{id}/logs"
	RouteTaskArtifacts = "GET /tasks/{id}/artifacts"
	RouteCancelTask    = "DELETE /tasks/{id}"
	RouteSandboxEvents = "GET /sandboxes/{id}/events"
	RouteTaskEvents    = "GET /tasks/{id}/events"
	// The administrators' routes: anyone else is answered as for a route
	// that does not exist.
	RouteUserUsage      = "GET /admin/users/{userId}/quota"
	RouteSetUserLimit   = "PUT /admin/users/{userId}/quota"
	RouteClearUserLimit = "DELETE /admin/users/{userId}/quota"
	// RouteNudgeTask has no JWT: a task's command calls it with the task's
	// own secret.
	RouteNudgeTask = "POST /tasks/{id}/nudge"
)

// route is one API Gateway route: the function that serves it and how.
type route struct {
	function string
	// query lists the query parameters the route accepts.
	query []string
	// pathID says the route has an {id} path parameter: a sandbox's, or
	// with task a task's.
	pathID, task bool
	// admin routes are administrators' (AdminOptions); their path
	// parameter is {userId}.
	admin bool
	// public routes have no authorizer: the handler checks the caller.
	public bool
	// signed routes are judged by their signature, which serve checks
	// over the raw body before anything else: their query and an empty
	// body are left to it (README: 401 for an unsigned delivery).
	signed bool
	// body is "required", "optional" or "" (none read).
	body string
	// idempotent says the Idempotency-Key header is honoured.
	idempotent bool
	serve      func(a *API, r *request) (response, error)
}

const (
	bodyRequired = "required"
	bodyOptional = "optional"
)

// routes is the route table. Keep Routes' documentation and template.yaml in
// step with it: the SAM template test compares template.yaml with Routes.
var routes = map[string]route{
	RouteCreateSandbox:  {function: FunctionCreate, body: bodyOptional, idempotent: true, serve: (*API).serveCreate},
	RouteListSandboxes:  {function: FunctionStatus, query: []string{"limit", "cursor", "state"}, serve: (*API).serveList},
	RouteGetSandbox:     {function: FunctionStatus, pathID: true, serve: (*API).serveGet},
	RouteExec:           {function: FunctionExecute, pathID: true, body: bodyRequired, idempotent: true, serve: (*API).serveExec},
	RouteDeleteSandbox:  {function: FunctionDelete, pathID: true, serve: (*API).serveDelete},
	RouteAgentExecute:   {function: FunctionExecute, body: bodyRequired, idempotent: true, serve: (*API).serveAgentExecute},
	RouteStartTask:      {function: FunctionCreate, body: bodyRequired, idempotent: true, serve: (*API).serveStartTask},
	RouteListTasks:      {function: FunctionStatus, query: []string{"limit", "cursor", "status"}, serve: (*API).serveListTasks},
	RouteGetTask:        {function: FunctionStatus, pathID: true, task: true, serve: (*API).serveGetTask},
	RouteTaskLogs:       {function: FunctionStatus, pathID: true, task: true, query: []string{"cursor"}, serve: (*API).serveTaskLogs},
	RouteTaskArtifacts:  {function: FunctionStatus, pathID: true, task: true, serve: (*API).serveTaskArtifacts},
	RouteCancelTask:     {function: FunctionDelete, pathID: true, task: true, serve: (*API).serveCancelTask},
	RouteNudgeTask:      {function: FunctionStatus, pathID: true, task: true, public: true, body: bodyOptional, serve: (*API).serveNudgeTask},
	RouteSandboxEvents:  {function: FunctionStatus, pathID: true, query: []string{"limit", "cursor"}, serve: (*API).serveSandboxEvents},
	RouteTaskEvents:     {function: FunctionStatus, pathID: true, task: true, query: []string{"limit", "cursor"}, serve: (*API).serveTaskEvents},
	RouteUserUsage:      {function: FunctionStatus, admin: true, query: []string{"limit", "cursor"}, serve: (*API).serveUserUsage},
	RouteSetUserLimit:   {function: FunctionStatus, admin: true, body: bodyRequired, serve: (*API).serveSetUserLimit},
	RouteClearUserLimit: {function: FunctionStatus, admin: true, serve: (*API).serveClearUserLimit},
	RouteGitHubWebhook:  {function: FunctionGitHub, public: true, signed: true, body: bodyOptional, serve: (*API).serveGitHubWebhook},
}

// Functions returns the function names API.Handler accepts, sorted.
func Functions() []string {
	return []string{FunctionCreate, FunctionDelete, FunctionExecute, FunctionGitHub, FunctionReaper, FunctionStatus}
}

// Routes returns the route table: each function name mapped to the API
// Gateway route keys it serves, sorted. The SAM template and the local API
// emulator are checked against it. The map is a fresh copy.
//
//	create:  POST /sandboxes, POST /tasks
//	execute: POST /sandboxes/{id}/exec, POST /api/agent/execute
//	status:  GET /sandboxes, GET /sandboxes/{id}, GET /sandboxes/{id}/events,
//	         GET /tasks, GET /tasks/{id}, GET /tasks/{id}/logs,
//	         GET /tasks/{id}/artifacts, GET /tasks/{id}/events,
//	         POST /tasks/{id}/nudge, GET|PUT|DELETE /admin/users/{userId}/quota
//	delete:  DELETE /sandboxes/{id}, DELETE /tasks/{id}
func Routes() map[string][]string {
	out := make(map[string][]string, 4)
	for _, key := range slices.Sorted(maps.Keys(routes)) {
		fn := routes[key].function
		out[fn] = append(out[fn], key)
	}
	return out
}

// RoutePublic reports whether a route has no authorizer: its handler
// checks the caller itself.
func RoutePublic(routeKey string) bool { return routes[routeKey].public }

// RouteFunction returns the function that serves an API Gateway route key.
func RouteFunction(routeKey string) (function string, ok bool) {
	r, ok := routes[routeKey]
	return r.function, ok
}
