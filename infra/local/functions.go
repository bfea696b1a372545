package local

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/sandstep/sandstep/infra/samtemplate"
)

// Local AWS identity: the account API Gateway and Lambda report, as sam
// local does.
const (
	AccountID     = "123456789012"
	DefaultRegion = "us-east-1"
)

// Function is a Lambda function of the template as the stack serves it.
type Function struct {
	// LogicalID is the template's logical id, e.g. "CreateFunction"; it is
	// also the function name, as under `sam local`.
	LogicalID string
	// Name is the handler's name, the last element of its CodeUri
	// ("functions/create" -> "create"); invocations may use it too.
	Name string
	// ARN is the function's local ARN (by logical id).
	ARN string
	// Timeout is the function's Timeout from the template.
	Timeout time.Duration
	// Alias is the function's AutoPublishAlias from the template ("live"),
	// or "". Invocations may name it as well as $LATEST: both run the one
	// version the stack serves.
	Alias string
}

// function is a Function with its handler.
type function struct {
	Function
	handler lambda.Handler
}

// functions is the stack's set of functions, resolvable by logical id, by
// name and by ARN.
type functions struct {
	list   []*function
	region string
}

// newFunctions builds the functions of tpl, each served by the handler
// handlers returns for its name. A template function without a handler is
// an error: it would be a function that runs in AWS and not locally.
func newFunctions(tpl *samtemplate.Template, region string, handlers map[string]lambda.Handler) (*functions, error) {
	fs := &functions{region: region}
	for _, f := range tpl.Functions() {
		name := path.Base(strings.TrimRight(f.CodeURI, "/"))
		h, ok := handlers[name]
		if f.CodeURI == "" || !ok {
			return nil, fmt.Errorf("template function %s (CodeUri %q) has no in-process handler; the local stack serves %s",
				f.LogicalID, f.CodeURI, strings.Join(slices.Sorted(maps.Keys(handlers)), ", "))
		}
		for _, other := range fs.list {
			if other.Name == name {
				return nil, fmt.Errorf("template functions %s and %s both have the CodeUri base name %q", other.LogicalID, f.LogicalID, name)
			}
		}
		fs.list = append(fs.list, &function{
			Function: Function{
				LogicalID: f.LogicalID,
				Name:      name,
				ARN:       functionARN(region, f.LogicalID),
				Timeout:   time.Duration(f.Timeout) * time.Second,
				Alias:     f.AutoPublishAlias,
			},
			handler: h,
		})
	}
	if len(fs.list) == 0 {
		return nil, errors.New("the template has no AWS::Serverless::Function")
	}
	return fs, nil
}

func functionARN(region, name string) string {
	return "arn:aws:lambda:" + region + ":" + AccountID + ":function:" + name
}

// byLogicalID returns the function with the given logical id.
func (fs *functions) byLogicalID(id string) (*function, bool) {
	for _, f := range fs.list {
		if f.LogicalID == id {
			return f, true
		}
	}
	return nil, false
}

// resolve finds the function an Invoke request names: a logical id
// ("CreateFunction"), a handler name ("create"), a full ARN
// ("arn:aws:lambda:us-east-1:123456789012:function:create[:live]") or a
// partial ARN ("123456789012:function:create"), each with an optional
// ":qualifier". qualifier is the Qualifier query parameter; the two must
// agree when both are given. The stack serves one version of each
// function, $LATEST, which is also what the function's alias (the
// template's AutoPublishAlias, live) points at; any other qualifier names
// nothing.
func (fs *functions) resolve(name, qualifier string) (*function, bool) {
	fn, qualifier, ok := splitFunctionName(name, qualifier)
	if !ok {
		return nil, false
	}
	for _, f := range fs.list {
		if f.LogicalID == fn || f.Name == fn {
			if qualifier != "" && qualifier != "$LATEST" && qualifier != f.Alias {
				return nil, false
			}
			return f, true
		}
	}
	return nil, false
}

// notFoundARN is the ARN a 404 for name and qualifier names, as Lambda's
// does ("Function not found: arn:...:function:create:other").
func (fs *functions) notFoundARN(name, qualifier string) string {
	fn, q, ok := splitFunctionName(name, qualifier)
	switch {
	case !ok && strings.HasPrefix(name, "arn:"):
		return name
	case !ok:
		return functionARN(fs.region, name)
	case strings.HasPrefix(name, "arn:"):
		if q != "" && strings.Count(name, ":") == 6 {
			return name + ":" + q
		}
		return name
	case q != "":
		return functionARN(fs.region, fn) + ":" + q
	}
	return functionARN(fs.region, fn)
}

// splitFunctionName parses the forms resolve takes into the function's
// name and the qualifier, that of the name or the Qualifier parameter.
func splitFunctionName(name, qualifier string) (fn, q string, ok bool) {
	parts := strings.Split(name, ":")
	var inName string
	switch {
	case len(parts) == 1:
		return name, qualifier, true
	case len(parts) >= 7 && len(parts) <= 8 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function":
		fn = parts[6]
		if len(parts) == 8 {
			inName = parts[7]
		}
	case len(parts) >= 3 && len(parts) <= 4 && parts[1] == "function":
		fn = parts[2]
		if len(parts) == 4 {
			inName = parts[3]
		}
	case len(parts) == 2:
		fn, inName = parts[0], parts[1]
	default:
		return "", "", false
	}
	if inName != "" && qualifier != "" && inName != qualifier {
		return "", "", false
	}
	if inName != "" {
		qualifier = inName
	}
	return fn, qualifier, true
}

// invoke runs f's handler as the Lambda runtime does: the payload (JSON)
// in, the answer (JSON) out, or a function error as the runtime reports it.
// The function's Timeout becomes the context's deadline (the handlers
// bound their own work by it); as in Lambda, a panic is reported as a
// function error.
func (f *function) invoke(ctx context.Context, requestID string, payload []byte) (out []byte, ferr *messages.InvokeResponse_Error) {
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       requestID,
		InvokedFunctionArn: f.ARN,
	})
	if f.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.Timeout)
		defer cancel()
	}
	defer func() {
		if v := recover(); v != nil {
			out, ferr = nil, panicResponse(v)
		}
	}()
	out, err := f.handler.Invoke(ctx, payload)
	if err != nil {
		return nil, errorResponse(err)
	}
	if len(out) > MaxSyncPayload {
		// Lambda fails an invocation whose response is over its limit;
		// the Invoke API reports it as a function error, an HTTP API
		// answers it as it answers one (500).
		return nil, &messages.InvokeResponse_Error{Type: "Function.ResponseSizeTooLarge",
			Message: fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxSyncPayload)}
	}
	return out, nil
}

// errorResponse is what the aws-lambda-go runtime reports for a returned
// error: a messages.InvokeResponse_Error as is, otherwise the error's Go
// type name and text.
func errorResponse(err error) *messages.InvokeResponse_Error {
	if ive, ok := err.(messages.InvokeResponse_Error); ok {
		return &ive
	}
	if ive, ok := err.(*messages.InvokeResponse_Error); ok && ive != nil {
		return ive
	}
	return &messages.InvokeResponse_Error{Type: typeName(err), Message: err.Error()}
}

// panicResponse is what the runtime reports for a panic.
func panicResponse(v any) *messages.InvokeResponse_Error {
	if ive, ok := v.(messages.InvokeResponse_Error); ok {
		return &ive
	}
	msg := fmt.Sprint(v)
	if err, ok := v.(error); ok {
		msg = err.Error()
	}
	return &messages.InvokeResponse_Error{Type: typeName(v), Message: msg}
}

func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return "Runtime.Unknown"
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}
