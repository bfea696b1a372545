// Package samtemplate reads sandstep's AWS SAM template (template.yaml) and
// exposes what the rest of the code needs from it: the Lambda functions with
// their effective settings, the HTTP API routes, the authorizers, the
// parameters and outputs. The local stack builds its API routes and function
// environments from it; tests use it to pin the deployed contract.
//
// Parsing is done by github.com/awslabs/goformation/v7, with two
// corrections:
//
//   - Globals are merged into each function as SAM merges them: scalars in
//     the function win, maps (Environment.Variables) are merged key by key,
//     lists (Architectures) are the global entries followed by the
//     function's.
//   - Intrinsic functions are approximated without AWS: Ref to a parameter
//     gives its default or override (always a string, or a list for list
//     types), Ref to a resource gives its logical id, Fn::GetAtt gives the
//     placeholder "${Logical.Attribute}", and Fn::Sub keeps what it cannot
//     resolve as written. Pseudo parameters take fixed local values
//     (account 123456789012, region us-east-1, partition aws).
package samtemplate

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/global"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// Lambda's own defaults, used when neither the function nor Globals set them.
const (
	DefaultTimeout    = 3   // seconds
	DefaultMemorySize = 128 // MB
)

// ImplicitHTTPAPI is the logical id SAM gives the HTTP API it creates for
// HttpApi events that name no ApiId.
const ImplicitHTTPAPI = "ServerlessHttpApi"

// Template is a parsed SAM template. It is immutable and safe for
// concurrent use.
type Template struct {
	cfn       *cloudformation.Template
	functions []Function
	apis      []HTTPAPI
	params    []Parameter
	outputs   map[string]Output
	tables    []string
	machines  []StateMachine
	resources []Resource
}

// Function is an AWS::Serverless::Function with Globals merged in.
type Function struct {
	LogicalID     string
	CodeURI       string
	Runtime       string
	Architectures []string
	Handler       string
	// BuildMethod and BuildProperties come from the resource's Metadata
	// (what `sam build` uses); BuildMethod is e.g. "go1.x".
	BuildMethod     string
	BuildProperties map[string]any
	Timeout         int // seconds
	MemorySize      int // MB
	Tracing         string
	// AutoPublishAlias is the alias SAM points at each deploy's new
	// version; "" when the function publishes none.
	AutoPublishAlias string
	// Environment holds the merged variables with intrinsics approximated
	// (see the package documentation).
	Environment map[string]string
	// Routes are the function's HttpApi events, sorted by path then method.
	Routes []Route
	// Policies are the statements of the function's inline policy
	// documents; ManagedPolicies are the policies named by string (managed
	// policy names or ARNs) and SAM policy templates (by template name).
	Policies        []Statement
	ManagedPolicies []string
	// Rules are the function's EventBridgeRule events, by event name.
	Rules []Rule
	// Schedules are the function's Schedule events, by event name.
	Schedules []Schedule
}

// EnvNames returns the names of the function's environment variables, sorted.
func (f Function) EnvNames() []string {
	return slices.Sorted(maps.Keys(f.Environment))
}

// Statement is one IAM policy statement. Action and Resource are always
// lists, even when the template writes a single string.
type Statement struct {
	Sid       string
	Effect    string
	Actions   []string
	Resources []string
	// Condition is the statement's condition block as written, intrinsics
	// approximated.
	Condition map[string]any
}

// HTTPAPI is an AWS::Serverless::HttpApi (or the implicit one).
type HTTPAPI struct {
	LogicalID string
	// DefaultAuthorizer names the authorizer every route uses unless its
	// event says otherwise; empty when there is none.
	DefaultAuthorizer string
	Authorizers       map[string]Authorizer
}

// Authorizer is an HTTP API authorizer. Only JWT authorizers carry Issuer
// and Audience.
type Authorizer struct {
	Name           string
	Type           string // "JWT" or "LAMBDA"
	IdentitySource []string
	Issuer         string
	Audience       []string
}

// Parameter is a template parameter. Default is the value Ref gives: the
// default as a string (after overrides), comma-joined for list types.
type Parameter struct {
	Name          string
	Type          string
	Default       string
	HasDefault    bool
	Description   string
	AllowedValues []string
	// AllowedPattern is the parameter's regular expression (Java syntax in
	// CloudFormation, matched against the whole value); empty if none.
	AllowedPattern string
	NoEcho         bool
}

// Output is a template output; Value is its value with intrinsics
// approximated (a string, or JSON text for anything else).
type Output struct {
	Name        string
	Value       string
	Description string
}

// Option adjusts how a template is read.
type Option func(*options)

type options struct {
	params map[string]string
}

// WithParameters sets parameter values as `sam deploy --parameter-overrides`
// would; they replace the defaults wherever the template refers to them.
// For list parameters give the comma-separated form.
func WithParameters(values map[string]string) Option {
	return func(o *options) {
		if o.params == nil {
			o.params = map[string]string{}
		}
		maps.Copy(o.params, values)
	}
}

// goformation registers its YAML tag resolvers in a package-level map on
// every parse; parses are serialised so concurrent Loads do not race on it.
var parseMu sync.Mutex

// Load reads and parses the SAM template at path.
func Load(path string, opts ...Option) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %w", err)
	}
	t, err := Parse(data, opts...)
	if err != nil {
		return nil, fmt.Errorf("samtemplate: %s: %w", path, err)
	}
	return t, nil
}

// Parse parses a SAM template given as YAML (or JSON, which is YAML).
func Parse(data []byte, opts ...Option) (*Template, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	popts := &intrinsics.ProcessorOptions{IntrinsicHandlerOverrides: intrinsicHandlers()}
	if len(o.params) > 0 {
		popts.ParameterOverrides = map[string]any{}
		for k, v := range o.params {
			popts.ParameterOverrides[k] = v
		}
	}
	parseMu.Lock()
	processed, err := intrinsics.ProcessYAML(data, popts)
	parseMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(processed, &raw); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if len(o.params) > 0 {
		params, _ := raw["Parameters"].(map[string]any)
		for _, name := range slices.Sorted(maps.Keys(o.params)) {
			if _, ok := params[name]; !ok {
				return nil, fmt.Errorf("parameter override %q: no such parameter in the template", name)
			}
		}
	}
	stringifyEnvironments(raw)
	var doc document
	if processed, err = json.Marshal(raw); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := json.Unmarshal(processed, &doc); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if processed, err = json.Marshal(withoutUntyped(raw)); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	cfn := &cloudformation.Template{}
	if err := json.Unmarshal(processed, cfn); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return build(cfn, &doc)
}

// untyped are the properties SAM accepts that goformation's types lack
// (its decoding refuses unknown fields); the document keeps them.
var untyped = map[string][]string{
	"AWS::Serverless::StateMachine": {"AutoPublishAlias"},
}

// withoutUntyped drops the untyped properties from raw's resources, in
// place; raw has already been decoded into the document.
func withoutUntyped(raw map[string]any) map[string]any {
	resources, _ := raw["Resources"].(map[string]any)
	for _, r := range resources {
		res, _ := r.(map[string]any)
		props, _ := res["Properties"].(map[string]any)
		typ, _ := res["Type"].(string)
		for _, name := range untyped[typ] {
			delete(props, name)
		}
	}
	return raw
}

// document is the processed template as plain JSON, for the parts
// goformation types loosely (policies, authorizers, parameters).
type document struct {
	Parameters map[string]map[string]any `json:"Parameters"`
	Resources  map[string]struct {
		Type       string         `json:"Type"`
		Condition  string         `json:"Condition"`
		Properties map[string]any `json:"Properties"`
	} `json:"Resources"`
}

// Resource is any resource of the template as written (SAM's generated
// resources are not there), its properties with intrinsics approximated.
type Resource struct {
	LogicalID, Type string
	// Condition names the condition the resource is created under; "" for
	// always.
	Condition  string
	Properties map[string]any
}

// Resources returns the template's resources of type typ, by logical id.
func (t *Template) Resources(typ string) []Resource {
	var out []Resource
	for _, r := range t.resources {
		if r.Type == typ {
			r.Properties = deepCopy(r.Properties)
			out = append(out, r)
		}
	}
	return out
}

// deepCopy copies a JSON-decoded map, so callers cannot change the
// template's.
func deepCopy(m map[string]any) map[string]any {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // decoded from JSON: it encodes
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func build(cfn *cloudformation.Template, doc *document) (*Template, error) {
	t := &Template{cfn: cfn, outputs: map[string]Output{}}

	for _, name := range slices.Sorted(maps.Keys(doc.Parameters)) {
		t.params = append(t.params, newParameter(name, doc.Parameters[name]))
	}
	for name, out := range cfn.Outputs {
		o := Output{Name: name, Value: valueString(out.Value)}
		if out.Description != nil {
			o.Description = *out.Description
		}
		t.outputs[name] = o
	}
	for _, id := range slices.Sorted(maps.Keys(doc.Resources)) {
		r := doc.Resources[id]
		if r.Type == "AWS::DynamoDB::Table" {
			t.tables = append(t.tables, id)
		}
		t.resources = append(t.resources, Resource{LogicalID: id, Type: r.Type, Condition: r.Condition, Properties: r.Properties})
	}

	apis, err := httpAPIs(cfn, doc)
	if err != nil {
		return nil, err
	}
	if t.machines, err = stateMachines(doc); err != nil {
		return nil, err
	}

	var glob *global.Function
	if g, err := cfn.GetServerlessGlobalFunction(); err == nil {
		glob = g
	}
	fns := cfn.GetAllServerlessFunctionResources()
	for _, id := range slices.Sorted(maps.Keys(fns)) {
		f, err := newFunction(id, fns[id], glob, doc.Resources[id].Properties)
		if err != nil {
			return nil, err
		}
		for _, r := range f.Routes {
			if _, ok := apis[r.API]; !ok {
				if r.API != ImplicitHTTPAPI {
					return nil, fmt.Errorf("function %s, event %s: ApiId %q is not an AWS::Serverless::HttpApi in this template", id, r.Event, r.API)
				}
				apis[r.API] = &HTTPAPI{LogicalID: ImplicitHTTPAPI, Authorizers: map[string]Authorizer{}}
			}
		}
		t.functions = append(t.functions, f)
	}
	for i := range t.functions {
		for j := range t.functions[i].Routes {
			r := &t.functions[i].Routes[j]
			r.Authorizer = effectiveAuthorizer(r.Authorizer, apis[r.API])
		}
	}
	if err := checkRoutes(t.Routes()); err != nil {
		return nil, err
	}
	for _, id := range slices.Sorted(maps.Keys(apis)) {
		t.apis = append(t.apis, *apis[id])
	}
	return t, nil
}

func newParameter(name string, raw map[string]any) Parameter {
	p := Parameter{Name: name}
	p.Type, _ = raw["Type"].(string)
	p.Description, _ = raw["Description"].(string)
	p.NoEcho, _ = raw["NoEcho"].(bool)
	p.AllowedPattern, _ = raw["AllowedPattern"].(string)
	if def, ok := raw["Default"]; ok {
		p.HasDefault = true
		switch v := parameterValue(p.Type, def).(type) {
		case string:
			p.Default = v
		case float64:
			p.Default = scalarString(v)
		case []any:
			parts := make([]string, 0, len(v))
			for _, s := range v {
				parts = append(parts, scalarString(s))
			}
			p.Default = strings.Join(parts, ",")
		}
	}
	if av, ok := raw["AllowedValues"].([]any); ok {
		for _, v := range av {
			p.AllowedValues = append(p.AllowedValues, scalarString(v))
		}
	}
	return p
}

func valueString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func newFunction(id string, fn *serverless.Function, glob *global.Function, props map[string]any) (Function, error) {
	f := Function{
		LogicalID:   id,
		Timeout:     DefaultTimeout,
		MemorySize:  DefaultMemorySize,
		Environment: map[string]string{},
	}
	if glob != nil {
		setString(&f.CodeURI, codeURI(glob.CodeUri))
		setString(&f.Runtime, deref(glob.Runtime))
		setString(&f.Handler, deref(glob.Handler))
		setString(&f.Tracing, deref(glob.Tracing))
		setString(&f.AutoPublishAlias, deref(glob.AutoPublishAlias))
		setInt(&f.Timeout, glob.Timeout)
		setInt(&f.MemorySize, glob.MemorySize)
		if glob.Architectures != nil {
			f.Architectures = append(f.Architectures, (*glob.Architectures)...)
		}
		if glob.Environment != nil {
			maps.Copy(f.Environment, glob.Environment.Variables)
		}
	}
	setString(&f.CodeURI, codeURI(fn.CodeUri))
	setString(&f.Runtime, deref(fn.Runtime))
	setString(&f.Handler, deref(fn.Handler))
	setString(&f.Tracing, deref(fn.Tracing))
	setString(&f.AutoPublishAlias, deref(fn.AutoPublishAlias))
	setInt(&f.Timeout, fn.Timeout)
	setInt(&f.MemorySize, fn.MemorySize)
	f.Architectures = append(f.Architectures, fn.Architectures...)
	if fn.Environment != nil {
		maps.Copy(f.Environment, fn.Environment.Variables)
	}
	if md := fn.AWSCloudFormationMetadata; md != nil {
		f.BuildMethod, _ = md["BuildMethod"].(string)
		f.BuildProperties, _ = md["BuildProperties"].(map[string]any)
	}

	for _, name := range slices.Sorted(maps.Keys(fn.Events)) {
		ev := fn.Events[name]
		if ev.Type != "HttpApi" {
			continue
		}
		r, err := newRoute(id, name, ev)
		if err != nil {
			return Function{}, err
		}
		f.Routes = append(f.Routes, r)
	}
	sortRoutes(f.Routes)

	stmts, managed, err := policies(props["Policies"])
	if err != nil {
		return Function{}, fmt.Errorf("function %s: Policies: %w", id, err)
	}
	f.Policies, f.ManagedPolicies = stmts, managed
	if f.Rules, err = rules(id, props); err != nil {
		return Function{}, err
	}
	f.Schedules = schedules(id, props)
	return f, nil
}

func newRoute(fnID, event string, ev serverless.Function_EventSource) (Route, error) {
	if ev.Properties == nil || ev.Properties.HttpApiEvent == nil {
		return Route{}, fmt.Errorf("function %s, event %s: HttpApi event properties not understood", fnID, event)
	}
	p := ev.Properties.HttpApiEvent
	r := Route{
		Method:               strings.ToUpper(deref(p.Method)),
		Path:                 deref(p.Path),
		Function:             fnID,
		Event:                event,
		API:                  deref(p.ApiId),
		PayloadFormatVersion: deref(p.PayloadFormatVersion),
	}
	if r.API == "" {
		r.API = ImplicitHTTPAPI
	}
	if r.PayloadFormatVersion == "" {
		r.PayloadFormatVersion = "2.0" // SAM's default for HttpApi events
	}
	if p.TimeoutInMillis != nil {
		r.TimeoutMillis = *p.TimeoutInMillis
	}
	if p.Auth != nil {
		r.Authorizer = deref(p.Auth.Authorizer)
	}
	switch {
	case r.Method == "" && r.Path == "":
		return Route{}, fmt.Errorf("function %s, event %s: the $default route (no Method and Path) is not supported", fnID, event)
	case r.Method == "":
		return Route{}, fmt.Errorf("function %s, event %s: Method is required", fnID, event)
	case !strings.HasPrefix(r.Path, "/"):
		return Route{}, fmt.Errorf("function %s, event %s: Path %q must start with /", fnID, event, r.Path)
	}
	return r, nil
}

// effectiveAuthorizer resolves a route's authorizer: its own, else the
// API's default; "NONE" means no authorizer and becomes "".
func effectiveAuthorizer(own string, api *HTTPAPI) string {
	name := own
	if name == "" && api != nil {
		name = api.DefaultAuthorizer
	}
	if name == "NONE" {
		return ""
	}
	return name
}

func httpAPIs(cfn *cloudformation.Template, doc *document) (map[string]*HTTPAPI, error) {
	apis := map[string]*HTTPAPI{}
	for id := range cfn.GetAllServerlessHttpApiResources() {
		api := &HTTPAPI{LogicalID: id, Authorizers: map[string]Authorizer{}}
		auth, _ := doc.Resources[id].Properties["Auth"].(map[string]any)
		api.DefaultAuthorizer, _ = auth["DefaultAuthorizer"].(string)
		authorizers, _ := auth["Authorizers"].(map[string]any)
		for name, raw := range authorizers {
			a, err := newAuthorizer(name, raw)
			if err != nil {
				return nil, fmt.Errorf("HttpApi %s: %w", id, err)
			}
			api.Authorizers[name] = a
		}
		if d := api.DefaultAuthorizer; d != "" && d != "AWS_IAM" {
			if _, ok := api.Authorizers[d]; !ok {
				return nil, fmt.Errorf("HttpApi %s: DefaultAuthorizer %q is not one of its Authorizers", id, d)
			}
		}
		apis[id] = api
	}
	return apis, nil
}

func newAuthorizer(name string, raw any) (Authorizer, error) {
	m, ok := raw.(map[string]any)
	if !ok {
		return Authorizer{}, fmt.Errorf("authorizer %s: not a map", name)
	}
	a := Authorizer{Name: name, IdentitySource: stringList(m["IdentitySource"])}
	if jwt, ok := m["JwtConfiguration"].(map[string]any); ok {
		a.Type = "JWT"
		// SAM accepts the keys in any case and lower-cases them.
		for k, v := range jwt {
			switch strings.ToLower(k) {
			case "issuer":
				a.Issuer, _ = v.(string)
			case "audience":
				a.Audience = stringList(v)
			}
		}
		return a, nil
	}
	if _, ok := m["FunctionArn"]; ok {
		a.Type = "LAMBDA"
		return a, nil
	}
	return Authorizer{}, fmt.Errorf("authorizer %s: neither JwtConfiguration nor FunctionArn", name)
}

// policies reads a SAM Policies value: a string, a policy document, or a
// list of strings, documents and policy templates.
func policies(raw any) ([]Statement, []string, error) {
	var stmts []Statement
	var named []string
	var items []any
	switch v := raw.(type) {
	case nil:
		return nil, nil, nil
	case []any:
		items = v
	default:
		items = []any{v}
	}
	for i, item := range items {
		switch v := item.(type) {
		case string:
			named = append(named, v)
		case map[string]any:
			st, ok := v["Statement"]
			if !ok {
				// A SAM policy template: {TemplateName: {...}}.
				for name := range v {
					named = append(named, name)
				}
				continue
			}
			list, ok := st.([]any)
			if !ok {
				list = []any{st}
			}
			for j, s := range list {
				if s == nil {
					continue // an Fn::If branch of AWS::NoValue: CloudFormation drops it
				}
				sm, ok := s.(map[string]any)
				if !ok {
					return nil, nil, fmt.Errorf("policy %d, statement %d: not a map", i, j)
				}
				stmt := Statement{
					Actions:   stringList(sm["Action"]),
					Resources: stringList(sm["Resource"]),
				}
				stmt.Sid, _ = sm["Sid"].(string)
				stmt.Effect, _ = sm["Effect"].(string)
				stmt.Condition, _ = sm["Condition"].(map[string]any)
				if _, ok := sm["NotAction"]; ok {
					return nil, nil, fmt.Errorf("policy %d, statement %d: NotAction is not supported here", i, j)
				}
				if _, ok := sm["NotResource"]; ok {
					return nil, nil, fmt.Errorf("policy %d, statement %d: NotResource is not supported here", i, j)
				}
				stmts = append(stmts, stmt)
			}
		default:
			return nil, nil, fmt.Errorf("policy %d: unexpected %T", i, item)
		}
	}
	sort.Strings(named)
	return stmts, named, nil
}

func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, item := range v {
			out = append(out, valueString(item))
		}
		return out
	}
	return nil
}

func codeURI(c *serverless.Function_CodeUri) string {
	if c == nil || c.String == nil {
		return ""
	}
	return *c.String
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func setString(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func setInt(dst *int, v *int) {
	if v != nil {
		*dst = *v
	}
}

// Functions returns the template's functions, sorted by logical id.
func (t *Template) Functions() []Function {
	out := make([]Function, 0, len(t.functions))
	for _, f := range t.functions {
		out = append(out, f.clone())
	}
	return out
}

// Function returns the function with the given logical id.
func (t *Template) Function(logicalID string) (Function, bool) {
	for _, f := range t.functions {
		if f.LogicalID == logicalID {
			return f.clone(), true
		}
	}
	return Function{}, false
}

// clone copies what a caller might modify; Statement.Condition and the
// values inside BuildProperties stay shared and must not be modified.
func (f Function) clone() Function {
	f.Architectures = slices.Clone(f.Architectures)
	f.BuildProperties = maps.Clone(f.BuildProperties)
	f.Environment = maps.Clone(f.Environment)
	f.Routes = slices.Clone(f.Routes)
	f.ManagedPolicies = slices.Clone(f.ManagedPolicies)
	f.Policies = slices.Clone(f.Policies)
	f.Rules = slices.Clone(f.Rules)
	f.Schedules = slices.Clone(f.Schedules)
	for i := range f.Policies {
		f.Policies[i].Actions = slices.Clone(f.Policies[i].Actions)
		f.Policies[i].Resources = slices.Clone(f.Policies[i].Resources)
	}
	return f
}

// Routes returns every HttpApi route of every function, sorted by path
// then method.
func (t *Template) Routes() []Route {
	var routes []Route
	for _, f := range t.functions {
		routes = append(routes, f.Routes...)
	}
	sortRoutes(routes)
	return routes
}

// HTTPAPIs returns the template's HTTP APIs (including SAM's implicit one
// when an event uses it), sorted by logical id.
func (t *Template) HTTPAPIs() []HTTPAPI {
	out := make([]HTTPAPI, 0, len(t.apis))
	for _, a := range t.apis {
		out = append(out, a.clone())
	}
	return out
}

// HTTPAPI returns the HTTP API with the given logical id.
func (t *Template) HTTPAPI(logicalID string) (HTTPAPI, bool) {
	for _, a := range t.apis {
		if a.LogicalID == logicalID {
			return a.clone(), true
		}
	}
	return HTTPAPI{}, false
}

func (a HTTPAPI) clone() HTTPAPI {
	a.Authorizers = maps.Clone(a.Authorizers)
	for k, v := range a.Authorizers {
		v.IdentitySource = slices.Clone(v.IdentitySource)
		v.Audience = slices.Clone(v.Audience)
		a.Authorizers[k] = v
	}
	return a
}

// TableLogicalID returns the logical id of the template's DynamoDB table;
// it is an error unless there is exactly one.
func (t *Template) TableLogicalID() (string, error) {
	if len(t.tables) != 1 {
		return "", fmt.Errorf("samtemplate: want exactly one AWS::DynamoDB::Table, found %d %v", len(t.tables), t.tables)
	}
	return t.tables[0], nil
}

// Parameters returns the template's parameters, sorted by name.
func (t *Template) Parameters() []Parameter {
	return slices.Clone(t.params)
}

// Outputs returns the template's outputs by name.
func (t *Template) Outputs() map[string]Output {
	return maps.Clone(t.outputs)
}

// CloudFormation returns goformation's view of the template, for resources
// this package does not model (Globals not merged, intrinsics approximated
// as described in the package documentation). Callers must not modify it.
func (t *Template) CloudFormation() *cloudformation.Template {
	return t.cfn
}
