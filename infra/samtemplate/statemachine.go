package samtemplate

import (
	"fmt"
	"maps"
	"slices"
)

// StateMachine is an AWS::Serverless::StateMachine whose definition is a
// file (DefinitionUri).
type StateMachine struct {
	LogicalID string
	// Name is the Name property as resolved (pseudo parameters take their
	// local values); "" when the template leaves it to CloudFormation.
	Name string
	Type string // STANDARD or EXPRESS
	// DefinitionURI is the ASL file, relative to the template.
	DefinitionURI string
	// Substitutions are the DefinitionSubstitutions, values resolved as
	// the environment's are: Fn::GetAtt X.Arn reads "${X.Arn}".
	Substitutions map[string]string
	// AutoPublishAlias is the alias SAM points at each new machine
	// version; "" when the machine is not versioned.
	AutoPublishAlias string
	// Tracing is whether X-Ray traces its executions (Tracing.Enabled).
	Tracing bool
}

// Rule is an EventBridgeRule event of a function: which events reach it,
// and the input it gets.
type Rule struct {
	Function, Event string
	// Pattern is the event pattern, as JSON decodes it.
	Pattern map[string]any
	// InputPaths and InputTemplate are the InputTransformer's; both empty
	// when the function gets the whole event.
	InputPaths    map[string]string
	InputTemplate string
}

func stateMachines(doc *document) ([]StateMachine, error) {
	var out []StateMachine
	for _, id := range slices.Sorted(maps.Keys(doc.Resources)) {
		res := doc.Resources[id]
		if res.Type != "AWS::Serverless::StateMachine" {
			continue
		}
		p := res.Properties
		sm := StateMachine{LogicalID: id, Substitutions: map[string]string{}, Type: "STANDARD"}
		sm.Name, _ = p["Name"].(string)
		if t, ok := p["Type"].(string); ok {
			sm.Type = t
		}
		uri, ok := p["DefinitionUri"].(string)
		if !ok {
			return nil, fmt.Errorf("state machine %s: only a DefinitionUri naming a local file is supported", id)
		}
		sm.DefinitionURI = uri
		sm.AutoPublishAlias, _ = p["AutoPublishAlias"].(string)
		tracing, _ := p["Tracing"].(map[string]any)
		sm.Tracing, _ = tracing["Enabled"].(bool)
		subs, _ := p["DefinitionSubstitutions"].(map[string]any)
		for k, v := range subs {
			sm.Substitutions[k] = scalarString(v)
		}
		out = append(out, sm)
	}
	return out, nil
}

func rules(fnID string, props map[string]any) ([]Rule, error) {
	events, _ := props["Events"].(map[string]any)
	var out []Rule
	for _, name := range slices.Sorted(maps.Keys(events)) {
		ev, _ := events[name].(map[string]any)
		if ev["Type"] != "EventBridgeRule" {
			continue
		}
		p, _ := ev["Properties"].(map[string]any)
		r := Rule{Function: fnID, Event: name, InputPaths: map[string]string{}}
		if r.Pattern, _ = p["Pattern"].(map[string]any); r.Pattern == nil {
			return nil, fmt.Errorf("function %s, event %s: an EventBridgeRule needs a Pattern", fnID, name)
		}
		if it, ok := p["InputTransformer"].(map[string]any); ok {
			r.InputTemplate, _ = it["InputTemplate"].(string)
			paths, _ := it["InputPathsMap"].(map[string]any)
			for k, v := range paths {
				r.InputPaths[k], _ = v.(string)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// StateMachines returns the template's state machines, by logical id.
func (t *Template) StateMachines() []StateMachine {
	out := slices.Clone(t.machines)
	for i := range out {
		out[i].Substitutions = maps.Clone(out[i].Substitutions)
	}
	return out
}

// Rules returns every function's EventBridge rules, by function then
// event. Their patterns and paths are shared: callers must not modify them.
func (t *Template) Rules() []Rule {
	var out []Rule
	for _, f := range t.functions {
		out = append(out, f.Rules...)
	}
	return out
}

// Schedule is a Schedule event of a function: the input it gets on each
// run. The expression is left to the caller (the template's is a
// parameter: REAPER_SCHEDULE).
type Schedule struct {
	Function, Event string
	Input           string
}

func schedules(fnID string, props map[string]any) []Schedule {
	events, _ := props["Events"].(map[string]any)
	var out []Schedule
	for _, name := range slices.Sorted(maps.Keys(events)) {
		ev, _ := events[name].(map[string]any)
		if ev["Type"] != "Schedule" {
			continue
		}
		p, _ := ev["Properties"].(map[string]any)
		sc := Schedule{Function: fnID, Event: name}
		sc.Input, _ = p["Input"].(string)
		out = append(out, sc)
	}
	return out
}

// Schedules returns every function's Schedule events, by function then
// event.
func (t *Template) Schedules() []Schedule {
	var out []Schedule
	for _, f := range t.functions {
		out = append(out, f.Schedules...)
	}
	return out
}
