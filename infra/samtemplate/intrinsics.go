package samtemplate

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/awslabs/goformation/v7/intrinsics"
)

// Pseudo parameter values used when a template is read outside AWS. They
// match what goformation and `sam local` assume.
var pseudoParameters = map[string]any{
	"AWS::AccountId":        "123456789012",
	"AWS::Region":           "us-east-1",
	"AWS::Partition":        "aws",
	"AWS::URLSuffix":        "amazonaws.com",
	"AWS::StackName":        "sandstep-local",
	"AWS::StackId":          "arn:aws:cloudformation:us-east-1:123456789012:stack/sandstep-local/00000000-0000-0000-0000-000000000000",
	"AWS::NotificationARNs": []any{},
}

// stringifyEnvironments turns every scalar environment variable value of
// the functions (and of Globals) into a string, as Lambda sees it: a Ref to
// a Number parameter is a number after processing, and goformation types
// Environment.Variables as map[string]string.
func stringifyEnvironments(doc map[string]any) {
	fix := func(props any) {
		p, _ := props.(map[string]any)
		env, _ := p["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		for k, v := range vars {
			switch v.(type) {
			case float64, bool:
				vars[k] = scalarString(v)
			}
		}
	}
	if globals, ok := doc["Globals"].(map[string]any); ok {
		fix(globals["Function"])
	}
	resources, _ := doc["Resources"].(map[string]any)
	for _, r := range resources {
		rm, _ := r.(map[string]any)
		switch rm["Type"] {
		case "AWS::Serverless::Function", "AWS::Lambda::Function":
			fix(rm["Properties"])
		}
	}
}

// intrinsicHandlers replaces goformation's Ref, Fn::Sub and Fn::GetAtt,
// which drop what they cannot resolve, with handlers that keep it visible:
//
//   - Ref to a parameter: its default (or override): a list for list types,
//     a number for Number, a string otherwise; Ref to a resource: its logical id
//     (as `sam local` does); Ref to AWS::NoValue: nil.
//   - Fn::GetAtt: the placeholder "${Logical.Attribute}".
//   - Fn::If: the branch its condition chooses, when the condition is an
//     Fn::Equals of values resolved as above; nil otherwise.
//   - Fn::Sub: variables resolved as above; unresolvable ones are kept as
//     written; "${!Literal}" becomes "${Literal}".
func intrinsicHandlers() map[string]intrinsics.IntrinsicHandler {
	return map[string]intrinsics.IntrinsicHandler{
		"Ref":        refHandler,
		"Fn::GetAtt": getAttHandler,
		"Fn::Sub":    subHandler,
		"Fn::If":     ifHandler,
	}
}

func ifHandler(_ string, input any, template any) any {
	args, _ := input.([]any)
	if len(args) != 3 {
		return nil
	}
	name, _ := args[0].(string)
	doc, _ := template.(map[string]any)
	conditions, _ := doc["Conditions"].(map[string]any)
	switch holds := conditionHolds(conditions[name], template); {
	case holds == nil:
		return nil
	case *holds:
		return args[1]
	default:
		return args[2]
	}
}

// conditionHolds evaluates a condition: one already evaluated (goformation
// turns Fn::Equals into a bool when it reaches the Conditions section
// first), or an Fn::Equals of scalars and Refs. nil: it cannot tell.
func conditionHolds(expr any, template any) *bool {
	if b, ok := expr.(bool); ok {
		return &b
	}
	m, _ := expr.(map[string]any)
	args, _ := m["Fn::Equals"].([]any)
	if len(args) != 2 {
		return nil
	}
	var vals [2]string
	for i, a := range args {
		if ref, ok := a.(map[string]any); ok {
			name, _ := ref["Ref"].(string)
			v, ok := resolveRef(name, template)
			if !ok {
				return nil
			}
			a = v
		}
		vals[i] = scalarString(a)
	}
	eq := vals[0] == vals[1]
	return &eq
}

func refHandler(_ string, input any, template any) any {
	name, ok := input.(string)
	if !ok {
		return nil
	}
	v, _ := resolveRef(name, template)
	return v
}

// resolveRef resolves a Ref. ok is false when name is neither a pseudo
// parameter, a parameter nor a resource.
func resolveRef(name string, template any) (any, bool) {
	if name == "AWS::NoValue" {
		return nil, true
	}
	if v, ok := pseudoParameters[name]; ok {
		return v, true
	}
	doc, _ := template.(map[string]any)
	if params, _ := doc["Parameters"].(map[string]any); params != nil {
		if p, ok := params[name].(map[string]any); ok {
			typ, _ := p["Type"].(string)
			return parameterValue(typ, p["Default"]), true
		}
	}
	if resources, _ := doc["Resources"].(map[string]any); resources != nil {
		if _, ok := resources[name]; ok {
			return name, true
		}
		// SAM's Ref X.Version / X.Alias (a function's AutoPublishAlias):
		// the qualified ARN, approximated as Fn::GetAtt is.
		if id, attr, ok := strings.Cut(name, "."); ok && (attr == "Version" || attr == "Alias") && resources[id] != nil {
			return "${" + name + "}", true
		}
	}
	return nil, false
}

// parameterValue is what Ref to a parameter of type typ with value def
// gives: a list of strings for list types, a number for Number (so typed
// integer properties decode; environment values are turned back into
// strings, see stringifyEnvironments), a string otherwise.
func parameterValue(typ string, def any) any {
	s := scalarString(def)
	if typ == "Number" {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
		return s
	}
	if typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<") {
		if list, ok := def.([]any); ok {
			out := make([]any, 0, len(list))
			for _, item := range list {
				out = append(out, scalarString(item))
			}
			return out
		}
		if s == "" {
			return []any{}
		}
		parts := strings.Split(s, ",")
		out := make([]any, 0, len(parts))
		for _, part := range parts {
			out = append(out, strings.TrimSpace(part))
		}
		return out
	}
	return s
}

func scalarString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	default:
		return ""
	}
}

func getAttHandler(_ string, input any, _ any) any {
	switch v := input.(type) {
	case string: // short form: !GetAtt A.B
		return "${" + v + "}"
	case []any:
		parts := make([]string, 0, len(v))
		for _, p := range v {
			s, ok := p.(string)
			if !ok {
				return nil
			}
			parts = append(parts, s)
		}
		return "${" + strings.Join(parts, ".") + "}"
	}
	return nil
}

var subVariable = regexp.MustCompile(`\$\{([^}]*)\}`)

func subHandler(_ string, input any, template any) any {
	var src string
	var vars map[string]any
	switch v := input.(type) {
	case string:
		src = v
	case []any:
		if len(v) != 2 {
			return nil
		}
		s, ok := v[0].(string)
		if !ok {
			return nil
		}
		src = s
		vars, _ = v[1].(map[string]any)
	default:
		return nil
	}
	return subVariable.ReplaceAllStringFunc(src, func(m string) string {
		name := strings.TrimSpace(m[2 : len(m)-1])
		if strings.HasPrefix(name, "!") {
			return "${" + name[1:] + "}"
		}
		if v, ok := vars[name]; ok {
			switch v := v.(type) {
			case string:
				return v
			case float64, bool:
				return scalarString(v)
			}
			return m
		}
		if strings.Contains(name, ".") && !strings.HasPrefix(name, "AWS::") {
			return m // an attribute: known only after deploy
		}
		if v, ok := resolveRef(name, template); ok {
			switch v := v.(type) {
			case string:
				return v
			case float64:
				return scalarString(v)
			}
			// A list: Fn::Sub cannot take one; CloudFormation would reject it.
		}
		return m
	})
}
