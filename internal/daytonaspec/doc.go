// Package daytonaspec is test support: it validates HTTP traffic against
// Daytona's published OpenAPI specs (the main API, api-openapi.json, and
// the toolbox daemon, toolbox-openapi3.yaml) with kin-openapi.
//
// Contract tests wrap the client's transport with Spec.Transport, or the
// local Daytona-compatible server's handler with Spec.Middleware, and every
// request and response is checked: the operation must be declared, its
// parameters, security and body must match, and the response status must
// be declared (or "default") with the declared content type and body
// schema. Violations fail the test (tb.Errorf) or are collected with
// RecordTo.
//
// The specs are never copied into the repository. Load reads them from
// $SANDSTEP_DAYTONA_SPECS, by default ../shared/daytona relative to the
// repository root, parses them once per process, and skips the test when
// they are absent.
//
// # Workarounds
//
// kin-openapi cannot take the published specs as they are. Load adapts
// them as follows (Spec.Workarounds lists what was applied); none loosens
// a constraint that a real message can satisfy:
//
//   - servers: the main spec's only server is http://localhost:3000, which
//     kin-openapi's routers would match by host. Requests are routed by the
//     Routes prefixes instead, and routers are built without servers.
//   - conflicting paths: GET /sandbox/{sandboxId}/secrets and PUT
//     /sandbox/{sandboxIdOrName}/secrets make doc.Validate fail, and
//     gorillamux matches path before method (a literal path would shadow a
//     template for other methods). One router is built per method, over a
//     document holding that method's operations; "method not allowed" is
//     still reported as such.
//   - examples: several examples are invalid (CreateSnapshot,
//     AccessibilityNodesResponse). Examples never apply to traffic, so they
//     are not validated.
//   - toolbox ErrorResponse.code is {type: object, allOf: [DaemonErrorCode]}
//     where DaemonErrorCode is a string enum: unsatisfiable. "type: object"
//     is dropped; the code must be one of the enum's strings.
//   - toolbox error responses declared with a JSON object schema under
//     application/octet-stream or multipart/form-data (GET /files/download,
//     POST /files/bulk-download, GET /computeruse/recordings/{id}/download)
//     cannot be met by any body; application/json with the same schema is
//     accepted too (the daemon answers errors as JSON).
//   - POST /files/bulk-download 200 declares its multipart body as gin.H,
//     which kin-openapi's multipart decoder cannot map to parts; it is
//     replaced by the parts the description names: "file" (binary) and
//     "error" (application/json ErrorResponse), nothing else.
//
// Unknown formats are not a problem (kin-openapi ignores formats it does
// not know and checks date-time); nullable+allOf appears only in
// Organization.otelConfig, which sandstep does not use.
//
// # Checks beyond the specs
//
// Unless SpecOnly is given, three more checks run on requests, each
// reported with "(daytonaspec check)": query parameters the operation does
// not declare (except the proxy's DAYTONA_SANDBOX_AUTH_KEY), JSON request
// fields the schema does not declare (there is no CreateSandbox.image),
// and the form layout of POST /files/bulk-upload (files[N].path text part
// plus files[N].file part per file), for which the toolbox spec declares
// no request body.
//
// # Exceptions
//
// WebSocket upgrades (101 responses to requests with an Upgrade header)
// are not body-checked; AllowStatus exempts statuses a test injects on
// purpose. The main spec declares almost no error statuses (POST /sandbox
// only declares 200), so a test that provokes a main-API 404 or 409 must
// say so with AllowStatus.
package daytonaspec
