package sfnlocal

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	// Dir holds the executions and their histories; it is created if
	// missing.
	Dir string
	// Region and AccountID appear in ARNs.
	Region, AccountID string
	// StateMachines are the ASL definitions (JSON, with
	// DefinitionSubstitutions already applied) by state machine name.
	StateMachines map[string]string
	// LambdaEndpoint is the Lambda Invoke API's base URL, e.g.
	// http://127.0.0.1:3001.
	LambdaEndpoint string
	// HTTPClient calls LambdaEndpoint. Nil: a client without timeout (a
	// Task's own TimeoutSeconds bounds the call).
	HTTPClient *http.Client
	// OnStatusChange is called, one call at a time and in order, for every
	// execution that ends, including those aborted by a restart. Delivery
	// is at least once: an event whose call had not returned when the
	// server closed is delivered again by the next server on Dir. It must
	// return once its context is done (Close waits for it). Nil drops the
	// events.
	OnStatusChange func(context.Context, StatusChange)
	// Logger receives the server's and the runner's logs; nil discards.
	Logger *slog.Logger
	// WaitOverrides replace the pause of Wait states, and
	// RetryIntervalOverrides the pause before every retry of a state, by
	// state name (aws-local-stepfunctions' waitTimeOverrides and
	// retryIntervalOverrides): for tests.
	WaitOverrides, RetryIntervalOverrides map[string]time.Duration
	// RunnerDir is the directory of runner.cjs with its node_modules
	// installed (npm ci). Empty: internal/sfnlocal/runner found from the
	// working directory upwards.
	RunnerDir string
	// Node is the node binary. Empty: "node" on PATH.
	Node string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is the Step Functions API. It serves AWS JSON 1.0
// (X-Amz-Target: AWSStepFunctions.<Op>) for StartExecution,
// DescribeExecution, StopExecution, ListExecutions, GetExecutionHistory,
// SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat, DescribeStateMachine
// and ListStateMachines.
//
// # History
//
// Events are numbered from 1 and chained by previousEventId (the event just
// before; 0 for ExecutionStarted and the first state entered, as AWS does).
// They come from the runner's event log and from this package's own task
// calls, mapped to AWS's types so that the counts per state are the ones AWS
// bills and caps (25,000 per execution):
//
//   - a state: <Type>StateEntered and <Type>StateExited (TaskStateEntered,
//     ChoiceStateExited, ...): 2 events for a Pass, Wait, Choice or Succeed
//     state, 1 for a Fail state. A caught error exits the state with the
//     Catch's output, as AWS does.
//   - a Task whose Resource is a Lambda function ARN:
//     LambdaFunctionScheduled, LambdaFunctionStarted, then
//     LambdaFunctionSucceeded, LambdaFunctionFailed or
//     LambdaFunctionTimedOut; again for every retry (5 events with the state's
//     own 2 for a Task that succeeds at once).
//   - arn:aws:states:::lambda:invoke: TaskScheduled, TaskStarted, then
//     TaskSucceeded (the output as {"Payload": ..., "StatusCode": 200, ...}),
//     TaskFailed or TaskTimedOut.
//   - a Resource ending in .waitForTaskToken: TaskScheduled, TaskStarted,
//     TaskSubmitted, then TaskSucceeded, TaskFailed or TaskTimedOut
//     (States.Timeout or States.HeartbeatTimeout).
//   - Map: MapIterationStarted/Succeeded/Failed; Parallel:
//     ParallelStateStarted, then ParallelStateSucceeded or
//     ParallelStateFailed.
//   - the end: ExecutionSucceeded, ExecutionFailed, ExecutionTimedOut or
//     ExecutionAborted.
//
// Not recorded: MapStateStarted (with the item count), MapStateSucceeded and
// the Map Run events. Timestamps are the runner's, to the millisecond.
//
// # Differences from AWS
//
// Only Lambda is called, by function ARN or through lambda:invoke. A
// .waitForTaskToken Task of another service records its events and waits
// for its token without calling the service; other integrations, .sync and
// activities fail the Task with States.Runtime. A TimeoutSecondsPath that
// passes while a .waitForTaskToken Lambda runs ends the Task once the
// invoke answers (AWS: at once). Timeouts above about 24.8 days (Node's
// timer limit) are cut to that, which is also the default of a Task without
// TimeoutSeconds (AWS: 99999999 s; the library alone: 60 s).
// HeartbeatSecondsPath is not supported. The $$ context object has
// Execution (Id, Name, Input, RoleArn, StartTime), StateMachine (Id, Name)
// and Task.Token, but no State. A Fail state without Error fails with
// "FailStateError". Requests are not authenticated. Task tokens live in
// memory only: a restart aborts their executions anyway.
type Server struct {
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	machines map[string]*machine // by ARN
	store    *store
	lambda   *lambdaClient
	notifier *notifier

	// ctx ends when the server closes: Lambda calls and timers stop.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	execs  map[string]*execution // by ARN
	tokens map[string]*taskCall  // live task tokens
	ended  map[string]string     // tokens no longer live -> TaskTimedOut or TaskDoesNotExist
	runner *runner
	// startMu makes one StartExecution at a time start a new runner.
	startMu sync.Mutex
	calls   sync.WaitGroup
}

// machine is one state machine given at construction.
type machine struct {
	Name, ARN, RoleARN string
	Definition         string
	Created            time.Time
}

// New validates the state machines in the runner (an invalid definition is
// an error naming its state machine), opens Dir, and aborts the executions a
// previous server left running.
func New(opts Options) (*Server, error) {
	switch {
	case opts.Dir == "":
		return nil, errors.New("sfnlocal: Options.Dir is required")
	case opts.Region == "" || opts.AccountID == "":
		return nil, errors.New("sfnlocal: Options.Region and Options.AccountID are required")
	case opts.LambdaEndpoint == "":
		return nil, errors.New("sfnlocal: Options.LambdaEndpoint is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.RunnerDir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("sfnlocal: %w", err)
		}
		dir, err := FindRunnerDir(wd)
		if err != nil {
			return nil, err
		}
		opts.RunnerDir = dir
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		now:      opts.Now,
		machines: map[string]*machine{},
		lambda:   &lambdaClient{endpoint: opts.LambdaEndpoint, http: opts.HTTPClient},
		execs:    map[string]*execution{},
		tokens:   map[string]*taskCall{},
		ended:    map[string]string{},
	}
	created := opts.Now()
	for name, def := range opts.StateMachines {
		if !validName(name) {
			return nil, fmt.Errorf("sfnlocal: state machine name %q is not a valid name", name)
		}
		if !json.Valid([]byte(def)) {
			return nil, fmt.Errorf("sfnlocal: state machine %q: the definition is not JSON", name)
		}
		m := &machine{
			Name:       name,
			ARN:        s.arn("stateMachine", name),
			RoleARN:    fmt.Sprintf("arn:aws:iam::%s:role/%s-role", opts.AccountID, name),
			Definition: def,
			Created:    created,
		}
		s.machines[m.ARN] = m
	}
	st, err := openStore(opts.Dir)
	if err != nil {
		return nil, err
	}
	s.store = st
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.notifier = newNotifier(s.ctx, opts.OnStatusChange, s.markNotified)

	r, err := s.startRunner()
	if err != nil {
		s.cancel()
		s.notifier.wait()
		return nil, err
	}
	s.runner = r
	if err := s.recover(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// FindRunnerDir returns internal/sfnlocal/runner under dir or the nearest
// parent directory that has it.
func FindRunnerDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("sfnlocal: %w", err)
	}
	for d := abs; ; d = filepath.Dir(d) {
		candidates := []string{filepath.Join(d, "internal", "sfnlocal", "runner")}
		if filepath.Base(d) == "sfnlocal" {
			candidates = append(candidates, filepath.Join(d, "runner")) // this package's own directory
		}
		for _, p := range candidates {
			if _, err := os.Stat(filepath.Join(p, "runner.cjs")); err == nil {
				return p, nil
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("sfnlocal: no internal/sfnlocal/runner/runner.cjs in %s or a parent directory", abs)
		}
	}
}

// Close stops the runner, the Lambda calls and the status-change
// deliveries. Executions still running stay RUNNING on disk: the next
// server on Dir aborts them, as after a crash.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	r := s.runner
	s.runner = nil
	s.mu.Unlock()

	var err error
	if r != nil {
		err = r.stop()
	}
	s.cancel()
	s.calls.Wait()
	s.notifier.wait()
	s.mu.Lock()
	for _, e := range s.execs {
		e.closeHistory()
	}
	s.mu.Unlock()
	return err
}

func (s *Server) arn(kind, resource string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:%s:%s", s.opts.Region, s.opts.AccountID, kind, resource)
}

// ServeHTTP answers one AWS JSON 1.0 call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.serveJSON(w, r)
}

// sortedMachines lists the state machines by name.
func (s *Server) sortedMachines() []*machine {
	out := make([]*machine, 0, len(s.machines))
	for _, m := range s.machines {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *machine) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Substitute applies a state machine's DefinitionSubstitutions as
// CloudFormation does: every ${Key} of subs in the definition becomes its
// value; other ${...} are left as they are.
func Substitute(definition string, subs map[string]string) string {
	pairs := make([]string, 0, 2*len(subs))
	for k, v := range subs {
		pairs = append(pairs, "${"+k+"}", v)
	}
	return strings.NewReplacer(pairs...).Replace(definition)
}
