package sfnlocal

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/sandstep/sandstep/internal/jsonproto"
)

// Step Functions limits.
const (
	maxPayloadBytes = 256 * 1024 // execution input, task output
	maxResultsLimit = 1000
	defaultResults  = 100
	maxErrorLen     = 256
	maxCauseLen     = 32768
)

var (
	stateMachineARN = regexp.MustCompile(`^arn:aws[a-z-]*:states:[^:]+:[0-9]+:stateMachine:[^:]+$`)
	executionARN    = regexp.MustCompile(`^arn:aws[a-z-]*:states:[^:]+:[0-9]+:execution:[^:]+:[^:]+$`)
)

// validName reports whether s is a valid state machine or execution name:
// 1 to 80 characters, none of them whitespace, brackets, wildcards, special
// or control characters.
func validName(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > 80 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r <= 0x20 || (r >= 0x7f && r <= 0x9f) || strings.ContainsRune("<>{}[]?*\"#%\\^|~`$&,;:/", r) ||
			r == 0x85 || r == 0xa0 || r == 0x1680 || (r >= 0x2000 && r <= 0x200a) || r == 0x2028 || r == 0x2029 || r == 0x202f || r == 0x205f || r == 0x3000 {
			return false
		}
	}
	return true
}

func (s *Server) machineByARN(arn string) (*machine, error) {
	if !stateMachineARN.MatchString(arn) {
		return nil, jsonproto.ClientError("InvalidArn", "Invalid Arn: '%s'", arn)
	}
	m := s.machines[arn]
	if m == nil {
		return nil, jsonproto.ClientError("StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", arn)
	}
	return m, nil
}

// execByARN finds an execution. The caller holds s.mu.
func (s *Server) execByARN(arn string) (*execution, error) {
	if !executionARN.MatchString(arn) {
		return nil, jsonproto.ClientError("InvalidArn", "Invalid Arn: '%s'", arn)
	}
	e := s.execs[arn]
	if e == nil {
		return nil, jsonproto.ClientError("ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", arn)
	}
	return e, nil
}

func (s *Server) unavailable() error {
	return &jsonproto.Error{Type: "ServiceUnavailable", Message: "the local Step Functions server is closed", Status: http.StatusServiceUnavailable}
}

func (s *Server) startExecution(body []byte) (any, error) {
	var in struct {
		StateMachineArn string  `json:"stateMachineArn"`
		Name            string  `json:"name"`
		Input           *string `json:"input"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	m, err := s.machineByARN(in.StateMachineArn)
	if err != nil {
		return nil, err
	}
	if in.Name == "" {
		in.Name = uuid.NewString()
	}
	if !validName(in.Name) {
		return nil, jsonproto.ClientError("InvalidName", "Invalid Name: '%s'", in.Name)
	}
	input := "{}"
	if in.Input != nil {
		input = *in.Input
	}
	if len(input) > maxPayloadBytes {
		return nil, jsonproto.ClientError("InvalidExecutionInput", "The input is %d bytes, over the limit of %d", len(input), maxPayloadBytes)
	}
	if !json.Valid([]byte(input)) {
		return nil, jsonproto.ClientError("InvalidExecutionInput", "Invalid State Machine Execution Input: the input is not JSON")
	}
	r, err := s.ensureRunner()
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, s.unavailable()
	}
	arn := s.arn("execution", m.Name+":"+in.Name)
	if old := s.execs[arn]; old != nil {
		switch {
		case old.rec.Status == StatusRunning && old.rec.Input == input:
			// Idempotent while running, as AWS is.
			return map[string]any{"executionArn": arn, "startDate": epochOf(old.rec.StartDate)}, nil
		case old.rec.Status != StatusRunning && old.rec.StopDate != nil && s.now().Sub(*old.rec.StopDate) > nameReuse:
			if err := s.store.remove(&old.rec); err != nil {
				return nil, err
			}
			delete(s.execs, arn)
		default:
			return nil, jsonproto.ClientError("ExecutionAlreadyExists", "Execution Already Exists: '%s'", arn)
		}
	}
	e := newExecution(record{
		ExecutionArn:    arn,
		StateMachineArn: m.ARN,
		StateMachine:    m.Name,
		Name:            in.Name,
		Status:          StatusRunning,
		Input:           input,
		StartDate:       s.now(),
	})
	if err := s.store.save(&e.rec); err != nil {
		return nil, err
	}
	if e.hist, err = s.store.openHistory(&e.rec); err != nil {
		return nil, err
	}
	e.runner = r
	s.execs[arn] = e
	s.appendEvent(e, "ExecutionStarted", &eventDetails{RoleArn: m.RoleARN, Input: &input, InputDetails: &dataDetails{}})
	r.send(map[string]any{
		"t":       "start",
		"exec":    arn,
		"machine": m.Name,
		"input":   json.RawMessage(input),
		"context": map[string]any{
			"Execution":    map[string]any{"Id": arn, "Name": in.Name, "RoleArn": m.RoleARN},
			"StateMachine": map[string]any{"Id": m.ARN, "Name": m.Name},
		},
		"waits":   millis(s.opts.WaitOverrides),
		"retries": millis(s.opts.RetryIntervalOverrides),
	})
	s.log.Info("sfnlocal: execution started", "execution", arn)
	return map[string]any{"executionArn": arn, "startDate": epochOf(e.rec.StartDate)}, nil
}

func (s *Server) describeExecution(body []byte) (any, error) {
	var in struct {
		ExecutionArn string `json:"executionArn"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.execByARN(in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	r := e.rec
	out := map[string]any{
		"executionArn":    r.ExecutionArn,
		"stateMachineArn": r.StateMachineArn,
		"name":            r.Name,
		"status":          r.Status,
		"startDate":       epochOf(r.StartDate),
		"input":           r.Input,
		"inputDetails":    map[string]bool{"included": true},
	}
	if r.StopDate != nil {
		out["stopDate"] = epochOf(*r.StopDate)
	}
	if r.Output != nil {
		out["output"] = *r.Output
		out["outputDetails"] = map[string]bool{"included": true}
	}
	if r.Error != nil {
		out["error"] = *r.Error
	}
	if r.Cause != nil {
		out["cause"] = *r.Cause
	}
	return out, nil
}

// checkErrorCause applies the API's limits to a caller's error and cause.
func checkErrorCause(errName, cause *string) error {
	if errName != nil && len(*errName) > maxErrorLen || cause != nil && len(*cause) > maxCauseLen {
		return jsonproto.ClientError("ValidationException", "error is limited to %d characters and cause to %d", maxErrorLen, maxCauseLen)
	}
	return nil
}

func (s *Server) stopExecution(body []byte) (any, error) {
	var in struct {
		ExecutionArn string  `json:"executionArn"`
		Error        *string `json:"error"`
		Cause        *string `json:"cause"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkErrorCause(in.Error, in.Cause); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.execByARN(in.ExecutionArn)
	if err != nil {
		return nil, err
	}
	if s.closed {
		return nil, s.unavailable()
	}
	if e.rec.Status == StatusRunning {
		s.abort(e, in.Error, in.Cause)
	}
	return map[string]any{"stopDate": epochOf(*e.rec.StopDate)}, nil
}

// pageKey is where a ListExecutions page ends (newest first).
type pageKey struct {
	Start int64  `json:"s"`
	ARN   string `json:"a"`
}

func (s *Server) listExecutions(body []byte) (any, error) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
		StatusFilter    string `json:"statusFilter"`
		MaxResults      int    `json:"maxResults"`
		NextToken       string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	m, err := s.machineByARN(in.StateMachineArn)
	if err != nil {
		return nil, err
	}
	switch in.StatusFilter {
	case "", StatusRunning, StatusSucceeded, StatusFailed, StatusTimedOut, StatusAborted, "PENDING_REDRIVE":
	default:
		return nil, jsonproto.ClientError("ValidationException", "1 validation error detected: Value '%s' at 'statusFilter' failed to satisfy constraint", in.StatusFilter)
	}
	limit, err := pageSize(in.MaxResults)
	if err != nil {
		return nil, err
	}
	var after *pageKey
	if in.NextToken != "" {
		after = new(pageKey)
		if !decodeToken(in.NextToken, after) {
			return nil, jsonproto.ClientError("InvalidToken", "Invalid Token: '%s'", in.NextToken)
		}
	}

	s.mu.Lock()
	var recs []record
	for _, e := range s.execs {
		if e.rec.StateMachineArn == m.ARN && (in.StatusFilter == "" || e.rec.Status == in.StatusFilter) {
			recs = append(recs, e.rec)
		}
	}
	s.mu.Unlock()
	keyOf := func(r record) pageKey { return pageKey{Start: r.StartDate.UnixNano(), ARN: r.ExecutionArn} }
	newestFirst := func(a, b pageKey) int {
		return cmp.Or(cmp.Compare(b.Start, a.Start), cmp.Compare(b.ARN, a.ARN))
	}
	slices.SortFunc(recs, func(a, b record) int { return newestFirst(keyOf(a), keyOf(b)) })
	if after != nil {
		i, _ := slices.BinarySearchFunc(recs, *after, func(r record, k pageKey) int { return newestFirst(keyOf(r), k) })
		for i < len(recs) && newestFirst(keyOf(recs[i]), *after) <= 0 {
			i++
		}
		recs = recs[i:]
	}
	out := map[string]any{}
	if len(recs) > limit {
		recs = recs[:limit]
		out["nextToken"] = encodeToken(keyOf(recs[limit-1]))
	}
	items := make([]map[string]any, 0, len(recs))
	for _, r := range recs {
		item := map[string]any{
			"executionArn":    r.ExecutionArn,
			"stateMachineArn": r.StateMachineArn,
			"name":            r.Name,
			"status":          r.Status,
			"startDate":       epochOf(r.StartDate),
		}
		if r.StopDate != nil {
			item["stopDate"] = epochOf(*r.StopDate)
		}
		items = append(items, item)
	}
	out["executions"] = items
	return out, nil
}

func (s *Server) getExecutionHistory(body []byte) (any, error) {
	var in struct {
		ExecutionArn         string `json:"executionArn"`
		MaxResults           int    `json:"maxResults"`
		NextToken            string `json:"nextToken"`
		ReverseOrder         bool   `json:"reverseOrder"`
		IncludeExecutionData *bool  `json:"includeExecutionData"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults)
	if err != nil {
		return nil, err
	}
	offset := 0
	if in.NextToken != "" && (!decodeToken(in.NextToken, &offset) || offset < 0) {
		return nil, jsonproto.ClientError("InvalidToken", "Invalid Token: '%s'", in.NextToken)
	}
	s.mu.Lock()
	e, err := s.execByARN(in.ExecutionArn)
	var events []event
	if err == nil {
		events, err = s.store.readHistory(&e.rec)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if in.ReverseOrder {
		slices.Reverse(events)
	}
	if offset > len(events) {
		return nil, jsonproto.ClientError("InvalidToken", "Invalid Token: '%s'", in.NextToken)
	}
	events = events[offset:]
	out := map[string]any{}
	if len(events) > limit {
		events = events[:limit]
		out["nextToken"] = encodeToken(offset + limit)
	}
	include := in.IncludeExecutionData == nil || *in.IncludeExecutionData
	wire := make([]map[string]any, len(events))
	for i, ev := range events {
		wire[i] = ev.wire(include)
	}
	out["events"] = wire
	return out, nil
}

func (s *Server) describeStateMachine(body []byte) (any, error) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	m, err := s.machineByARN(in.StateMachineArn)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"stateMachineArn":      m.ARN,
		"name":                 m.Name,
		"status":               "ACTIVE",
		"definition":           m.Definition,
		"roleArn":              m.RoleARN,
		"type":                 "STANDARD",
		"creationDate":         epochOf(m.Created),
		"loggingConfiguration": map[string]any{"level": "OFF", "includeExecutionData": false},
	}, nil
}

func (s *Server) listStateMachines(body []byte) (any, error) {
	var in struct {
		MaxResults int    `json:"maxResults"`
		NextToken  string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults)
	if err != nil {
		return nil, err
	}
	offset := 0
	all := s.sortedMachines()
	if in.NextToken != "" && (!decodeToken(in.NextToken, &offset) || offset < 0 || offset > len(all)) {
		return nil, jsonproto.ClientError("InvalidToken", "Invalid Token: '%s'", in.NextToken)
	}
	page := all[offset:]
	out := map[string]any{}
	if len(page) > limit {
		page = page[:limit]
		out["nextToken"] = encodeToken(offset + limit)
	}
	items := make([]map[string]any, len(page))
	for i, m := range page {
		items[i] = map[string]any{"stateMachineArn": m.ARN, "name": m.Name, "type": "STANDARD", "creationDate": epochOf(m.Created)}
	}
	out["stateMachines"] = items
	return out, nil
}

// pageSize is maxResults checked, 0 meaning the default.
func pageSize(n int) (int, error) {
	switch {
	case n < 0 || n > maxResultsLimit:
		return 0, jsonproto.ClientError("ValidationException", "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to %d", n, maxResultsLimit)
	case n == 0:
		return defaultResults, nil
	}
	return n, nil
}

// Page tokens are opaque to clients: base64 of JSON.
func encodeToken(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(tok string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	return err == nil && json.Unmarshal(b, v) == nil
}

// millis turns durations into the runner's milliseconds.
func millis(m map[string]time.Duration) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, d := range m {
		out[k] = d.Milliseconds()
	}
	return out
}
