package sfnlocal

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/jsonproto"
)

// Task resources, by what this package does with them.
type taskKind int

const (
	kindUnsupported taskKind = iota
	kindFunction             // a Lambda function ARN: invoke, wait for the answer
	kindInvoke               // arn:aws:states:::lambda:invoke
	kindToken                // <integration>.waitForTaskToken
)

var (
	functionARN   = regexp.MustCompile(`^arn:aws[a-z-]*:lambda:[^:]+:[0-9]+:function:[^:]+(:[^:]+)?$`)
	integrationRE = regexp.MustCompile(`^arn:aws[a-z-]*:states:::([^:]+):(.+)$`)
	// tokenRE is the form of the runner's task tokens (runner.cjs).
	tokenRE = regexp.MustCompile(`^sfnlocal1\.[A-Za-z0-9_-]{43}$`)
)

// classify tells a Task's kind, and for integrations the resourceType and
// resource that AWS's Task* events name (lambda, invoke.waitForTaskToken).
func classify(resource string) (kind taskKind, resourceType, name string) {
	if functionARN.MatchString(resource) {
		return kindFunction, "", resource
	}
	m := integrationRE.FindStringSubmatch(resource)
	if m == nil {
		return kindUnsupported, "", resource
	}
	resourceType, name = m[1], m[2]
	switch {
	case strings.HasSuffix(name, ".waitForTaskToken"):
		return kindToken, resourceType, name
	case resourceType == "lambda" && name == "invoke":
		return kindInvoke, resourceType, name
	}
	return kindUnsupported, resourceType, name
}

// taskCall is one call of a Task state from the runner: one attempt.
type taskCall struct {
	exec         *execution
	id           int64
	state        string
	kind         taskKind
	resource     string // as the state has it
	resourceType string // Task* events: "lambda"
	name         string // Task* events: "invoke.waitForTaskToken"
	input        json.RawMessage
	tokens       []string
	heartbeat    time.Duration
	heartbeatT   *time.Timer
	timeoutT     *time.Timer // a TimeoutSecondsPath's
	submitted    bool        // TaskSubmitted written
	// invoking: the token Task's invoke has not answered; an end
	// meanwhile (its token back first, a timeout) waits in held for it,
	// so TaskSubmitted carries the invoke's answer, as in AWS.
	invoking bool
	held     *outcome
	cancel   context.CancelFunc
	done     bool
}

// invokeParams are lambda:invoke's Parameters.
type invokeParams struct {
	FunctionName   string          `json:"FunctionName"`
	Payload        json.RawMessage `json:"Payload"`
	InvocationType string          `json:"InvocationType"`
	Qualifier      string          `json:"Qualifier"`
}

// onCall starts a Task call: its events, then the Lambda call or the wait
// for a token. The caller holds s.mu.
func (s *Server) onCall(e *execution, msg *runnerMsg) {
	kind, rtype, name := classify(msg.Resource)
	c := &taskCall{
		exec: e, id: msg.Call, state: msg.State, kind: kind,
		resource: msg.Resource, resourceType: rtype, name: name,
		input: msg.Input, tokens: msg.Tokens,
	}
	if msg.HeartbeatSeconds != nil && *msg.HeartbeatSeconds > 0 {
		c.heartbeat = time.Duration(*msg.HeartbeatSeconds * float64(time.Second))
	}
	var ctx context.Context
	ctx, c.cancel = context.WithCancel(s.ctx)
	e.calls[c.id] = c
	timeout := secondsPtr(msg.TimeoutSeconds)
	input := jsonText(c.input)
	if msg.TimeoutSecondsPath != "" {
		n, ok := pathSeconds(e.entered[c.state], msg.TimeoutSecondsPath)
		if !ok {
			s.completeLocked(c, failed("States.Runtime", fmt.Sprintf("Path expression '%s' does not point to a positive integer in the state's input", msg.TimeoutSecondsPath)))
			return
		}
		timeout = &n
		c.timeoutT = time.AfterFunc(time.Duration(n)*time.Second, func() { s.stateTimedOut(c) })
	}

	switch kind {
	case kindFunction:
		s.appendEvent(e, "LambdaFunctionScheduled", (&eventDetails{Resource: c.resource, TimeoutInSeconds: timeout}).withInput(input))
		s.appendEvent(e, "LambdaFunctionStarted", nil)
		s.goCall(func() {
			inv, err := s.lambda.invoke(ctx, c.resource, "", "RequestResponse", []byte(input))
			s.complete(c, invokeOutcome(inv, err, false))
		})
		return
	case kindUnsupported:
		s.log.Error("sfnlocal: a Task resource the local Step Functions does not run", "execution", e.rec.ExecutionArn, "state", c.state, "resource", c.resource)
		s.completeLocked(c, failed("States.Runtime", fmt.Sprintf("the local Step Functions does not run Task resource %q (only Lambda function ARNs, lambda:invoke and .waitForTaskToken)", c.resource)))
		return
	}

	s.appendEvent(e, "TaskScheduled", &eventDetails{
		ResourceType: c.resourceType, Resource: c.name, Region: s.opts.Region,
		Parameters: &input, TimeoutInSeconds: timeout, HeartbeatInSeconds: secondsPtr(msg.HeartbeatSeconds),
	})
	s.appendEvent(e, "TaskStarted", &eventDetails{ResourceType: c.resourceType, Resource: c.name})
	if kind == kindInvoke {
		s.goCall(func() { s.complete(c, s.invokeIntegration(ctx, c, "RequestResponse")) })
		return
	}

	// .waitForTaskToken
	for _, tok := range c.tokens {
		s.tokens[tok] = c
	}
	if len(c.tokens) == 0 {
		s.log.Warn("sfnlocal: a .waitForTaskToken Task passes no $$.Task.Token: only a timeout can end it", "execution", e.rec.ExecutionArn, "state", c.state)
	}
	if c.resourceType != "lambda" || c.name != "invoke.waitForTaskToken" {
		s.log.Warn("sfnlocal: the local Step Functions does not call this service; the Task waits for its token", "execution", e.rec.ExecutionArn, "state", c.state, "resource", c.resource)
		s.startHeartbeat(c)
		s.submit(c, "{}")
		return
	}
	c.invoking = true
	s.goCall(func() {
		// Synchronous by default, as AWS invokes it: the function's error
		// fails the Task, for its Retry and Catch.
		out := s.invokeIntegration(ctx, c, "RequestResponse")
		s.mu.Lock()
		defer s.mu.Unlock()
		c.invoking = false
		held := c.held
		c.held = nil
		switch {
		case out.Error != nil && held == nil:
			s.completeLocked(c, out)
			return
		case out.Error == nil:
			// AWS counts the heartbeat from the invoke's answer.
			s.startHeartbeat(c)
			s.submit(c, out.Output)
		}
		if held != nil {
			s.completeLocked(c, *held)
		}
	})
}

// invokeIntegration runs lambda:invoke with c's Parameters.
func (s *Server) invokeIntegration(ctx context.Context, c *taskCall, invocationType string) outcome {
	var p invokeParams
	if err := json.Unmarshal(c.input, &p); err != nil || p.FunctionName == "" {
		return failed("States.Runtime", "lambda:invoke needs Parameters with a FunctionName")
	}
	if p.InvocationType != "" {
		invocationType = p.InvocationType
	}
	payload := []byte(jsonText(p.Payload))
	if len(p.Payload) == 0 {
		payload = []byte("{}")
	}
	inv, err := s.lambda.invoke(ctx, p.FunctionName, p.Qualifier, invocationType, payload)
	return invokeOutcome(inv, err, true)
}

func (s *Server) goCall(f func()) {
	s.calls.Add(1)
	go func() {
		defer s.calls.Done()
		f()
	}()
}

// submit writes a token Task's TaskSubmitted once. The caller holds s.mu.
func (s *Server) submit(c *taskCall, output string) {
	if c.submitted || c.done || s.closed {
		return
	}
	c.submitted = true
	s.appendEvent(c.exec, "TaskSubmitted", (&eventDetails{ResourceType: c.resourceType, Resource: c.name}).withOutput(output))
}

func (s *Server) complete(c *taskCall, out outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.completeLocked(c, out)
}

// completeLocked ends a call: its last event, and its answer to the runner.
// A call already ended, or of a closing server, is left alone. The caller
// holds s.mu.
func (s *Server) completeLocked(c *taskCall, out outcome) {
	if c.done || s.closed {
		return
	}
	if c.invoking {
		if c.held == nil {
			c.held = &out // the first end counts, once the invoke answers
		}
		return
	}
	if c.kind == kindToken {
		s.submit(c, "{}") // a Task this server does not call
	}
	s.retire(c, out.Timeout)
	typ, d := c.endEvent(out)
	s.appendEvent(c.exec, typ, d)
	msg := map[string]any{"t": "result", "exec": c.exec.rec.ExecutionArn, "call": c.id}
	if out.Error != nil {
		msg["error"], msg["cause"] = *out.Error, deref(out.Cause, "")
	} else {
		msg["output"] = json.RawMessage(out.Output)
	}
	if c.exec.runner != nil {
		c.exec.runner.send(msg)
	}
}

// endEvent is the event that ends a call with out.
func (c *taskCall) endEvent(out outcome) (string, *eventDetails) {
	if c.kind == kindFunction {
		switch {
		case out.Timeout:
			return "LambdaFunctionTimedOut", &eventDetails{Error: out.Error, Cause: out.Cause}
		case out.Error != nil:
			return "LambdaFunctionFailed", &eventDetails{Error: out.Error, Cause: out.Cause}
		}
		return "LambdaFunctionSucceeded", (&eventDetails{}).withOutput(out.Output)
	}
	d := &eventDetails{ResourceType: c.resourceType, Resource: c.name, Error: out.Error, Cause: out.Cause}
	switch {
	case out.Timeout:
		return "TaskTimedOut", d
	case out.Error != nil:
		return "TaskFailed", d
	}
	return "TaskSucceeded", d.withOutput(out.Output)
}

// retire ends a call's life: no more answers, no more tokens. The caller
// holds s.mu.
func (s *Server) retire(c *taskCall, timedOut bool) {
	c.done = true
	c.cancel()
	if c.heartbeatT != nil {
		c.heartbeatT.Stop()
	}
	if c.timeoutT != nil {
		c.timeoutT.Stop()
	}
	delete(c.exec.calls, c.id)
	for _, tok := range c.tokens {
		delete(s.tokens, tok)
		s.ended[tok] = "TaskDoesNotExist"
		if timedOut {
			s.ended[tok] = "TaskTimedOut"
		}
	}
}

// taskTimedOut records the library's own TimeoutSeconds ending a Task
// state: the oldest call of that state still waiting is the one (equal
// timeouts fire in the order they were set). The caller holds s.mu.
func (s *Server) taskTimedOut(e *execution, state string) {
	var oldest *taskCall
	for _, c := range e.calls {
		if c.state == state && (oldest == nil || c.id < oldest.id) {
			oldest = c
		}
	}
	if oldest == nil {
		return
	}
	out := failed("States.Timeout", "")
	out.Cause, out.Timeout = nil, true
	s.retire(oldest, true)
	typ, d := oldest.endEvent(out)
	s.appendEvent(e, typ, d)
}

// stateTimedOut ends a call whose TimeoutSecondsPath has passed.
func (s *Server) stateTimedOut(c *taskCall) {
	out := failed("States.Timeout", "")
	out.Cause, out.Timeout = nil, true
	s.complete(c, out)
}

// pathSeconds reads a TimeoutSecondsPath ("$.a.b") from input: a positive
// integer.
func pathSeconds(input json.RawMessage, path string) (int64, bool) {
	rest, ok := strings.CutPrefix(path, "$")
	if !ok {
		return 0, false
	}
	var v any
	if json.Unmarshal(input, &v) != nil {
		return 0, false
	}
	for _, key := range strings.Split(strings.TrimPrefix(rest, "."), ".") {
		if key == "" {
			continue
		}
		m, isMap := v.(map[string]any)
		if !isMap {
			return 0, false
		}
		if v, ok = m[key]; !ok {
			return 0, false
		}
	}
	f, isNum := v.(float64)
	if !isNum || f < 1 || f != float64(int64(f)) {
		return 0, false
	}
	return int64(f), true
}

// startHeartbeat starts a token Task's HeartbeatSeconds, if it has one.
// The caller holds s.mu.
func (s *Server) startHeartbeat(c *taskCall) {
	if c.heartbeat > 0 && !c.done {
		c.heartbeatT = time.AfterFunc(c.heartbeat, func() { s.heartbeatTimedOut(c) })
	}
}

func (s *Server) heartbeatTimedOut(c *taskCall) {
	out := failed("States.HeartbeatTimeout", "")
	out.Cause, out.Timeout = nil, true
	s.complete(c, out)
}

// token finds the call a live task token belongs to. The caller holds s.mu.
func (s *Server) token(tok string) (*taskCall, error) {
	if !tokenRE.MatchString(tok) {
		return nil, jsonproto.ClientError("InvalidToken", "Invalid Token: '%s'", tok)
	}
	if c := s.tokens[tok]; c != nil {
		return c, nil
	}
	if s.ended[tok] == "TaskTimedOut" {
		return nil, jsonproto.ClientError("TaskTimedOut", "Task Timed Out: '%s'", tok)
	}
	return nil, jsonproto.ClientError("TaskDoesNotExist", "Task Does Not Exist: '%s'", tok)
}

func (s *Server) sendTaskSuccess(body []byte) (any, error) {
	var in struct {
		TaskToken string `json:"taskToken"`
		Output    string `json:"output"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Output) > maxPayloadBytes || !json.Valid([]byte(in.Output)) {
		return nil, jsonproto.ClientError("InvalidOutput", "Invalid Output: the output must be JSON of at most %d bytes", maxPayloadBytes)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.token(in.TaskToken)
	if err != nil {
		return nil, err
	}
	s.completeLocked(c, succeeded(in.Output))
	return map[string]any{}, nil
}

func (s *Server) sendTaskFailure(body []byte) (any, error) {
	var in struct {
		TaskToken string  `json:"taskToken"`
		Error     *string `json:"error"`
		Cause     *string `json:"cause"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkErrorCause(in.Error, in.Cause); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.token(in.TaskToken)
	if err != nil {
		return nil, err
	}
	s.completeLocked(c, outcome{Error: ptr(deref(in.Error, "")), Cause: in.Cause})
	return map[string]any{}, nil
}

func (s *Server) sendTaskHeartbeat(body []byte) (any, error) {
	var in struct {
		TaskToken string `json:"taskToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.token(in.TaskToken)
	if err != nil {
		return nil, err
	}
	if c.heartbeatT != nil {
		c.heartbeatT.Reset(c.heartbeat)
	}
	return map[string]any{}, nil
}

// secondsPtr is a whole number of seconds from the runner, if any.
func secondsPtr(f *float64) *int64 {
	if f == nil {
		return nil
	}
	n := int64(*f)
	return &n
}
