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
)

// route is one API Gateway route: the function that serves it and how.
type route struct {
	function string
	// query lists the query parameters the route accepts.
	query []string
	// pathID says the route has an {id} path parameter.
	pathID bool
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
	RouteCreateSandbox: {function: FunctionCreate, body: bodyOptional, idempotent: true, serve: (*API).serveCreate},
	RouteListSandboxes: {function: FunctionStatus, query: []string{"limit", "cursor", "state"}, serve: (*API).serveList},
	RouteGetSandbox:    {function: FunctionStatus, pathID: true, serve: (*API).serveGet},
	RouteExec:          {function: FunctionExecute, pathID: true, body: bodyRequired, idempotent: true, serve: (*API).serveExec},
	RouteDeleteSandbox: {function: FunctionDelete, pathID: true, serve: (*API).serveDelete},
	RouteAgentExecute:  {function: FunctionExecute, body: bodyRequired, idempotent: true, serve: (*API).serveAgentExecute},
}

// Functions returns the function names API.Handler accepts, sorted.
func Functions() []string {
	return []string{FunctionCreate, FunctionDelete, FunctionExecute, FunctionStatus}
}

// Routes returns the route table: each function name mapped to the API
// Gateway route keys it serves, sorted. The SAM template and the local API
// emulator are checked against it. The map is a fresh copy.
//
//	create:  POST /sandboxes
//	execute: POST /sandboxes/{id}/exec, POST /api/agent/execute
//	status:  GET /sandboxes, GET /sandboxes/{id}
//	delete:  DELETE /sandboxes/{id}
func Routes() map[string][]string {
	out := make(map[string][]string, 4)
	for _, key := range slices.Sorted(maps.Keys(routes)) {
		fn := routes[key].function
		out[fn] = append(out[fn], key)
	}
	return out
}

// RouteFunction returns the function that serves an API Gateway route key.
func RouteFunction(routeKey string) (function string, ok bool) {
	r, ok := routes[routeKey]
	return r.function, ok
}
