package daytonaspec

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/getkin/kin-openapi/routers"
)

// Routes says where each API is mounted in request URL paths.
//
// Main API paths are relative to the API base URL: with APIPrefix "/api",
// http://127.0.0.1:3003/api/sandbox is spec path /sandbox. Toolbox paths
// are relative to <toolboxProxyUrl>/<sandboxId>: with ToolboxPrefix
// "/toolbox", http://127.0.0.1:3003/toolbox/<id>/process/execute is spec
// path /process/execute. A prefix may be "" (mounted at the root); when
// both could match, the longer prefix wins.
type Routes struct {
	APIPrefix     string // default "/api"
	ToolboxPrefix string // default "/toolbox"; followed by /{sandboxId}
}

// DefaultRoutes returns the layout of Daytona Cloud and of the local
// Daytona-compatible server: /api for the main API, /toolbox/{sandboxId}
// for the toolbox.
func DefaultRoutes() Routes {
	return Routes{APIPrefix: "/api", ToolboxPrefix: "/toolbox"}
}

// matched is a request resolved to an operation.
type matched struct {
	api      *apiDoc
	route    *routers.Route
	params   map[string]string
	specReq  *http.Request // shallow copy of the request with the spec-relative URL path
	specPath string        // spec-relative path as sent
}

// operation names the matched operation, e.g. "POST /process/execute".
func (m *matched) operation() string {
	if m == nil || m.route == nil {
		return ""
	}
	return m.route.Method + " " + m.route.Path
}

// cleanPrefix makes "api/" and "/api/" both "/api"; "" and "/" are "".
func cleanPrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return "/" + p
}

// underPrefix reports whether path is prefix itself or below it, and
// returns the rest (starting with "/", or "").
func underPrefix(path, prefix string) (string, bool) {
	if prefix == "" {
		return path, true
	}
	if path == prefix {
		return "", true
	}
	if rest, ok := strings.CutPrefix(path, prefix); ok && strings.HasPrefix(rest, "/") {
		return rest, true
	}
	return "", false
}

// split decides which API a URL path belongs to and returns the escaped
// spec-relative path.
func (r Routes) split(escaped string) (API, string, error) {
	apiPrefix, tbPrefix := cleanPrefix(r.APIPrefix), cleanPrefix(r.ToolboxPrefix)
	type cand struct {
		api    API
		prefix string
	}
	order := []cand{{MainAPI, apiPrefix}, {ToolboxAPI, tbPrefix}}
	if len(tbPrefix) > len(apiPrefix) {
		order[0], order[1] = order[1], order[0]
	}
	for _, c := range order {
		rest, ok := underPrefix(escaped, c.prefix)
		if !ok {
			continue
		}
		if c.api == MainAPI {
			if rest == "" {
				rest = "/"
			}
			return MainAPI, rest, nil
		}
		// Toolbox: /{sandboxId} comes first.
		id, tail, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
		if id == "" {
			if c.prefix == "" {
				continue // let a root-mounted main API have it
			}
			return ToolboxAPI, "", fmt.Errorf("toolbox path has no sandbox id after %q", c.prefix)
		}
		return ToolboxAPI, "/" + tail, nil
	}
	return "", "", fmt.Errorf("path is under neither the API prefix %q nor the toolbox prefix %q", apiPrefix, tbPrefix+"/{sandboxId}")
}

// match resolves req to an operation of one of the two specs.
func (s *Spec) match(req *http.Request, routes Routes) (*matched, error) {
	which, escaped, err := routes.split(req.URL.EscapedPath())
	if err != nil {
		return nil, err
	}
	doc := s.api
	if which == ToolboxAPI {
		doc = s.toolbox
	}
	unescaped, err := url.PathUnescape(escaped)
	if err != nil {
		return &matched{api: doc}, fmt.Errorf("bad path escaping: %w", err)
	}
	u := *req.URL
	u.Path, u.RawPath = unescaped, escaped
	specReq := *req // shallow: routing and parameter checks only read it
	specReq.URL = &u
	route, params, err := doc.find(&specReq)
	m := &matched{api: doc, route: route, params: params, specReq: &specReq, specPath: unescaped}
	if err != nil {
		return m, fmt.Errorf("%s %s: %w", req.Method, unescaped, err)
	}
	return m, nil
}
