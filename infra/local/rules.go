package local

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sandstep/sandstep/infra/samtemplate"
)

// eventRules delivers events to the functions whose EventBridgeRule
// events match them, as EventBridge does for the template's rules: the
// pattern chooses, the input transformer shapes the input, and a failed
// delivery is retried.
type eventRules struct {
	rules []ruleTarget
	log   *slog.Logger
	// retries and backoff bound a delivery whose function fails. In AWS
	// EventBridge invokes a Lambda target asynchronously: its rule's retry
	// policy covers only an invocation Lambda refuses, and a function
	// error is retried by Lambda, twice (a minute, then two, apart); what
	// still fails is left to the reaper. Locally the same count, sooner.
	retries int
	backoff time.Duration
}

type ruleTarget struct {
	samtemplate.Rule
	fn *function
}

func newEventRules(tpl *samtemplate.Template, fns *functions, log *slog.Logger) (*eventRules, error) {
	er := &eventRules{log: log, retries: 2, backoff: time.Second}
	for _, r := range tpl.Rules() {
		fn, ok := fns.byLogicalID(r.Function)
		if !ok {
			return nil, fmt.Errorf("rule %s of %s: the function is not served", r.Event, r.Function)
		}
		er.rules = append(er.rules, ruleTarget{Rule: r, fn: fn})
	}
	return er, nil
}

// deliver sends event (any JSON value EventBridge would carry) to every
// matching rule's function, and returns once each has answered or given
// up.
func (er *eventRules) deliver(ctx context.Context, event any) {
	raw, err := json.Marshal(event)
	if err != nil {
		er.log.Error("event not delivered", "err", err)
		return
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		er.log.Error("event not delivered", "err", err)
		return
	}
	for _, r := range er.rules {
		if !patternMatches(r.Pattern, ev) {
			continue
		}
		input, err := transformInput(r.Rule, ev, raw)
		if err != nil {
			er.log.Error("rule input", "rule", r.Event, "function", r.Function, "err", err)
			continue
		}
		for attempt := 0; ; attempt++ {
			_, ferr := r.fn.invoke(ctx, uuid.NewString(), input)
			if ferr == nil {
				er.log.Debug("event delivered", "rule", r.Event, "function", r.Function)
				break
			}
			if attempt == er.retries || ctx.Err() != nil {
				er.log.Error("event not delivered", "rule", r.Event, "function", r.Function, "errorType", ferr.Type, "error", ferr.Message)
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(er.backoff << attempt):
			}
		}
	}
}

// patternMatches is EventBridge's matching for the pattern forms the
// template uses: a field's array of literals matches a value equal to one
// of them (or an array value sharing one); an object matches the nested
// object field by field. Content filters ({"prefix": ...}) match nothing.
func patternMatches(pattern, event map[string]any) bool {
	for k, want := range pattern {
		got, ok := event[k]
		switch want := want.(type) {
		case map[string]any:
			sub, isMap := got.(map[string]any)
			if !ok || !isMap || !patternMatches(want, sub) {
				return false
			}
		case []any:
			if !ok || !anyLiteral(want, got) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func anyLiteral(choices []any, got any) bool {
	values := []any{got}
	if arr, ok := got.([]any); ok {
		values = arr
	}
	for _, c := range choices {
		if _, isFilter := c.(map[string]any); isFilter {
			continue
		}
		for _, v := range values {
			if reflect.DeepEqual(c, v) {
				return true
			}
		}
	}
	return false
}

// transformInput is the rule's input for ev: the whole event (raw), or the
// InputTemplate with each <name> replaced by the JSON of its path's value
// (a quoted "<name>" of a string value becomes that string).
func transformInput(r samtemplate.Rule, ev map[string]any, raw []byte) ([]byte, error) {
	if r.InputTemplate == "" {
		return raw, nil
	}
	out := r.InputTemplate
	for name, path := range r.InputPaths {
		v, ok := jsonPath(ev, path)
		if !ok {
			v = nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		out = strings.ReplaceAll(out, `"<`+name+`>"`, string(b))
		out = strings.ReplaceAll(out, "<"+name+">", string(b))
	}
	if !json.Valid([]byte(out)) {
		return nil, fmt.Errorf("the input template gives invalid JSON: %s", out)
	}
	return []byte(out), nil
}

// jsonPath reads a simple path ("$", "$.detail", "$.detail.status").
func jsonPath(v any, path string) (any, bool) {
	rest, ok := strings.CutPrefix(path, "$")
	if !ok {
		return nil, false
	}
	for _, key := range strings.Split(strings.TrimPrefix(rest, "."), ".") {
		if key == "" {
			continue
		}
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, false
		}
		if v, ok = m[key]; !ok {
			return nil, false
		}
	}
	return v, true
}
