package app

import (
	"context"
	"slices"
	"testing"

	"github.com/sandstep/sandstep/internal/repos"
	"github.com/sandstep/sandstep/internal/secrets"
	"github.com/sandstep/sandstep/internal/service"
)

func TestReaderDeps(t *testing.T) {
	policy, err := repos.Parse([]byte(`{"repositories": {"octo/hello": {"task": {"command": "x"}, "readers": ["alice"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := secrets.ParseRef("GITHUB_CONFIG_REF", "ssm:/sandstep/github/config")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		ref    secrets.Ref
		policy *repos.Policy
		want   []string
		fails  bool
	}{
		{"no document: no readers", secrets.Ref{}, nil, nil, false},
		{"the document's readers", ref, policy, []string{"alice"}, false},
		{"a document that is not there", ref, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Env{built: map[string]any{"repositories": tt.policy}}
			e.Config.GitHubConfigRef = tt.ref
			var deps service.Deps
			e.readerDeps(&deps)
			if tt.ref.IsZero() {
				if deps.Readers != nil {
					t.Error("readers without a document")
				}
				return
			}
			got, err := deps.Readers.Readers(context.Background(), "octo/hello")
			if (err != nil) != tt.fails || !slices.Equal(got, tt.want) {
				t.Errorf("Readers = %v, %v; want %v, failing %v", got, err, tt.want, tt.fails)
			}
		})
	}
}
