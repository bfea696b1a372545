package local

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/service"
)

// A task's artifact is kept under any file name the sandbox's file system
// allows: in AWS its key (tasks/<id>/artifacts/NN-<name>) is far under
// S3's 1,024 bytes. Each case is a file of that name, the task's one
// artifact, downloaded through its link. The task is started as a console
// start is (its input carries the task), and read through the API.
func TestTaskArtifactWithALongFileName(t *testing.T) {
	s := startStack(t, nil, fastRetries)
	for _, tc := range []struct {
		name string
		file string
	}{
		{"a short name", "report.txt"},
		{"a name of 120 bytes", strings.Repeat("r", 116) + ".txt"},
		{"a name of 180 bytes", strings.Repeat("r", 176) + ".txt"},
		{"a name of 240 bytes", strings.Repeat("r", 236) + ".txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := service.NewTaskID()
			input, _ := json.Marshal(map[string]any{"userId": "alice", "task": map[string]any{
				"command": "echo built > " + tc.file, "artifacts": []string{tc.file}}})
			s.sfn("StartExecution", map[string]any{"stateMachineArn": s.StateMachineARNs[0], "name": id, "input": string(input)}, nil)
			if st := s.waitExecution(id, 2*time.Minute); st != "SUCCEEDED" {
				_, errName, cause := s.describe(id)
				t.Fatalf("task with a %d-byte artifact name: execution %s %s %.300s, want SUCCEEDED", len(tc.file), st, errName, cause)
			}
			res := s.as("alice", http.MethodGet, "/tasks/"+id+"/artifacts", nil)
			var arts struct {
				Items []struct {
					URL   string `json:"url"`
					Error string `json:"error"`
				} `json:"items"`
			}
			res.decode(t, &arts)
			if len(arts.Items) != 1 || arts.Items[0].URL == "" {
				t.Fatalf("artifacts %d %.300s: want one with a link", res.status, res.body)
			}
			if dl := do(t, http.MethodGet, arts.Items[0].URL, nil); dl.status != http.StatusOK || string(dl.body) != "built\n" {
				t.Errorf("download: %d %q", dl.status, dl.body)
			}
		})
	}
}
