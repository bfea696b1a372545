package samtemplate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sandstep/sandstep/internal/app"
	"github.com/sandstep/sandstep/internal/awslocal"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// asDeployed stands in for the AWS APIs one function of the template
// calls (DynamoDB, SSM, Step Functions, S3 puts), each request allowed or
// refused as the function's own policy in template.yaml allows it in AWS:
// the action IAM authorises the request as, on the resource ARN IAM
// evaluates. The local stack serves every function from one process with
// every grant, so a request only the deployed role would refuse passes
// there; here it is refused (AccessDeniedException) and recorded.
//
// Resources are named as the template parser names them: a table or bucket
// by its Ref (the logical id) and ARN "${Logical.Arn}", pseudo parameters
// at the parser's values (us-east-1, 123456789012).
type asDeployed struct {
	fn        Function
	URL       string
	dynamo    http.Handler // minidyn, the table already made
	dynamoURL string       // dynamo served with every permission

	// AWS is the local SSM and S3 (awslocal), served behind the role's
	// grants; the test puts its parameters there.
	AWS *awslocal.Server

	mu      sync.Mutex
	denied  []string
	stopped []string // the executions StopExecution stopped
}

// The region and account the parser resolves pseudo parameters to.
var (
	deployedRegion  = pseudoParameters["AWS::Region"].(string)
	deployedAccount = pseudoParameters["AWS::AccountId"].(string)
)

func newAsDeployed(t *testing.T, fn Function, table string) *asDeployed {
	t.Helper()
	d := &asDeployed{fn: fn}
	aws, err := awslocal.New(awslocal.Options{Dir: t.TempDir(), Region: deployedRegion, AccountID: deployedAccount, Buckets: []string{"TaskBucket"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = aws.Close() })
	d.AWS = aws
	_, d.dynamoURL = storetest.Server(t, func(h http.Handler) http.Handler { d.dynamo = h; return h })
	if err := store.CreateTable(context.Background(), storetest.DB(t, d.dynamoURL), table); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(d)
	t.Cleanup(hs.Close)
	d.URL = hs.URL
	return d
}

// deployedDaytonaKey is the Daytona API key the deploy's SSM parameter holds.
const deployedDaytonaKey = "daytona-key-deployed"

// putParameter sets an SSM parameter of the deployment, as its operator
// would before a deploy.
func putParameter(t *testing.T, d *asDeployed, name, value string) {
	t.Helper()
	if err := d.AWS.PutSecureParameter(name, value); err != nil {
		t.Fatal(err)
	}
}

// Store is a store on the same table with every permission: the test's
// own setup.
func (d *asDeployed) Store(t *testing.T, table string) *store.Store {
	t.Helper()
	st, err := store.New(storetest.DB(t, d.dynamoURL), table, store.Options{DefaultQuota: 5, IdempotencyTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Denied returns what the function's role was refused.
func (d *asDeployed) Denied() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.denied)
}

// Stopped returns the executions the function stopped.
func (d *asDeployed) Stopped() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.stopped)
}

// allowed reports whether one of the function's statements allows action
// on resource. A statement with a condition is not evaluated here (none
// the tests reach has one): it allows nothing.
func (d *asDeployed) allowed(action, resource string) bool {
	for _, s := range d.fn.Policies {
		if s.Effect != "Allow" || len(s.Condition) > 0 ||
			!slices.ContainsFunc(s.Actions, func(a string) bool { return iamMatch(strings.ToLower(a), strings.ToLower(action)) }) {
			continue
		}
		if slices.ContainsFunc(s.Resources, func(r string) bool { return iamMatch(r, resource) }) {
			return true
		}
	}
	return false
}

// refused records and reports whether the function's policy refuses
// action on resource.
func (d *asDeployed) refused(action, resource string) bool {
	if d.allowed(action, resource) {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.denied = append(d.denied, d.fn.LogicalID+": "+action+" on "+resource)
	return true
}

// authorize answers AccessDeniedException, as the JSON APIs do, for the
// first of pairs (action, resource) the function's policy refuses.
func (d *asDeployed) authorize(w http.ResponseWriter, pairs ...[2]string) bool {
	for _, p := range pairs {
		if d.refused(p[0], p[1]) {
			msg := fmt.Sprintf("%s is not authorized to perform: %s on resource: %s", d.fn.LogicalID, p[0], p[1])
			jsonAnswer(w, http.StatusBadRequest, map[string]string{"__type": "AccessDeniedException", "message": msg})
			return false
		}
	}
	return true
}

// iamMatch matches an IAM pattern (* any run, ? one character) against s.
func iamMatch(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if iamMatch(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && iamMatch(pattern[1:], s[1:])
	}
	return s != "" && s[0] == pattern[0] && iamMatch(pattern[1:], s[1:])
}

func (d *asDeployed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	service, op, _ := strings.Cut(target, ".")
	switch service {
	case "DynamoDB_20120810":
		d.serveDynamoDB(w, r, op)
	case "AmazonSSM":
		d.serveSSM(w, r, op)
	case "AWSStepFunctions":
		d.serveStepFunctions(w, r, op)
	case "":
		d.serveS3(w, r)
	default:
		http.Error(w, "unknown service "+target, http.StatusBadRequest)
	}
}

// tableARN is the ARN IAM evaluates for a table (or its index) by name:
// the template's TABLE_NAME is the table's Ref, its logical id.
func tableARN(table, index string) string {
	arn := "${" + table + ".Arn}"
	if index != "" {
		arn += "/index/" + index
	}
	return arn
}

func (d *asDeployed) serveDynamoDB(w http.ResponseWriter, r *http.Request, op string) {
	body, _ := io.ReadAll(r.Body)
	var in struct {
		TableName     string
		IndexName     string
		TransactItems []map[string]struct{ TableName string }
	}
	_ = json.Unmarshal(body, &in)
	var pairs [][2]string
	switch op {
	case "TransactWriteItems":
		// Authorised per item, by the item's own action.
		action := map[string]string{"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
		for _, item := range in.TransactItems {
			for kind, it := range item {
				pairs = append(pairs, [2]string{"dynamodb:" + action[kind], tableARN(it.TableName, "")})
			}
		}
	default:
		pairs = append(pairs, [2]string{"dynamodb:" + op, tableARN(in.TableName, in.IndexName)})
	}
	if !d.authorize(w, pairs...) {
		return
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	r.ContentLength = int64(len(body))
	d.dynamo.ServeHTTP(w, r)
}

func jsonAnswer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (d *asDeployed) serveSSM(w http.ResponseWriter, r *http.Request, op string) {
	body, _ := io.ReadAll(r.Body)
	var in struct{ Name string }
	_ = json.Unmarshal(body, &in)
	// The template's parameter names start with /, the ARN's path as it is.
	arn := "arn:aws:ssm:" + deployedRegion + ":" + deployedAccount + ":parameter" + in.Name
	if !d.authorize(w, [2]string{"ssm:" + op, arn}) {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	d.AWS.ServeHTTP(w, r)
}

func (d *asDeployed) serveStepFunctions(w http.ResponseWriter, r *http.Request, op string) {
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
		Name            string `json:"name"`
		ExecutionArn    string `json:"executionArn"`
	}
	_ = json.NewDecoder(r.Body).Decode(&in)
	switch op {
	case "StartExecution":
		// A start on an alias or version is authorised against the
		// unqualified machine (Step Functions, "Authorization for
		// versions and aliases"); its execution is named under it.
		prefix, machine, _ := strings.Cut(in.StateMachineArn, ":stateMachine:")
		machine, _, _ = strings.Cut(machine, ":")
		if d.authorize(w, [2]string{"states:StartExecution", prefix + ":stateMachine:" + machine}) {
			jsonAnswer(w, http.StatusOK, map[string]any{"executionArn": prefix + ":execution:" + machine + ":" + in.Name, "startDate": time.Now().Unix()})
		}
	case "DescribeExecution":
		// Every execution has ended, failed, without its clean-up.
		if d.authorize(w, [2]string{"states:DescribeExecution", in.ExecutionArn}) {
			jsonAnswer(w, http.StatusOK, map[string]any{"executionArn": in.ExecutionArn, "status": "FAILED"})
		}
	case "StopExecution":
		if d.authorize(w, [2]string{"states:StopExecution", in.ExecutionArn}) {
			d.mu.Lock()
			d.stopped = append(d.stopped, in.ExecutionArn)
			d.mu.Unlock()
			jsonAnswer(w, http.StatusOK, map[string]any{"stopDate": time.Now().Unix()})
		}
	default:
		http.Error(w, "the stand-in does not serve states:"+op, http.StatusBadRequest)
	}
}

// serveS3 serves the path-style PUT of a key that objects makes, behind
// the role's grant.
func (d *asDeployed) serveS3(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if r.Method != http.MethodPut {
		http.Error(w, "the stand-in does not serve S3 "+r.Method, http.StatusMethodNotAllowed)
		return
	}
	if d.refused("s3:PutObject", "${"+bucket+".Arn}/"+key) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
		return
	}
	d.AWS.ServeHTTP(w, r)
}

// deployedFunction is a function of the template built as its bootstrap
// builds it at a cold start in AWS: its own environment from the template
// (with params as the deploy's parameter overrides), the AWS APIs those of
// aws, and extra on top (a Daytona or GitHub stand-in's URL).
type deployedFunction struct {
	Function
	Handler lambda.Handler
}

func deployFunction(t *testing.T, fn Function, aws *asDeployed, extra map[string]string) (*deployedFunction, error) {
	t.Helper()
	env := map[string]string{}
	for k, v := range fn.Environment {
		env[k] = v
	}
	for k, v := range map[string]string{
		"AWS_REGION":            deployedRegion,
		"AWS_ACCESS_KEY_ID":     "ASIADEPLOYED",
		"AWS_SECRET_ACCESS_KEY": "deployed-secret-access-key",
		"AWS_SESSION_TOKEN":     "deployed-session-token",
		"AWS_ENDPOINT_URL":      aws.URL,
	} {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	e, err := app.NewEnv(app.Options{Getenv: func(k string) string { return env[k] }, LogWriter: io.Discard, MetricsWriter: io.Discard})
	if err != nil {
		return nil, err
	}
	name := path.Base(fn.CodeURI)
	h, err := app.Lifecycle(name).Wire(context.Background(), e)
	if err != nil {
		return nil, err
	}
	return &deployedFunction{Function: fn, Handler: h}, nil
}

// invoke invokes the function with payload as Lambda does, within its
// Timeout.
func (f *deployedFunction) invoke(t *testing.T, payload any) ([]byte, error) {
	t.Helper()
	raw, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(f.Timeout)*time.Second)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "req-deployed",
		InvokedFunctionArn: "arn:aws:lambda:" + deployedRegion + ":" + deployedAccount + ":function:" + f.LogicalID + ":live"})
	return f.Handler.Invoke(ctx, raw)
}
