// Package repos reads the document that says which GitHub repositories'
// issues may start tasks, and the task each runs (GITHUB_CONFIG_REF). It
// is strict: an unknown field or a bad value is an error naming its path,
// at cold start.
package repos

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/strictjson"
)

// Document is the configuration's JSON.
type Document struct {
	// Installations lists the App installations whose deliveries are
	// acted on; empty: any.
	Installations []int64 `json:"installations,omitempty"`
	// Repositories maps "owner/repo" to its settings. Only those listed
	// run tasks.
	Repositories map[string]Repository `json:"repositories"`
}

// Repository is one repository's settings.
type Repository struct {
	// Task is what an issue starts: command, sandbox (snapshot, image,
	// resources, network), artifacts, timeoutSeconds, env. Its git source
	// is the repository itself.
	Task service.TaskInput `json:"task"`
	// Readers are the JWT subjects who may read the repository's tasks,
	// their logs and artifacts, and cancel them.
	Readers []string `json:"readers,omitempty"`
}

// Policy answers for the repositories of a Document.
type Policy struct {
	doc Document
	// names maps each repository's name in lower case to its name in the
	// document: GitHub's names are not case-sensitive.
	names map[string]string
	// any: every repository is allowed with Default (make local without
	// a document).
	any bool
	// none: no document; why every repository is refused.
	none string
}

// DefaultTask is what make local runs for every repository when no
// document is configured: it shows the issue the sandbox received. Its
// timeout is MAX_TASK_DURATION, which any setting of it allows.
var DefaultTask = service.TaskInput{Command: "cat " + service.IssueFile}

// AllowAll is the local stack's policy without a document.
func AllowAll() *Policy {
	return &Policy{doc: Document{Repositories: map[string]Repository{}}, any: true}
}

// None is the policy of a deployment whose document is not there: every
// repository is refused, saying why, so that a delivery is answered
// ignored rather than failed (GitHub would only be asked to send it again).
func None(why string) *Policy {
	return &Policy{doc: Document{Repositories: map[string]Repository{}}, none: why}
}

// Parse reads a document strictly (strictjson): names exactly as
// documented, values of their type, nothing after it.
func Parse(data []byte) (*Policy, error) {
	var doc Document
	if err := strictjson.Decode(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Repositories) == 0 {
		return nil, sandstep.Invalid("repositories", "must name at least one repository")
	}
	names := make(map[string]string, len(doc.Repositories))
	for _, name := range slices.Sorted(maps.Keys(doc.Repositories)) {
		owner, repo, ok := strings.Cut(name, "/")
		if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
			return nil, sandstep.Invalid("repositories."+name, "must be owner/repo")
		}
		if first, ok := names[strings.ToLower(name)]; ok {
			return nil, sandstep.Invalid("repositories."+name, "names %s again (GitHub's repository names are not case-sensitive)", first)
		}
		names[strings.ToLower(name)] = name
		r := doc.Repositories[name]
		if t := r.Task.TimeoutSeconds; t != nil && *t == 0 {
			// The maximum, as before POST /tasks refused 0: a deployed
			// document keeps its meaning across the upgrade.
			r.Task.TimeoutSeconds = nil
			doc.Repositories[name] = r
		}
		if strings.TrimSpace(r.Task.Command) == "" {
			return nil, sandstep.Invalid(fmt.Sprintf("repositories.%s.task.command", name), "is required")
		}
		for i, sub := range r.Readers {
			if err := sandstep.ValidateCallerID(fmt.Sprintf("repositories.%s.readers[%d]", name, i), sub); err != nil {
				return nil, err
			}
		}
	}
	return &Policy{doc: doc, names: names}, nil
}

// repository is repo's settings, its name matched in any case.
func (p *Policy) repository(repo string) (Repository, bool) {
	name, ok := p.names[strings.ToLower(repo)]
	return p.doc.Repositories[name], ok
}

// Task is repo's task for an issue of installation.
func (p *Policy) Task(_ context.Context, repo string, installation int64) (service.TaskInput, error) {
	if p.none != "" {
		return service.TaskInput{}, sandstep.Errorf(sandstep.ENOTFOUND, "%s", p.none)
	}
	if len(p.doc.Installations) > 0 && !slices.Contains(p.doc.Installations, installation) {
		return service.TaskInput{}, sandstep.Errorf(sandstep.ENOTFOUND, "installation %d is not allowed", installation)
	}
	r, ok := p.repository(repo)
	switch {
	case ok:
		return clone(r.Task), nil
	case p.any:
		return clone(DefaultTask), nil
	}
	return service.TaskInput{}, sandstep.Errorf(sandstep.ENOTFOUND, "repository %s is not allowed", sandstep.Clip(repo, 200))
}

// CheckTasks asks check about each repository's task, in name order; an
// invalid one's error names its field by its path in the document.
func (p *Policy) CheckTasks(check func(repo string, t service.TaskInput) error) error {
	if p.any {
		if err := check("local/any", clone(DefaultTask)); err != nil {
			return fmt.Errorf("the task run for every repository without a document (GITHUB_CONFIG_REF): %w", err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.doc.Repositories)) {
		err := check(name, clone(p.doc.Repositories[name].Task))
		if sandstep.ErrorCode(err) == sandstep.EINVALID {
			field := "repositories." + name + ".task"
			if f := sandstep.ErrorField(err); f != "" {
				field += "." + f
			}
			return sandstep.Invalid(field, "%s", sandstep.ErrorMessage(err))
		}
		if err != nil {
			return fmt.Errorf("repositories.%s.task: %w", name, err)
		}
	}
	return nil
}

// Readers are the JWT subjects who may read repo's tasks, their logs and
// artifacts, and cancel them; none for a repository not listed.
func (p *Policy) Readers(repo string) []string {
	r, _ := p.repository(repo)
	return slices.Clone(r.Readers)
}

// clone copies t, so what a caller adds to one issue's task (the issue's
// file) never reaches the next.
func clone(t service.TaskInput) service.TaskInput {
	b, err := json.Marshal(t)
	if err != nil {
		panic(fmt.Sprintf("repos: a task that decoded does not encode: %v", err))
	}
	var out service.TaskInput
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("repos: a task does not decode as it encoded: %v", err))
	}
	return out
}
