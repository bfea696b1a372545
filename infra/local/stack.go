package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/uuid"

	"github.com/sandstep/sandstep/infra/samtemplate"
	"github.com/sandstep/sandstep/internal/api"
	"github.com/sandstep/sandstep/internal/app"
	"github.com/sandstep/sandstep/internal/awslocal"
	"github.com/sandstep/sandstep/internal/config"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/dirlock"
	"github.com/sandstep/sandstep/internal/githublocal"
	"github.com/sandstep/sandstep/internal/logging"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/sfnlocal"
	"github.com/sandstep/sandstep/internal/store"
)

// Ports are the TCP ports the stack listens on, on 127.0.0.1. Zero means
// any free port (what tests want).
type Ports struct {
	API      int // API Gateway emulator
	Lambda   int // Lambda Invoke API
	DynamoDB int // DynamoDB (minidyn)
	AWS      int // SSM, Secrets Manager and S3 (internal/awslocal)
	Daytona  int // Daytona-compatible server; unused with a real Daytona
	// StepFunctions is the Step Functions API (internal/sfnlocal).
	StepFunctions int
	// GitHub is the GitHub stand-in (internal/githublocal).
	GitHub int
}

// DefaultPorts are the ports of docs/architecture.md ("The local stack").
func DefaultPorts() Ports {
	return Ports{API: 3000, Lambda: 3001, DynamoDB: 8000, AWS: 4566, Daytona: 3003, StepFunctions: 8083, GitHub: 3005}
}

// The roles of the ports, as errors and the banner name them.
const (
	RoleAPI      = "API Gateway emulator"
	RoleLambda   = "Lambda Invoke API"
	RoleDynamoDB = "DynamoDB"
	RoleAWS      = "SSM, Secrets Manager and S3"
	RoleDaytona  = "Daytona-compatible server"
	RoleSFN      = "Step Functions API"
	RoleGitHub   = "GitHub stand-in"
)

// DefaultShutdownTimeout bounds Close.
const DefaultShutdownTimeout = 5 * time.Second

// Options configure Start.
type Options struct {
	// Ports to listen on; a zero port is any free port.
	Ports Ports
	// Getenv is the user's environment (see the package documentation for
	// how it is layered). Nil: os.Getenv.
	Getenv func(string) string
	// LogWriter receives the logs of every component, one record per line.
	// Nil: os.Stderr.
	LogWriter io.Writer
	// TemplatePath is the SAM template. Empty: template.yaml found by
	// FindTemplate from the working directory.
	TemplatePath string
	// DataDir holds everything the stack keeps across restarts: the table,
	// parameters, secrets and objects, and the local Daytona server's
	// sandboxes. Empty: a temporary directory, removed by Close, or, if
	// the process is killed, by the next stack to start (with the
	// processes its sandboxes left running).
	DataDir string
	// HTTPClient is what the functions call Daytona with. Nil: the Daytona
	// client's default.
	HTTPClient *http.Client
	// StepFunctionsRunner is the local Step Functions' Node runner
	// directory (internal/sfnlocal/runner, its packages installed). Empty:
	// the one beside the template.
	StepFunctionsRunner string
	// DaytonaClock is the local Daytona server's clock (its timers: TTL,
	// auto-stop); nil: the real one. Tests scale it.
	DaytonaClock func() time.Time
	// DrainMaxAge is how long the functions trust their read of the drain
	// switch (app.Options.DrainMaxAge): 0 is the deployed 30 s; tests
	// that flip it and look at once make it negative.
	DrainMaxAge time.Duration
	// MetricsWriter receives the functions' metrics (EMF lines, one
	// write per invocation); nil discards them.
	MetricsWriter io.Writer
	// WaitOverrides and RetryIntervalOverrides shorten the state machines'
	// Wait states and retry pauses, by state name: for tests.
	WaitOverrides, RetryIntervalOverrides map[string]time.Duration
	// DefinitionOverrides runs another ASL file (an absolute path) instead
	// of a state machine's DefinitionUri, by logical id: for tests of a
	// previous revision against the current functions.
	DefinitionOverrides map[string]string
	// ScheduleEvery, when set, runs the template's schedules (the
	// reaper's) this often instead of every REAPER_SCHEDULE; for tests.
	ScheduleEvery time.Duration
	// DynamoDBURL, when set, is a DynamoDB served elsewhere that the stack
	// uses instead of its embedded one: a load run serves it from a
	// process apart from the functions'. The stack creates its table there
	// (if missing) and keeps nothing of it across restarts.
	DynamoDBURL string
	// AWSHTTPClient is what the functions call AWS with (DynamoDB, S3,
	// SSM, Secrets Manager, Step Functions). Nil: the SDK's default.
	AWSHTTPClient *http.Client
	// WrapHandler, when set, wraps each function's handler, by the
	// function's name ("create"): a load run times the invocations.
	WrapHandler func(function string, h lambda.Handler) lambda.Handler
}

// Stack is a running local stack. Its exported fields are set by Start and
// must not be changed.
type Stack struct {
	// APIURL is the API Gateway emulator's base URL, e.g.
	// http://127.0.0.1:3000.
	APIURL string
	// LambdaURL is the Lambda Invoke API's endpoint URL (what
	// AWS_ENDPOINT_URL_LAMBDA or --endpoint-url take).
	LambdaURL string
	// DynamoDBURL is the DynamoDB endpoint URL.
	DynamoDBURL string
	// AWSURL is the endpoint of SSM, Secrets Manager and S3 (what
	// AWS_ENDPOINT_URL_SSM, _SECRETS_MANAGER, _S3 or --endpoint-url take).
	AWSURL string
	// DataDir is the directory the stack keeps its state in.
	DataDir string
	// DaytonaURL is the local Daytona server's API base URL (ending in
	// /api), or "" when a real Daytona is used.
	DaytonaURL string
	// StepFunctionsURL is the Step Functions API's endpoint URL (what
	// AWS_ENDPOINT_URL_SFN or --endpoint-url take).
	StepFunctionsURL string
	// GitHubURL is the GitHub stand-in's base URL, the API's and the
	// repositories' (<GitHubURL>/<owner>/<repo>.git): the functions'
	// GITHUB_API_URL.
	GitHubURL string
	// GitHubDemo is the demo App the stack made in its GitHub stand-in;
	// nil when the data directory no longer has it.
	GitHubDemo *GitHubDemo
	// StateMachineARNs are the template's state machines, as the local
	// Step Functions API names them.
	StateMachineARNs []string
	// Ports are the ports actually bound (Daytona is 0 with a real Daytona).
	Ports Ports
	// TemplatePath is the template the routes and functions come from.
	TemplatePath string
	// Config is the functions' configuration.
	Config config.Config

	env      *environment
	routes   []samtemplate.Route
	fns      *functions
	log      *slog.Logger
	redactor *logging.Redactor

	cancel   context.CancelFunc
	inflight sync.WaitGroup
	// Listeners not yet handed to their server (a server owns its
	// listener once serving).
	lnAPI, lnLambda, lnDynamoDB, lnAWS, lnDaytona, lnStepFunctions, lnGitHub        net.Listener
	srvAPI, srvLambda, srvDynamoDB, srvAWS, srvDaytona, srvStepFunctions, srvGitHub *http.Server
	dynamoDB                                                                        *durableDynamoDB
	daytona                                                                         *daytonalocal.Server
	stepFunctions                                                                   *sfnlocal.Server
	github                                                                          *githublocal.Server
	aws                                                                             *awslocal.Server
	appEnv                                                                          *app.Env
	// tempData is a DataDir the stack made, removed by Shutdown.
	tempData string
	// dataLock holds DataDir for this stack (internal/dirlock) from
	// before anything there is read until Shutdown is done with it.
	dataLock *os.File

	closeOnce sync.Once
	closeErr  error
}

// PortInUseError is the error Start returns for a port another process
// holds.
type PortInUseError struct {
	Port int
	Role string
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port %d (%s) is already in use", e.Port, e.Role)
}

// DataDirInUseError is the error Start returns for a data directory
// another stack holds.
type DataDirInUseError struct {
	Dir string
}

func (e *DataDirInUseError) Error() string {
	return fmt.Sprintf("data directory %s is in use by another local stack", e.Dir)
}

// FindTemplate returns the path of template.yaml in dir or the nearest
// parent directory that has one.
func FindTemplate(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "template.yaml")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no template.yaml in %s or any parent directory", abs)
		}
	}
}

// Start starts the local stack. Every port is bound before anything else
// starts; if one is in use Start returns a *PortInUseError (joined, one per
// port) and nothing is left running. Then the data directory is locked; if
// another stack holds it Start returns a *DataDirInUseError, having read
// and written nothing there. On any error everything started is
// stopped again. Call Close when done.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.LogWriter == nil {
		opts.LogWriter = os.Stderr
	}
	if opts.TemplatePath == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if opts.TemplatePath, err = FindTemplate(wd); err != nil {
			return nil, err
		}
	}
	tpl, err := samtemplate.Load(opts.TemplatePath)
	if err != nil {
		return nil, err
	}
	s := &Stack{TemplatePath: opts.TemplatePath, routes: tpl.Routes()}
	realDaytona := usesRealDaytona(opts.Getenv)

	// Bind every port first: a port in use is reported before anything runs.
	type bind struct {
		port int
		role string
		ln   *net.Listener
	}
	binds := []bind{
		{opts.Ports.API, RoleAPI, &s.lnAPI},
		{opts.Ports.Lambda, RoleLambda, &s.lnLambda},
		{opts.Ports.AWS, RoleAWS, &s.lnAWS},
		{opts.Ports.StepFunctions, RoleSFN, &s.lnStepFunctions},
		{opts.Ports.GitHub, RoleGitHub, &s.lnGitHub},
	}
	if opts.DynamoDBURL == "" {
		binds = append(binds, bind{opts.Ports.DynamoDB, RoleDynamoDB, &s.lnDynamoDB})
	}
	if !realDaytona {
		binds = append(binds, bind{opts.Ports.Daytona, RoleDaytona, &s.lnDaytona})
	}
	var errs []error
	for _, b := range binds {
		ln, err := listen(b.port, b.role)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		*b.ln = ln
	}
	if len(errs) > 0 {
		s.closeListeners()
		return nil, errors.Join(errs...)
	}
	s.Ports = Ports{API: port(s.lnAPI), Lambda: port(s.lnLambda), DynamoDB: port(s.lnDynamoDB), AWS: port(s.lnAWS), Daytona: port(s.lnDaytona),
		StepFunctions: port(s.lnStepFunctions), GitHub: port(s.lnGitHub)}
	s.APIURL = "http://" + s.lnAPI.Addr().String()
	s.LambdaURL = "http://" + s.lnLambda.Addr().String()
	s.DynamoDBURL = opts.DynamoDBURL
	if s.lnDynamoDB != nil {
		s.DynamoDBURL = "http://" + s.lnDynamoDB.Addr().String()
	}
	s.AWSURL = "http://" + s.lnAWS.Addr().String()
	s.StepFunctionsURL = "http://" + s.lnStepFunctions.Addr().String()
	s.GitHubURL = "http://" + s.lnGitHub.Addr().String()
	if s.lnDaytona != nil {
		s.DaytonaURL = "http://" + s.lnDaytona.Addr().String() + "/api"
	}
	s.env = newEnvironment(tpl, opts.Getenv, endpoints{dynamoDB: s.DynamoDBURL, aws: s.AWSURL, daytona: s.DaytonaURL,
		stepFunctions: s.StepFunctionsURL, api: s.APIURL, github: s.GitHubURL})
	// The functions, in-process, with the environment they have in AWS but
	// the local endpoints. Building them makes no call to the endpoints,
	// so they can be built before the servers behind them start; the
	// stack logs through their logger and redactor, which learn every
	// secret the functions resolve.
	metricsOut := opts.MetricsWriter
	if metricsOut == nil {
		metricsOut = io.Discard
	}
	e, err := app.NewEnv(app.Options{Getenv: s.env.Getenv, LogWriter: opts.LogWriter, MetricsWriter: metricsOut,
		HTTPClient: opts.HTTPClient, DrainMaxAge: opts.DrainMaxAge})
	if err != nil {
		s.closeListeners()
		return nil, fmt.Errorf("start the functions: %w", err)
	}
	if opts.AWSHTTPClient != nil {
		e.AWS.HTTPClient = opts.AWSHTTPClient
	}
	s.appEnv, s.Config, s.log, s.redactor = e, e.Config, e.Logger, e.Redactor
	if err := s.openDataDir(opts.DataDir); err != nil {
		s.closeListeners()
		return nil, err
	}
	s.log.Info("data directory", "dir", s.DataDir)
	for _, n := range s.env.notes {
		s.log.Warn("environment: " + n)
	}

	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	if err := s.start(ctx, base, tpl, opts); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// reconcile makes the kept records and the sandboxes agree before anything
// is served: the reaper's run at start, when nothing of the last run is
// still at work, so every create in progress is abandoned.
func (s *Stack) reconcile(ctx context.Context) error {
	svc, err := s.appEnv.Service(ctx)
	if err != nil {
		return err
	}
	if _, err := svc.Reap(ctx, service.ReapOptions{AfterRestart: true}); err != nil {
		return fmt.Errorf("reconcile the kept records with the sandboxes: %w", err)
	}
	// Saved before anything is served: the run recorded the deployment's
	// id on a new table, and a kill -9 before the next snapshot would lose
	// it, and with it every sandbox labelled with it (the next start,
	// under another id, never lists them).
	if s.dynamoDB != nil {
		if err := s.dynamoDB.snapshot(false); err != nil {
			return fmt.Errorf("save the DynamoDB table: %w", err)
		}
	}
	return nil
}

// openDataDir makes the data directory, or a temporary one for a stack
// that keeps nothing, and locks it for this stack before anything there
// is read: a second stack on the directory is refused here, before it has
// read the running stack's state, and so never writes a stale copy of it
// back (its Close, say, saving the DynamoDB snapshot it had restored).
func (s *Stack) openDataDir(dir string) error {
	if dir == "" {
		// Named and marked as the local Daytona server's temporary
		// directories are: if this process is killed, the next server
		// to start (the next stack's) kills what its sandboxes left
		// running and removes the directory.
		tmp, err := os.MkdirTemp("", daytonalocal.TempDirPattern+"sandstep-local-")
		if err != nil {
			return err
		}
		s.DataDir, s.tempData = tmp, tmp
		if err := daytonalocal.MarkTempDir(tmp, s.daytonaRoot()); err != nil && !errors.Is(err, errors.ErrUnsupported) {
			s.log.Warn("the temporary data directory is not marked as this process's; if the process is killed, it is left behind",
				"dir", tmp, "error", err)
		}
	} else {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		s.DataDir = abs
	}
	lock, err := dirlock.Lock(s.DataDir, "local stack")
	if err != nil {
		_ = s.closeDataDir()
		if errors.Is(err, dirlock.ErrInUse) {
			return &DataDirInUseError{Dir: s.DataDir}
		}
		return fmt.Errorf("data directory: %w", err)
	}
	s.dataLock = lock
	if s.tempData == "" {
		// A directory given explicitly is the user's from now on, even
		// one a killed stack made as its temporary directory (`make
		// demo`'s, named in its banner) and marked as its own: without
		// the mark no server reclaims it once this stack is gone. While
		// this stack runs, its lock keeps it from them.
		unmarked, err := daytonalocal.UnmarkTempDir(s.DataDir)
		if err != nil {
			_ = s.closeDataDir()
			return fmt.Errorf("data directory: %w", err)
		}
		if unmarked {
			s.log.Info("the data directory was a temporary one of a stack that no longer runs; it is kept now, no longer removed by a later stack",
				"dir", s.DataDir)
		}
	}
	return nil
}

// closeDataDir removes the stack's temporary data directory, if it made
// one, and lets the data directory go: the last thing the stack does
// there.
func (s *Stack) closeDataDir() error {
	var errs []error
	if s.tempData != "" {
		errs = append(errs, os.RemoveAll(s.tempData))
	}
	if s.dataLock != nil {
		errs = append(errs, s.dataLock.Close())
		s.dataLock = nil
	}
	return errors.Join(errs...)
}

// daytonaRoot is where the local Daytona server keeps its sandboxes.
func (s *Stack) daytonaRoot() string { return filepath.Join(s.DataDir, "daytona") }

// wiring is how the stack builds each function, as its main.go does in
// AWS. A new function of the template adds its line here.
func wiring() []app.Function {
	var fs []app.Function
	for _, name := range api.Functions() {
		fs = append(fs, app.Lifecycle(name))
	}
	return fs
}

// startDynamoDB starts the embedded DynamoDB with what the last run left
// in it (unless the stack uses one served elsewhere) and creates the
// table. The store's definition, which a store test holds equal to the
// template's table, is the one definition of the table.
func (s *Stack) startDynamoDB(ctx context.Context) error {
	var db *durableDynamoDB
	if s.lnDynamoDB != nil {
		var err error
		db, err = newDurableDynamoDB(filepath.Join(s.DataDir, "dynamodb"), s.Config.TableName, store.TTLAttribute, s.log.With("component", "dynamodb"))
		if err != nil {
			return err
		}
		s.srvDynamoDB = s.serve(&s.lnDynamoDB, db)
	}
	client, err := DynamoDBClient(s.DynamoDBURL)
	if err != nil {
		return err
	}
	if err := store.CreateTable(ctx, client, s.Config.TableName); err != nil {
		return fmt.Errorf("create table %s: %w", s.Config.TableName, err)
	}
	if db == nil {
		return nil
	}
	restored, err := db.restore()
	if err != nil {
		return err
	}
	s.dynamoDB = db
	db.start()
	s.log.Debug("dynamodb table ready", "table", s.Config.TableName, "restoredItems", restored)
	return nil
}

// start starts the components, in dependency order, on the bound listeners.
func (s *Stack) start(ctx, base context.Context, tpl *samtemplate.Template, opts Options) error {
	if err := s.startDynamoDB(ctx); err != nil {
		return err
	}

	// SSM, Secrets Manager and S3.
	edge, err := awslocal.New(awslocal.Options{Dir: filepath.Join(s.DataDir, "aws"), Region: s.env.Getenv("AWS_REGION"), AccountID: AccountID,
		Buckets: []string{s.Config.TaskBucket}, Logger: s.log.With("component", "aws")})
	if err != nil {
		return err
	}
	s.aws = edge
	s.srvAWS = s.serve(&s.lnAWS, edge)

	// The Daytona-compatible server.
	if s.DaytonaURL != "" {
		d, err := daytonalocal.New(daytonalocal.Options{
			Root:   s.daytonaRoot(),
			APIKey: LocalDaytonaKey,
			Clock:  opts.DaytonaClock,
			Logger: s.log.With("component", "daytona"),
		})
		if err != nil {
			return err
		}
		s.daytona = d
		s.srvDaytona = s.serve(&s.lnDaytona, d)
	}

	// The GitHub stand-in, with the demo App on a new data directory.
	if err := s.startGitHub(edge); err != nil {
		return err
	}

	handlers := map[string]lambda.Handler{}
	for _, f := range wiring() {
		h, err := f.Wire(ctx, s.appEnv)
		if err != nil {
			return fmt.Errorf("start the %s function: %w", f.Name, err)
		}
		if opts.WrapHandler != nil {
			h = opts.WrapHandler(f.Name, h)
		}
		handlers[f.Name] = h
	}
	if err := s.reconcile(ctx); err != nil {
		return err
	}
	s.fns, err = newFunctions(tpl, s.env.Getenv("AWS_REGION"), handlers)
	if err != nil {
		return err
	}
	if err := checkRoutes(s.routes, s.fns); err != nil {
		return err
	}
	for _, r := range s.routes {
		if _, known := api.RouteFunction(r.Key()); !known {
			s.log.Warn("template route has no handler in internal/api; it will answer 404", "route", r.Key(), "function", r.Function)
		}
	}

	authorizers := map[string]map[string]samtemplate.Authorizer{}
	for _, h := range tpl.HTTPAPIs() {
		authorizers[h.LogicalID] = h.Authorizers
	}
	gw := &apiGateway{
		routes:      s.routes,
		authorizers: authorizers,
		fns:         s.fns,
		log:         s.log.With("component", "apigateway"),
		base:        base,
		inflight:    &s.inflight,
		now:         time.Now,
		admins:      localAdmins{claim: s.Config.AdminClaim, group: s.Config.AdminGroup, users: s.Config.LocalAdminUsers},
	}
	inv := &invokeServer{
		fns:   s.fns,
		log:   s.log.With("component", "lambda"),
		base:  base,
		async: &s.inflight,
		newID: uuid.NewString,
	}
	// Lambda before Step Functions, whose executions call it; the API
	// last, once everything behind it runs.
	s.srvLambda = s.serve(&s.lnLambda, inv.handler())
	rules, err := newEventRules(tpl, s.fns, s.log.With("component", "eventbridge"))
	if err != nil {
		return err
	}
	if err := s.startStepFunctions(ctx, tpl, opts, rules); err != nil {
		return err
	}
	s.srvAPI = s.serve(&s.lnAPI, gw)
	return s.startSchedules(base, tpl, opts.ScheduleEvery)
}

// startSchedules invokes the function of each Schedule event of the
// template with its input, every REAPER_SCHEDULE (the template's one
// schedule is the reaper's), as EventBridge does; a cron expression runs
// every 5 minutes here.
func (s *Stack) startSchedules(base context.Context, tpl *samtemplate.Template, every time.Duration) error {
	if every <= 0 {
		var ok bool
		if every, ok = config.ScheduleInterval(s.Config.ReaperSchedule); !ok {
			every = 5 * time.Minute
			s.log.Info("the local stack runs a cron schedule every 5 minutes", "schedule", s.Config.ReaperSchedule)
		}
	}
	for _, sc := range tpl.Schedules() {
		fn, ok := s.fns.byLogicalID(sc.Function)
		if !ok {
			return fmt.Errorf("schedule %s of %s: the function is not served", sc.Event, sc.Function)
		}
		go func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-base.Done():
					return
				case <-tick.C:
				}
				if _, ferr := fn.invoke(base, uuid.NewString(), []byte(sc.Input)); ferr != nil && base.Err() == nil {
					s.log.Error("scheduled invocation failed", "function", sc.Function, "errorType", ferr.Type, "error", ferr.Message)
				}
			}
		}()
	}
	return nil
}

// checkRoutes checks that every route's function exists and that the
// function's handler serves the route (internal/api knows which function
// owns each route key).
func checkRoutes(routes []samtemplate.Route, fns *functions) error {
	for _, r := range routes {
		f, ok := fns.byLogicalID(r.Function)
		if !ok {
			return fmt.Errorf("template route %s: function %s is not served", r.Key(), r.Function)
		}
		if owner, known := api.RouteFunction(r.Key()); known && owner != f.Name {
			return fmt.Errorf("template route %s goes to %s (%s), but internal/api serves it in the %q function",
				r.Key(), f.LogicalID, f.Name, owner)
		}
	}
	return nil
}

func listen(port int, role string) (net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, &PortInUseError{Port: port, Role: role}
		}
		return nil, fmt.Errorf("listen on 127.0.0.1:%d (%s): %w", port, role, err)
	}
	return ln, nil
}

func port(ln net.Listener) int {
	if ln == nil {
		return 0
	}
	return ln.Addr().(*net.TCPAddr).Port
}

// serve serves h on *ln in the background; the server owns the listener
// from then on.
func (s *Stack) serve(ln *net.Listener, h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	l := *ln
	*ln = nil
	go func() { _ = srv.Serve(l) }()
	return srv
}

// closeListeners closes the listeners no server owns yet.
func (s *Stack) closeListeners() {
	for _, ln := range []*net.Listener{&s.lnAPI, &s.lnLambda, &s.lnDynamoDB, &s.lnAWS, &s.lnDaytona, &s.lnStepFunctions, &s.lnGitHub} {
		if *ln != nil {
			_ = (*ln).Close()
			*ln = nil
		}
	}
}

// Functions returns the functions the stack serves, in the template's
// order (by logical id).
func (s *Stack) Functions() []Function {
	out := make([]Function, 0, len(s.fns.list))
	for _, f := range s.fns.list {
		out = append(out, f.Function)
	}
	return out
}

// Routes returns the API routes, as the template declares them.
func (s *Stack) Routes() []samtemplate.Route { return slices.Clone(s.routes) }

// Close stops the stack within DefaultShutdownTimeout; see Shutdown.
func (s *Stack) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultShutdownTimeout)
	defer cancel()
	return s.Shutdown(ctx)
}

// Shutdown stops the stack: it cancels running invocations, stops the API
// and Lambda servers, waits (until ctx is done) for invocations to return,
// closes the functions, then the Daytona server (which kills every sandbox
// process and removes the sandbox directories) and DynamoDB. Calls after
// the first return the first call's result.
func (s *Stack) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.cancel != nil {
			s.cancel()
		}
		s.closeListeners()
		// The front doors first, then the invocations they started, then
		// what the functions use.
		stop(ctx, s.srvAPI)
		// Step Functions before Lambda: its executions stay RUNNING on
		// disk, to be aborted (and cleaned up) by the next start.
		stop(ctx, s.srvStepFunctions)
		if s.stepFunctions != nil {
			if err := s.stepFunctions.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close the Step Functions API: %w", err))
			}
		}
		stop(ctx, s.srvLambda)
		s.waitInflight(ctx)
		if s.daytona != nil {
			// Kills every sandbox process first, so no request to the
			// server can hold its shutdown up.
			if err := s.daytona.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close the Daytona server: %w", err))
			}
		}
		stop(ctx, s.srvDaytona)
		stop(ctx, s.srvGitHub)
		if s.github != nil {
			if err := s.github.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close the GitHub stand-in: %w", err))
			}
		}
		stop(ctx, s.srvAWS)
		if s.aws != nil {
			if err := s.aws.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close the local AWS services: %w", err))
			}
		}
		stop(ctx, s.srvDynamoDB)
		if s.dynamoDB != nil {
			if err := s.dynamoDB.close(); err != nil {
				errs = append(errs, fmt.Errorf("save the DynamoDB table: %w", err))
			}
		}
		if err := s.closeDataDir(); err != nil {
			errs = append(errs, err)
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// stop shuts srv down gracefully until ctx is done, then closes it.
func stop(ctx context.Context, srv *http.Server) {
	if srv == nil {
		return
	}
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
}

func (s *Stack) waitInflight(ctx context.Context) {
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
