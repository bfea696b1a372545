// Package daytonaspec is test support: it validates HTTP traffic against
// Daytona's published OpenAPI specs (the main API, api-openapi.json, and
// the toolbox daemon, toolbox-openapi3.yaml) with kin-openapi. Contract
// tests wrap the client's transport with Spec.Transport, or the local
// server's handler with Spec.Middleware, and every request and response is
// checked against the declared operation; a few checks go beyond the specs
// (see SpecOnly) and a test states its deliberate exceptions with
// AllowStatus.
//
// The specs are never copied into the repository: Load reads them from
// beside the clone (see SpecDir) and skips the test when they are absent.
// kin-openapi cannot take them as published, so Load adapts them without
// loosening any constraint a real message can meet; Spec.Workarounds lists
// what it changed.
package daytonaspec
