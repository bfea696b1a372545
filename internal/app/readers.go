package app

import (
	"context"
	"errors"

	"github.com/sandstep/sandstep/internal/service"
)

// repoReaders answers who may read a repository's tasks from the
// repositories document, read on first use: a function that serves task
// reads (status, delete) keeps serving its owners and the state machine
// even when the document cannot be read; meanwhile a reader is answered
// as anyone else (service.mayRead).
type repoReaders struct{ e *Env }

func (r repoReaders) Readers(ctx context.Context, repo string) ([]string, error) {
	p, err := r.e.Repositories(ctx)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errors.New("GITHUB_CONFIG_REF: no repositories document")
	}
	return p.Readers(repo), nil
}

// readerDeps lets the repositories document's readers read and cancel
// repositories' tasks where the function is told of the document
// (GITHUB_CONFIG_REF: the template gives it to those serving task reads
// and cancels); without one no repository has readers.
func (e *Env) readerDeps(deps *service.Deps) {
	if !e.Config.GitHubConfigRef.IsZero() {
		deps.Readers = repoReaders{e}
	}
}
