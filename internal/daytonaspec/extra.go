package daytonaspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// These checks go beyond what kin-openapi enforces; SpecOnly turns them
// off. Each catches a client bug that the real servers would silently
// ignore (a misspelled filter, a field Daytona does not have) or a request
// shape the spec leaves undeclared but the daemon depends on.

// toolboxAuthQuery is the proxy's documented query-string alternative to
// the Authorization header (API-NOTES §3); it is not in the toolbox spec.
const toolboxAuthQuery = "DAYTONA_SANDBOX_AUTH_KEY"

func extraRequestChecks(m *matched, req *http.Request, body []byte) []error {
	errs := undeclaredQuery(m, req)
	if err := toolboxCredential(m, req); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, unknownBodyFields(m, req, body)...)
	if m.api.name == ToolboxAPI && m.route.Path == "/files/bulk-upload" && m.route.Operation.RequestBody == nil {
		if err := checkBulkUpload(req.Header.Get("Content-Type"), body); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// toolboxCredential: the toolbox spec defines a Bearer scheme but no
// operation requires it, while the proxy rejects requests without one of
// its three credentials (API-NOTES §3).
func toolboxCredential(m *matched, req *http.Request) error {
	if m.api.name != ToolboxAPI {
		return nil
	}
	scheme, token, _ := strings.Cut(req.Header.Get("Authorization"), " ")
	if (strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(token) != "") ||
		req.Header.Get("X-Daytona-Preview-Token") != "" || req.URL.Query().Get(toolboxAuthQuery) != "" {
		return nil
	}
	return fmt.Errorf("toolbox request carries no credential: \"Authorization: Bearer <key>\", X-Daytona-Preview-Token or %s (daytonaspec check)", toolboxAuthQuery)
}

// undeclaredQuery reports query parameters the operation does not declare.
func undeclaredQuery(m *matched, req *http.Request) []error {
	declared := map[string]bool{}
	params := append(slices.Clone(m.route.PathItem.Parameters), m.route.Operation.Parameters...)
	for _, p := range params {
		if p.Value == nil || p.Value.In != openapi3.ParameterInQuery {
			continue
		}
		if p.Value.Style == openapi3.SerializationDeepObject || (p.Value.Schema != nil && p.Value.Schema.Value != nil && p.Value.Schema.Value.Type.Is(openapi3.TypeObject)) {
			return nil // exploded objects spread over arbitrary keys
		}
		declared[p.Value.Name] = true
	}
	var errs []error
	q := req.URL.Query()
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if declared[name] || (m.api.name == ToolboxAPI && name == toolboxAuthQuery) {
			continue
		}
		errs = append(errs, fmt.Errorf("query parameter %q is not declared for this operation (daytonaspec check)", name))
	}
	return errs
}

// unknownBodyFields reports JSON request-body properties that the schema
// does not declare, where the schema lists its properties and says nothing
// about additional ones. Daytona would drop or reject them; either way the
// client meant something the API does not have (e.g. CreateSandbox.image).
func unknownBodyFields(m *matched, req *http.Request, body []byte) []error {
	rb := m.route.Operation.RequestBody
	if rb == nil || rb.Value == nil || len(body) == 0 {
		return nil
	}
	ct := req.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return nil
	}
	media := rb.Value.Content.Get(ct)
	if media == nil || media.Schema == nil || media.Schema.Value == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil // kin-openapi reports undecodable bodies
	}
	var paths []string
	walkUnknown(media.Schema.Value, v, "", &paths)
	var errs []error
	for _, p := range paths {
		errs = append(errs, fmt.Errorf("request body field %q is not declared by the schema (daytonaspec check)", p))
	}
	return errs
}

// walkUnknown appends JSON pointers of undeclared properties in v.
func walkUnknown(s *openapi3.Schema, v any, at string, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		props, additional, open := objectShape(s)
		for _, k := range slices.Sorted(maps.Keys(v)) {
			switch {
			case props[k] != nil:
				walkUnknown(props[k], v[k], at+"/"+k, out)
			case additional != nil:
				walkUnknown(additional, v[k], at+"/"+k, out)
			case !open:
				*out = append(*out, at+"/"+k)
			}
		}
	case []any:
		if s.Items != nil && s.Items.Value != nil {
			for i, item := range v {
				walkUnknown(s.Items.Value, item, at+"/"+strconv.Itoa(i), out)
			}
		}
	}
}

// objectShape merges the properties of s and its allOf members. open is
// true when the schema admits any property: additionalProperties: true, no
// properties listed at all, or a oneOf/anyOf this walk does not resolve.
func objectShape(s *openapi3.Schema) (props map[string]*openapi3.Schema, additional *openapi3.Schema, open bool) {
	props = map[string]*openapi3.Schema{}
	var collect func(s *openapi3.Schema)
	collect = func(s *openapi3.Schema) {
		if s == nil {
			return
		}
		for k, p := range s.Properties {
			if p.Value != nil {
				props[k] = p.Value
			}
		}
		if h := s.AdditionalProperties.Has; h != nil && *h {
			open = true
		}
		if a := s.AdditionalProperties.Schema; a != nil && a.Value != nil {
			additional = a.Value
		}
		if len(s.OneOf) > 0 || len(s.AnyOf) > 0 {
			open = true
		}
		for _, sub := range s.AllOf {
			collect(sub.Value)
		}
	}
	collect(s)
	if len(props) == 0 && additional == nil {
		open = true
	}
	return props, additional, open
}

// bulkPart matches the field names of POST /files/bulk-upload.
var bulkPart = regexp.MustCompile(`^files\[(\d+)\]\.(path|file)$`)

// checkBulkUpload validates the multipart form of POST /files/bulk-upload,
// for which the toolbox spec declares no request body at all (the Swagger
// 2 original only says it consumes multipart/form-data). The layout is the
// one the daemon parses and the TS SDK sends (API-NOTES §5): for each
// index N a text part "files[N].path" (destination, non-empty) and a file
// part "files[N].file" (content, binary); nothing else.
func checkBulkUpload(contentType string, body []byte) error {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return fmt.Errorf("bulk-upload body must be multipart/form-data with a boundary, got Content-Type %q (daytonaspec check)", contentType)
	}
	type pair struct{ path, file int }
	seen := map[string]*pair{}
	var order []string
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("bulk-upload multipart body: %w (daytonaspec check)", err)
		}
		name := part.FormName()
		sm := bulkPart.FindStringSubmatch(name)
		if sm == nil {
			return fmt.Errorf("bulk-upload part %q is not files[N].path or files[N].file (daytonaspec check)", name)
		}
		p := seen[sm[1]]
		if p == nil {
			p = &pair{}
			seen[sm[1]] = p
			order = append(order, sm[1])
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return fmt.Errorf("bulk-upload part %q: %w (daytonaspec check)", name, err)
		}
		if sm[2] == "path" {
			p.path++
			if len(bytes.TrimSpace(data)) == 0 {
				return fmt.Errorf("bulk-upload part %q (destination path) is empty (daytonaspec check)", name)
			}
		} else {
			p.file++
		}
	}
	if len(order) == 0 {
		return errors.New("bulk-upload body has no files[N].path/files[N].file parts (daytonaspec check)")
	}
	for _, idx := range order {
		if p := seen[idx]; p.path != 1 || p.file != 1 {
			return fmt.Errorf("bulk-upload files[%s] needs exactly one .path and one .file part, got %d and %d (daytonaspec check)", idx, p.path, p.file)
		}
	}
	return nil
}
