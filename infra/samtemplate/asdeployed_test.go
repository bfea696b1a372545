package samtemplate

import (
	"context"
	"encoding/json"
	"encoding/xml"
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
	"github.com/truora/minidyn/server"

	"github.com/sandstep/sandstep/internal/app"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// asDeployed stands in for the AWS APIs one function of the template
// calls (DynamoDB, SSM, Secrets Manager, S3, Step Functions), each request
// allowed or refused as the function's own policy in template.yaml allows
// it in AWS: the action IAM authorises the request as, on the resource ARN
// IAM evaluates. The local stack serves every function from one process
// with every grant, so a request only the deployed role would refuse
// passes there; here it is refused (AccessDeniedException) and recorded.
//
// Resources are named as the template parser names them: a table or bucket
// by its Ref (the logical id) and ARN "${Logical.Arn}", pseudo parameters
// at the parser's values (us-east-1, 123456789012).
type asDeployed struct {
	*awsBackend
	fn  Function
	URL string
}

// awsBackend is what the functions of one deployment share: the table,
// the parameters, secrets and objects, and what their roles were refused.
type awsBackend struct {
	dynamo http.Handler // minidyn, the table already made

	mu      sync.Mutex
	denied  []string
	params  map[string]string // SSM parameters by name
	secrets map[string]string // Secrets Manager secrets by name
	objects map[string][]byte // S3 objects by bucket/key
}

const (
	deployedRegion  = "us-east-1"
	deployedAccount = "123456789012"
)

func newAsDeployed(t *testing.T, fn Function, table string) *asDeployed {
	t.Helper()
	mini := server.NewServer()
	raw := httptest.NewServer(mini)
	t.Cleanup(raw.Close)
	if err := store.CreateTable(context.Background(), storetest.DB(t, raw.URL), table); err != nil {
		t.Fatal(err)
	}
	b := &awsBackend{dynamo: mini, params: map[string]string{}, secrets: map[string]string{}, objects: map[string][]byte{}}
	return b.For(t, fn)
}

// For is the AWS another function of the same deployment sees.
func (b *awsBackend) For(t *testing.T, fn Function) *asDeployed {
	d := &asDeployed{awsBackend: b, fn: fn}
	hs := httptest.NewServer(d)
	t.Cleanup(hs.Close)
	d.URL = hs.URL
	return d
}

// Store is a store on the same table with every permission: the test's
// own setup.
func (d *asDeployed) Store(t *testing.T, table string) *store.Store {
	t.Helper()
	raw := httptest.NewServer(d.dynamo)
	t.Cleanup(raw.Close)
	st, err := store.New(storetest.DB(t, raw.URL), table, store.Options{DefaultQuota: 5, IdempotencyTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Denied returns what the function's role was refused.
func (d *awsBackend) Denied() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.denied)
}

// allowed reports whether one of the function's statements allows action
// on resource, with ctx the request's condition keys.
func (d *asDeployed) allowed(action, resource string, ctx map[string]string) bool {
	for _, s := range d.fn.Policies {
		if s.Effect != "Allow" || !slices.ContainsFunc(s.Actions, func(a string) bool { return iamMatch(strings.ToLower(a), strings.ToLower(action)) }) {
			continue
		}
		if !slices.ContainsFunc(s.Resources, func(r string) bool { return iamMatch(r, resource) }) {
			continue
		}
		if conditionHoldsFor(s.Condition, ctx) {
			return true
		}
	}
	return false
}

// authorize records and reports a refusal of each (action, resource) the
// function's policy does not allow.
func (d *asDeployed) authorize(w http.ResponseWriter, ctx map[string]string, pairs ...[2]string) bool {
	for _, p := range pairs {
		if !d.allowed(p[0], p[1], ctx) {
			msg := fmt.Sprintf("%s is not authorized to perform: %s on resource: %s", d.fn.LogicalID, p[0], p[1])
			d.mu.Lock()
			d.denied = append(d.denied, d.fn.LogicalID+": "+p[0]+" on "+p[1])
			d.mu.Unlock()
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"__type": "AccessDeniedException", "message": msg})
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

// conditionHoldsFor evaluates the StringEquals and StringLike conditions
// the template writes; a key the request does not carry fails its
// condition, as in IAM.
func conditionHoldsFor(cond map[string]any, ctx map[string]string) bool {
	for op, block := range cond {
		keys, _ := block.(map[string]any)
		for key, want := range keys {
			got, ok := ctx[key]
			if !ok {
				return false
			}
			match := false
			for _, w := range stringList(want) {
				switch op {
				case "StringEquals":
					match = match || got == w
				case "StringLike":
					match = match || iamMatch(w, got)
				default:
					return false
				}
			}
			if !match {
				return false
			}
		}
	}
	return true
}

func (d *asDeployed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	service, op, _ := strings.Cut(target, ".")
	switch service {
	case "DynamoDB_20120810":
		d.serveDynamoDB(w, r, op)
	case "AmazonSSM":
		d.serveSSM(w, r, op)
	case "secretsmanager":
		d.serveSecretsManager(w, r, op)
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
	if !d.authorize(w, nil, pairs...) {
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
	var in struct{ Name string }
	_ = json.NewDecoder(r.Body).Decode(&in)
	if op != "GetParameter" {
		d.authorize(w, nil, [2]string{"ssm:" + op, "*"})
		return
	}
	// A selector (name:3, name:label) is not part of the parameter's ARN;
	// a name that starts with / is the ARN's path as it is.
	name, _, _ := strings.Cut(in.Name, ":")
	arn := "arn:aws:ssm:" + deployedRegion + ":" + deployedAccount + ":parameter"
	if strings.HasPrefix(name, "/") {
		arn += name
	} else {
		arn += "/" + name
	}
	if !d.authorize(w, nil, [2]string{"ssm:GetParameter", arn}) {
		return
	}
	d.mu.Lock()
	v, ok := d.params[name]
	d.mu.Unlock()
	if !ok {
		jsonAnswer(w, http.StatusBadRequest, map[string]string{"__type": "ParameterNotFound", "message": "parameter not found"})
		return
	}
	jsonAnswer(w, http.StatusOK, map[string]any{"Parameter": map[string]any{"Name": name, "Type": "SecureString", "Value": v, "Version": 1}})
}

func (d *asDeployed) serveSecretsManager(w http.ResponseWriter, r *http.Request, op string) {
	var in struct{ SecretId string }
	_ = json.NewDecoder(r.Body).Decode(&in)
	// A secret's ARN ends in - and six random characters after its name.
	name := in.SecretId
	arn := "arn:aws:secretsmanager:" + deployedRegion + ":" + deployedAccount + ":secret:" + name + "-Ab1Cd2"
	if strings.HasPrefix(in.SecretId, "arn:") {
		arn = in.SecretId
	}
	if !d.authorize(w, nil, [2]string{"secretsmanager:" + op, arn}) {
		return
	}
	d.mu.Lock()
	v, ok := d.secrets[name]
	d.mu.Unlock()
	if !ok {
		jsonAnswer(w, http.StatusBadRequest, map[string]string{"__type": "ResourceNotFoundException", "message": "secret not found"})
		return
	}
	jsonAnswer(w, http.StatusOK, map[string]any{"ARN": arn, "Name": name, "SecretString": v})
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
		if !d.authorize(w, nil, [2]string{"states:StartExecution", prefix + ":stateMachine:" + machine}) {
			return
		}

		jsonAnswer(w, http.StatusOK, map[string]any{"executionArn": prefix + ":execution:" + machine + ":" + in.Name, "startDate": time.Now().Unix()})
	case "StopExecution":
		if d.authorize(w, nil, [2]string{"states:StopExecution", in.ExecutionArn}) {
			jsonAnswer(w, http.StatusOK, map[string]any{"stopDate": time.Now().Unix()})
		}
	case "DescribeExecution":
		if d.authorize(w, nil, [2]string{"states:DescribeExecution", in.ExecutionArn}) {
			jsonAnswer(w, http.StatusOK, map[string]any{"executionArn": in.ExecutionArn, "status": "FAILED"})
		}
	default:
		// SendTaskSuccess names no resource in its request (the token
		// does), and which resource IAM evaluates it on is not settled
		// here: any grant of the action passes.
		if slices.ContainsFunc(d.fn.Policies, func(s Statement) bool {
			return slices.Contains(s.Actions, "states:"+op)
		}) {
			jsonAnswer(w, http.StatusOK, map[string]any{})
			return
		}
		d.authorize(w, nil, [2]string{"states:" + op, "*"})
	}
}

// serveS3 serves the path-style REST calls objects makes: PUT and GET of
// a key, GET ?list-type=2 of the bucket. Without s3:ListBucket, S3
// answers a missing key 403, as here.
func (d *asDeployed) serveS3(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	bucketARN := "${" + bucket + ".Arn}"
	s3Denied := func() {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
	}
	authorize := func(action, resource string, ctx map[string]string) bool {
		if d.allowed(action, resource, ctx) {
			return true
		}
		d.mu.Lock()
		d.denied = append(d.denied, d.fn.LogicalID+": "+action+" on "+resource)
		d.mu.Unlock()
		s3Denied()
		return false
	}
	switch {
	case key == "" && r.Method == http.MethodGet:
		prefix := r.URL.Query().Get("prefix")
		if !authorize("s3:ListBucket", bucketARN, map[string]string{"s3:prefix": prefix}) {
			return
		}
		type content struct{ Key string }
		var out struct {
			XMLName  xml.Name `xml:"ListBucketResult"`
			Contents []content
		}
		d.mu.Lock()
		for k := range d.objects {
			if rest, ok := strings.CutPrefix(k, bucket+"/"); ok && strings.HasPrefix(rest, prefix) && rest > r.URL.Query().Get("start-after") {
				out.Contents = append(out.Contents, content{rest})
			}
		}
		d.mu.Unlock()
		slices.SortFunc(out.Contents, func(a, b content) int { return strings.Compare(a.Key, b.Key) })
		_ = xml.NewEncoder(w).Encode(out)
	case r.Method == http.MethodPut:
		if !authorize("s3:PutObject", bucketARN+"/"+key, nil) {
			return
		}
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.objects[path.Join(bucket, key)] = body
		d.mu.Unlock()
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		if !authorize("s3:GetObject", bucketARN+"/"+key, nil) {
			return
		}
		d.mu.Lock()
		body, ok := d.objects[path.Join(bucket, key)]
		d.mu.Unlock()
		switch {
		case ok:
			_, _ = w.Write(body)
		case d.allowed("s3:ListBucket", bucketARN, map[string]string{"s3:prefix": key}):
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>`)
		default:
			s3Denied()
		}
	default:
		http.Error(w, "unsupported", http.StatusMethodNotAllowed)
	}
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
		InvokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:" + f.LogicalID + ":live"})
	return f.Handler.Invoke(ctx, raw)
}
