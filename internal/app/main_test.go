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

// A function's Go runtime is told the memory Lambda gives it, less a
// tenth, unless GOMEMLIMIT says otherwise.
func TestMemoryLimit(t *testing.T) {
	for _, tt := range []struct {
		name       string
		env        map[string]string
		want       int64
		wantLimits bool
	}{
		{"the execute function's 512 MB", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"}, 512 << 20 / 10 * 9, true},
		{"the others' 256 MB", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}, 256 << 20 / 10 * 9, true},
		{"GOMEMLIMIT set", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512", "GOMEMLIMIT": "300MiB"}, 0, false},
		{"outside Lambda", map[string]string{}, 0, false},
		{"unreadable size", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "lots"}, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := memoryLimit(func(k string) string { return tt.env[k] })
			if got != tt.want || ok != tt.wantLimits {
				t.Errorf("memoryLimit = %d, %v; want %d, %v", got, ok, tt.want, tt.wantLimits)
			}
		})
	}
}
