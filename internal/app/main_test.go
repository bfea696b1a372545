package app

import (
	"context"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sandstep/sandstep/internal/api"
)

// Every function hands the Lambda runtime its handler function itself, not
// a lambda.Handler: the runtime then answers with JSON's content type
// (a lambda.Handler's bytes go out as octet-stream).
func TestFunctionsHandTheRuntimeTheirFunction(t *testing.T) {
	s := newStack(t, nil)
	for _, name := range api.Functions() {
		t.Run(name, func(t *testing.T) {
			h, err := Lifecycle(name).Wire(context.Background(), s.env)
			if err != nil {
				t.Fatal(err)
			}
			got := runtimeHandler(h)
			if _, isHandler := got.(lambda.Handler); isHandler || reflect.TypeOf(got).Kind() != reflect.Func {
				t.Errorf("the runtime is handed a %T, want the handler function", got)
			}
		})
	}
}
