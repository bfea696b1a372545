package samtemplate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Route is one HttpApi event: a method and path on an HTTP API, served by a
// function.
type Route struct {
	Method   string // upper case; "ANY" matches every method
	Path     string // e.g. /sandboxes/{id}; {name+} is a greedy variable
	Function string // logical id of the function
	Event    string // name of the event in the function's Events
	API      string // logical id of the HttpApi
	// PayloadFormatVersion is "2.0" unless the event says "1.0".
	PayloadFormatVersion string
	// TimeoutMillis is the integration timeout the event sets; 0 means
	// API Gateway's default (30 s, also the maximum).
	TimeoutMillis int
	// Authorizer is the authorizer that protects the route: the event's
	// own or the API's default; empty when the route is open.
	Authorizer string
}

// Key is the route key as API Gateway writes it: "METHOD /path".
func (r Route) Key() string {
	return r.Method + " " + r.Path
}

func sortRoutes(routes []Route) {
	slices.SortFunc(routes, func(a, b Route) int {
		return cmp.Or(cmp.Compare(a.API, b.API), cmp.Compare(a.Path, b.Path), cmp.Compare(a.Method, b.Method))
	})
}

// checkRoutes rejects what API Gateway would reject at deploy time: two
// routes with the same key on one API, and malformed path variables.
func checkRoutes(routes []Route) error {
	seen := map[string]Route{}
	for _, r := range routes {
		if err := checkPath(r.Path); err != nil {
			return fmt.Errorf("function %s, event %s: %w", r.Function, r.Event, err)
		}
		k := r.API + " " + r.Method + " " + normalizePath(r.Path)
		if prev, ok := seen[k]; ok {
			return fmt.Errorf("route %s on %s is declared twice: %s.%s and %s.%s",
				r.Key(), r.API, prev.Function, prev.Event, r.Function, r.Event)
		}
		seen[k] = r
	}
	return nil
}

func checkPath(path string) error {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	names := map[string]bool{}
	for i, s := range segs {
		if !strings.ContainsAny(s, "{}") {
			continue
		}
		if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") || len(s) < 3 {
			return fmt.Errorf("path %q: a variable must be a whole segment like {id}", path)
		}
		name := s[1 : len(s)-1]
		if strings.HasSuffix(name, "+") {
			if i != len(segs)-1 {
				return fmt.Errorf("path %q: a greedy variable must be the last segment", path)
			}
			name = strings.TrimSuffix(name, "+")
		}
		if name == "" || strings.ContainsAny(name, "{}+") {
			return fmt.Errorf("path %q: bad variable %s", path, s)
		}
		if names[name] {
			return fmt.Errorf("path %q: variable %s appears twice", path, name)
		}
		names[name] = true
	}
	return nil
}

// normalizePath replaces variable names by {} so that /a/{x} and /a/{y}
// count as the same route.
func normalizePath(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			if strings.HasSuffix(s, "+}") {
				segs[i] = "{+}"
			} else {
				segs[i] = "{}"
			}
		}
	}
	return strings.Join(segs, "/")
}

// segment kinds, in order of preference when several routes match.
const (
	segLiteral = iota
	segVariable
	segGreedy
)

// Match finds the route a request goes to, as API Gateway's HTTP API picks
// it: among the routes whose method (or ANY) and path match, the most
// specific path wins (segment by segment, a literal beats a {variable},
// which beats a greedy {variable+}), then an exact method beats ANY. path
// is matched as given (not URL-decoded, no query string). It returns the
// route and its path parameters.
func Match(routes []Route, method, path string) (Route, map[string]string, bool) {
	method = strings.ToUpper(method)
	reqSegs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var (
		best       Route
		bestParams map[string]string
		bestRank   []int
		found      bool
	)
	for _, r := range routes {
		if r.Method != method && r.Method != "ANY" {
			continue
		}
		params, rank, ok := matchPath(r.Path, reqSegs)
		if !ok {
			continue
		}
		methodRank := 0
		if r.Method == "ANY" {
			methodRank = 1
		}
		rank = append(rank, methodRank)
		if !found || slices.Compare(rank, bestRank) < 0 {
			best, bestParams, bestRank, found = r, params, rank, true
		}
	}
	return best, bestParams, found
}

// matchPath matches a route path against request segments. rank lists the
// kind of each route segment; lower compares as more specific.
func matchPath(routePath string, req []string) (map[string]string, []int, bool) {
	segs := strings.Split(strings.TrimPrefix(routePath, "/"), "/")
	params := map[string]string{}
	rank := make([]int, 0, len(segs))
	for i, s := range segs {
		switch {
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "+}"):
			if i >= len(req) {
				return nil, nil, false
			}
			rest := strings.Join(req[i:], "/")
			if rest == "" {
				return nil, nil, false
			}
			params[s[1:len(s)-2]] = rest
			rank = append(rank, segGreedy)
			return params, rank, true
		case i >= len(req):
			return nil, nil, false
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			if req[i] == "" {
				return nil, nil, false
			}
			params[s[1:len(s)-1]] = req[i]
			rank = append(rank, segVariable)
		default:
			if s != req[i] {
				return nil, nil, false
			}
			rank = append(rank, segLiteral)
		}
	}
	if len(segs) != len(req) {
		return nil, nil, false
	}
	return params, rank, true
}
