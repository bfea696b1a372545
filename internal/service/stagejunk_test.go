package service

import (
	"os"
	"path/filepath"
	"testing"
)

// The agent can write the push credential's path: whatever it leaves
// there (nothing, an empty file, junk, junk carrying the stage's own end
// line) the stage's verdict is still read, and the agent's commits become
// the pull request.
func TestStageReadsItsVerdictWhateverTheAgentLeftAtThePushCredential(t *testing.T) {
	tests := []struct {
		name string
		file *string // nil: no file
	}{
		{name: "no file"},
		{name: "an empty file", file: new("")},
		{name: "junk", file: new("password=\nnot a token at all\x00\xff")},
		{name: "junk carrying the end line", file: new("x\n" + tokenFileEnd + "\n" + nothingPushed + "\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newRepoHarness(t)
			git(t, h.clone, "commit", "-q", "--allow-empty", "-m", "fix")
			if tt.file != nil {
				path := filepath.Join(h.provider.dir, pushCredential)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(*tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got := h.exit(t, 0)
			if got.PullRequest == "" || len(h.access.pulls) != 1 {
				t.Errorf("task %s (%q), pull requests %q; want the agent's commits' one", got.Status, got.Error, h.access.pulls)
			}
		})
	}
}
