package sfnlocal_test

import (
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sfnlocal"
)

func TestNewRefusesInvalidDefinitions(t *testing.T) {
	needNode(t)
	lambda := newFakeLambda(t, nil)
	valid := `{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}`
	tests := []struct {
		name     string
		machines map[string]string
		want     []string // substrings of the error
	}{
		{"a Next to nowhere", map[string]string{"good": valid, "bad": `{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}`},
			[]string{`"bad"`, "not valid ASL", "B"}},
		{"a Task resource that is no ARN", map[string]string{"arnless": `{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "create", "End": true}}}`},
			[]string{`"arnless"`, "Resource"}},
		{"not JSON", map[string]string{"broken": `{"StartAt": `}, []string{`"broken"`, "not JSON"}},
		{"a name with a slash", map[string]string{"a/b": valid}, []string{`"a/b"`, "not a valid name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := sfnlocal.New(sfnlocal.Options{
				Dir: t.TempDir(), Region: region, AccountID: account,
				StateMachines: tt.machines, LambdaEndpoint: lambda.URL,
			})
			if err == nil {
				srv.Close()
				t.Fatal("New accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
