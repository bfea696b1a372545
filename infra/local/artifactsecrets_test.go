package local

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"testing"
	"time"
)

// README, "Secrets": a task's secrets are written into its sandbox as
// .sandstep/secrets.env and are never stored. An artifact is stored in
// the task bucket and served by a link: naming sandstep's own directory
// (reserved for sandstep: files and git.path may not write there) must
// not copy the secrets file into the bucket. Either the task is refused
// (400 naming the artifact) or no stored artifact holds the value.
func TestArtifactStoresNoSecret(t *testing.T) {
	s := startStack(t, nil)
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	canary := "canary-" + hex.EncodeToString(b)
	s.putSecret("/sandstep/secrets/users/alice/artifact-canary", canary)

	for _, tc := range []struct{ name, artifact string }{
		{"the secrets file", ".sandstep/secrets.env"},
		{"sandstep's directory", ".sandstep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := s.as("alice", http.MethodPost, "/tasks", map[string]any{
				"sandbox":   map[string]any{"secretEnv": map[string]string{"TOKEN": "ssm:/sandstep/secrets/users/alice/artifact-canary"}},
				"command":   "true",
				"artifacts": []string{tc.artifact},
			})
			if res.status == http.StatusBadRequest {
				return // refused before anything was made: nothing stored
			}
			var tk taskJSON
			res.decode(t, &tk)
			if res.status != http.StatusAccepted || tk.ID == "" {
				t.Fatalf("POST /tasks = %d %s", res.status, res.body)
			}
			s.waitTask("alice", tk.ID, time.Minute)
			s.waitExecution(tk.ID, 30*time.Second)
			var arts struct {
				Items []struct {
					Path string `json:"path"`
					URL  string `json:"url"`
				} `json:"items"`
			}
			s.as("alice", http.MethodGet, "/tasks/"+tk.ID+"/artifacts", nil).decode(t, &arts)
			for _, a := range arts.Items {
				if a.URL == "" {
					continue
				}
				dl := do(t, http.MethodGet, a.URL, nil)
				if holdsValue(dl.body, canary) {
					t.Errorf("artifact %s, stored in the task bucket (%d bytes), holds the task's secret value", a.Path, len(dl.body))
				}
			}
			s.waitNothingLeft("alice")
		})
	}
}

// holdsValue says whether data, or any file of it as a .tar.gz, holds
// value.
func holdsValue(data []byte, value string) bool {
	if bytes.Contains(data, []byte(value)) {
		return true
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return false
	}
	tr := tar.NewReader(zr)
	for {
		if _, err := tr.Next(); err != nil {
			return false
		}
		body, _ := io.ReadAll(tr)
		if bytes.Contains(body, []byte(value)) {
			return true
		}
	}
}
