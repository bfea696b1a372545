package daytonaspec

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/getkin/kin-openapi/openapi3"
)

// patch adapts a loaded spec to kin-openapi and returns one note per
// change. Every patch either turns a constraint that no real message can
// satisfy into the one the daemon/server actually honours, or replaces
// something kin-openapi cannot evaluate with an equivalent or stricter
// description; none loosens a shape that can be satisfied today. Unknown
// formats need nothing (kin-openapi ignores them), and nullable with allOf
// appears only in Organization.otelConfig, which sandstep does not use.
func patch(doc *openapi3.T) []string {
	var notes []string
	if len(doc.Servers) > 0 {
		// The main spec declares only http://localhost:3000; kin-openapi
		// routers match servers by host, so no real request would route.
		// Routing is done by Routes prefixes instead (routers are built
		// without servers, which matches any host).
		urls := make([]string, 0, len(doc.Servers))
		for _, s := range doc.Servers {
			urls = append(urls, s.URL)
		}
		notes = append(notes, fmt.Sprintf("servers %v ignored: requests are routed by the Routes prefixes", urls))
	}
	notes = append(notes, "example values are not validated (several are invalid; they never apply to traffic)")
	notes = append(notes, fixEnumAllOfTypedObject(doc)...)
	notes = append(notes, fixErrorMediaTypes(doc)...)
	notes = append(notes, fixBulkDownload(doc)...)
	return notes
}

// fixEnumAllOfTypedObject repairs schemas generated as
//
//	{type: object, allOf: [{$ref: SomeStringEnum}]}
//
// (toolbox ErrorResponse.code is {type: object, allOf: [DaemonErrorCode]}),
// which no value satisfies: a string fails "type: object" and an object
// fails the string enum. The daemon sends a string code, so the redundant
// "type: object" is dropped and the enum keeps applying.
func fixEnumAllOfTypedObject(doc *openapi3.T) []string {
	var notes []string
	seen := map[*openapi3.Schema]bool{}
	var walk func(where string, s *openapi3.Schema)
	walk = func(where string, s *openapi3.Schema) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		if s.Type.Is(openapi3.TypeObject) && len(s.Properties) == 0 && len(s.AllOf) > 0 &&
			s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
			allScalar := true
			for _, sub := range s.AllOf {
				if sub.Value == nil || sub.Value.Type == nil || sub.Value.Type.Is(openapi3.TypeObject) {
					allScalar = false
				}
			}
			if allScalar {
				s.Type = nil
				notes = append(notes, fmt.Sprintf("%s: dropped unsatisfiable \"type: object\" next to allOf %s", where, refNames(s.AllOf)))
			}
		}
		for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
			walk(where+"."+name, s.Properties[name].Value)
		}
		for _, sub := range s.AllOf {
			walk(where, sub.Value)
		}
		if s.Items != nil {
			walk(where+"[]", s.Items.Value)
		}
		if s.AdditionalProperties.Schema != nil {
			walk(where+"{}", s.AdditionalProperties.Schema.Value)
		}
	}
	if doc.Components != nil {
		for _, name := range slices.Sorted(maps.Keys(doc.Components.Schemas)) {
			walk(name, doc.Components.Schemas[name].Value)
		}
	}
	return notes
}

func refNames(refs openapi3.SchemaRefs) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, r.Ref)
	}
	return out
}

// fixErrorMediaTypes: some toolbox error responses (GET /files/download,
// POST /files/bulk-download, GET /computeruse/recordings/{id}/download)
// declare a JSON object schema (ErrorResponse) under
// application/octet-stream or multipart/form-data. No body of those media
// types decodes to an object, so the declaration cannot be met; the daemon
// answers errors as application/json. For status >= 400 an
// application/json entry with the same schema is added (the original
// entries stay, and still fail any non-JSON body).
func fixErrorMediaTypes(doc *openapi3.T) []string {
	var notes []string
	forEachOperation(doc, func(method, path string, op *openapi3.Operation) {
		for _, code := range slices.Sorted(maps.Keys(op.Responses.Map())) {
			if n, err := strconv.Atoi(code); err != nil || n < 400 {
				continue
			}
			resp := op.Responses.Value(code).Value
			if resp == nil || resp.Content == nil || resp.Content["application/json"] != nil {
				continue
			}
			for _, mt := range []string{"application/octet-stream", "multipart/form-data"} {
				m := resp.Content[mt]
				if m == nil || m.Schema == nil || m.Schema.Value == nil || !m.Schema.Value.Type.Is(openapi3.TypeObject) {
					continue
				}
				resp.Content["application/json"] = m
				notes = append(notes, fmt.Sprintf("%s %s %s: error schema declared as %s also accepted as application/json", method, path, code, mt))
				break
			}
		}
	})
	return notes
}

// fixBulkDownload: POST /files/bulk-download answers 200 with a
// multipart/form-data body declared as gin.H (an object whose values are
// objects). kin-openapi's multipart decoder looks part names up in the
// schema's properties, finds none, and rejects every part, so no real
// answer could pass. The operation's description says what the parts are:
// "file" parts (the file bytes) and "error" parts (JSON ErrorResponse).
// The schema is replaced by exactly that, which is stricter than gin.H:
// other part names are rejected and error parts must be
// application/json ErrorResponse.
func fixBulkDownload(doc *openapi3.T) []string {
	item := doc.Paths.Value("/files/bulk-download")
	if item == nil || item.Post == nil || doc.Components == nil {
		return nil
	}
	resp := item.Post.Responses.Value("200")
	errSchema := doc.Components.Schemas["ErrorResponse"]
	if resp == nil || resp.Value == nil || errSchema == nil {
		return nil
	}
	m := resp.Value.Content["multipart/form-data"]
	if m == nil || m.Schema == nil || m.Schema.Value == nil || len(m.Schema.Value.Properties) != 0 {
		return nil
	}
	binary := openapi3.NewStringSchema()
	binary.Format = "binary"
	parts := openapi3.NewObjectSchema().
		WithProperty("file", openapi3.NewArraySchema().WithItems(binary)).
		WithPropertyRef("error", openapi3.NewSchemaRef("", &openapi3.Schema{
			Type:  &openapi3.Types{openapi3.TypeArray},
			Items: openapi3.NewSchemaRef("#/components/schemas/ErrorResponse", errSchema.Value),
		}))
	m.Schema = openapi3.NewSchemaRef("", parts)
	return []string{"POST /files/bulk-download 200: multipart schema gin.H replaced by {file: [binary], error: [ErrorResponse]} (the parts the description names)"}
}

// forEachOperation calls f for every operation in path order.
func forEachOperation(doc *openapi3.T, f func(method, path string, op *openapi3.Operation)) {
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		ops := item.Operations()
		for _, method := range slices.Sorted(maps.Keys(ops)) {
			f(method, path, ops[method])
		}
	}
}
