package sfnlocal_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/sandstep/sandstep/internal/sfnlocal"
)

func TestStatusChangeJSON(t *testing.T) {
	stop := int64(1700000001500)
	c := sfnlocal.StatusChange{
		ExecutionArn: "arn:aws:states:us-east-1:123456789012:execution:m:e", StateMachineArn: machineARN("m"),
		Name: "e", Status: "ABORTED", StartDate: 1700000000000, StopDate: &stop, Input: "{}",
		InputDetails: &sfnlocal.DataDetails{Included: true},
	}
	b, err := json.Marshal(sfnlocal.Envelope(c, region, account))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	detail := got["detail"].(map[string]any)
	for key, want := range map[string]any{
		"detail-type": "Step Functions Execution Status Change", "source": "aws.states", "account": account,
		"region": region, "time": "2023-11-14T22:13:21Z",
	} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v", key, got[key], want)
		}
	}
	for key, want := range map[string]any{
		"status": "ABORTED", "startDate": 1700000000000.0, "stopDate": 1700000001500.0, "input": "{}",
		"output": nil, "outputDetails": nil, "error": nil, "cause": nil,
	} {
		if v, ok := detail[key]; !ok || v != want {
			t.Errorf("detail.%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
}

func TestFindRunnerDir(t *testing.T) {
	pkg, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(filepath.Dir(pkg))
	want := filepath.Join(pkg, "runner")
	for _, dir := range []string{root, pkg, filepath.Join(root, "infra")} {
		if got, err := sfnlocal.FindRunnerDir(dir); err != nil || got != want {
			t.Errorf("FindRunnerDir(%s) = %s, %v; want %s", dir, got, err, want)
		}
	}
	if _, err := sfnlocal.FindRunnerDir(os.TempDir()); err == nil {
		t.Errorf("FindRunnerDir(%s) found a runner", os.TempDir())
	}
}

func TestSubstitute(t *testing.T) {
	tests := []struct {
		name, def string
		subs      map[string]string
		want      string
	}{
		{"one key", `{"Resource": "${CreateFunctionArn}"}`, map[string]string{"CreateFunctionArn": "arn:x"}, `{"Resource": "arn:x"}`},
		{"twice", `"${A}${A}"`, map[string]string{"A": "a"}, `"aa"`},
		{"unknown keys stay", `"${B}"`, map[string]string{"A": "a"}, `"${B}"`},
		{"a key that is another's prefix", `"${Arn}${ArnX}"`, map[string]string{"Arn": "1", "ArnX": "2"}, `"12"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sfnlocal.Substitute(tt.def, tt.subs); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
