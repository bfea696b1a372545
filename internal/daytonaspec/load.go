package daytonaspec

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// API names which of Daytona's two specs an operation belongs to.
type API string

// The two Daytona APIs.
const (
	MainAPI    API = "api"     // api-openapi.json, paths relative to the API base URL
	ToolboxAPI API = "toolbox" // toolbox-openapi3.yaml, paths relative to <toolboxProxyUrl>/<sandboxId>
)

// Spec holds both parsed Daytona specs, patched for kin-openapi
// (Workarounds lists how) and ready for routing. A Spec is immutable and
// safe for concurrent use; Load shares one per directory process-wide.
type Spec struct {
	dir         string
	api         *apiDoc
	toolbox     *apiDoc
	workarounds []string
	filter      *openapi3filter.Options
}

// apiDoc is one spec with one router per HTTP method (see newAPIDoc).
type apiDoc struct {
	name    API
	doc     *openapi3.T
	routers map[string]routers.Router
	methods []string // sorted keys of routers
}

// Dir returns the directory the specs were read from.
func (s *Spec) Dir() string { return s.dir }

// Doc returns the patched document of one API, for tests that want to
// enumerate operations. Callers must not modify it.
func (s *Spec) Doc(api API) *openapi3.T {
	switch api {
	case MainAPI:
		return s.api.doc
	case ToolboxAPI:
		return s.toolbox.doc
	}
	return nil
}

// Workarounds lists, one line each, every change Load made to the
// published specs so that kin-openapi can load and route them.
func (s *Spec) Workarounds() []string { return slices.Clone(s.workarounds) }

// Load returns the process-wide Spec for the specs directory chosen by
// SpecDir. When the specs are not on this machine it skips the test with
// a message that names the missing path and the environment variable to
// set; a spec that is present but cannot be loaded fails the test.
func Load(tb testing.TB) *Spec {
	tb.Helper()
	dir, err := SpecDir()
	if err != nil {
		tb.Skip(err.Error())
		return nil
	}
	s, err := LoadDir(dir)
	if err != nil {
		if errors.Is(err, ErrSpecsMissing) {
			tb.Skip(err.Error())
			return nil
		}
		tb.Fatalf("daytonaspec: %v", err)
		return nil
	}
	return s
}

type cacheEntry struct {
	once sync.Once
	spec *Spec
	err  error
}

var cache sync.Map // absolute dir -> *cacheEntry

// LoadDir parses the two spec files in dir, once per process per
// directory; later calls return the same *Spec (or the same error).
func LoadDir(dir string) (*Spec, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("daytonaspec: specs directory %q: %w", dir, err)
	}
	v, _ := cache.LoadOrStore(abs, &cacheEntry{})
	e := v.(*cacheEntry)
	e.once.Do(func() { e.spec, e.err = parseDir(abs) })
	return e.spec, e.err
}

// parseDir does the uncached work of LoadDir.
func parseDir(dir string) (*Spec, error) {
	s := &Spec{dir: dir}
	var err error
	if s.api, err = loadOne(MainAPI, filepath.Join(dir, APISpecFile), &s.workarounds); err != nil {
		return nil, err
	}
	if s.toolbox, err = loadOne(ToolboxAPI, filepath.Join(dir, ToolboxSpecFile), &s.workarounds); err != nil {
		return nil, err
	}
	s.filter = &openapi3filter.Options{
		AuthenticationFunc:    authenticate,
		IncludeResponseStatus: true, // an undeclared status is a violation
		MultiError:            true, // report every problem, not the first
		SkipSettingDefaults:   true, // never rewrite the body under validation
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			// Keep messages short ("Error at "/cpu": value must be a
			// number") and keep request values (which may hold secrets)
			// out of test logs.
			openapi3.DisableSchemaErrorDetails(),
		},
	}
	return s, nil
}

// loadOne reads, patches, validates and indexes one spec file.
func loadOne(name API, path string, notes *[]string) (*apiDoc, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("load %s spec %s: %w", name, path, err)
	}
	for _, n := range patch(doc) {
		*notes = append(*notes, string(name)+": "+n)
	}
	a, err := newAPIDoc(name, doc)
	if err != nil {
		return nil, fmt.Errorf("%s spec %s: %w", name, path, err)
	}
	return a, nil
}

// newAPIDoc builds one gorillamux router per HTTP method, each over a
// document holding only that method's operations. gorillamux matches the
// path first and the method second, so with a single router a literal path
// shadows a templated one for the other methods (DELETE /sandbox/paginated
// would be "method not allowed" instead of deleting a sandbox named
// "paginated"), and the two templates /sandbox/{sandboxId}/secrets (GET)
// and /sandbox/{sandboxIdOrName}/secrets (PUT) make doc.Validate fail with
// "conflicting paths". Per method, neither happens.
func newAPIDoc(name API, doc *openapi3.T) (*apiDoc, error) {
	perMethod := map[string]*openapi3.Paths{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			p := perMethod[method]
			if p == nil {
				p = openapi3.NewPaths()
				perMethod[method] = p
			}
			one := &openapi3.PathItem{Parameters: item.Parameters, Summary: item.Summary, Description: item.Description}
			one.SetOperation(method, op)
			p.Set(path, one)
		}
	}
	a := &apiDoc{name: name, doc: doc, routers: map[string]routers.Router{}}
	for method, paths := range perMethod {
		md := &openapi3.T{
			OpenAPI:    doc.OpenAPI,
			Info:       doc.Info,
			Components: doc.Components,
			Security:   doc.Security,
			Paths:      paths,
		}
		// Examples are documentation, never used on traffic; several are
		// invalid in the published specs (e.g. CreateSnapshot, and
		// AccessibilityNodesResponse with a null child), so they are not
		// validated.
		if err := md.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
			return nil, fmt.Errorf("validate %s operations: %w", method, err)
		}
		r, err := gorillamux.NewRouter(md)
		if err != nil {
			return nil, fmt.Errorf("router for %s operations: %w", method, err)
		}
		a.routers[method] = r
		a.methods = append(a.methods, method)
	}
	slices.Sort(a.methods)
	return a, nil
}

// find routes a request whose URL path is already relative to the API
// base. The error says whether the path or only the method is unknown.
func (a *apiDoc) find(req *http.Request) (*routers.Route, map[string]string, error) {
	if r, ok := a.routers[req.Method]; ok {
		if route, params, err := r.FindRoute(req); err == nil {
			return route, params, nil
		}
	}
	var declared []string
	for _, m := range a.methods {
		if m == req.Method {
			continue
		}
		other := *req
		other.Method = m
		if _, _, err := a.routers[m].FindRoute(&other); err == nil {
			declared = append(declared, m)
		}
	}
	if len(declared) > 0 {
		return nil, nil, fmt.Errorf("method %s is not declared for this path in the %s spec (declared: %v)", req.Method, a.name, declared)
	}
	return nil, nil, fmt.Errorf("no operation in the %s spec matches this path", a.name)
}
