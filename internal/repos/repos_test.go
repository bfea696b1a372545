package repos

import (
	"context"
	"slices"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, doc, field string
		ok               bool
	}{
		{"one repository", `{"repositories": {"octo/hello": {"task": {"command": "./agent.sh"}, "readers": ["alice"]}}}`, "", true},
		{"an unknown field", `{"repositories": {"octo/hello": {"task": {"command": "x", "comand": "y"}}}}`, "repositories.octo/hello.task.comand", false},
		{"an unknown field in a task's sandbox", `{"repositories": {"octo/hello": {"task": {"command": "x", "sandbox": {"imagee": "y"}}}}}`,
			"repositories.octo/hello.task.sandbox.imagee", false},
		{"an unknown field of a repository", `{"repositories": {"octo/hello": {"task": {"command": "x"}, "reader": ["alice"]}}}`, "repositories.octo/hello.reader", false},
		{"an unknown field in a list", `{"repositories": {"octo/hello": {"task": {"command": "x", "sandbox": {"files": [{"path": "a", "mode": 1}]}}}}}`,
			"repositories.octo/hello.task.sandbox.files[0].mode", false},
		{"a field in another case", `{"repositories": {"octo/hello": {"task": {"Command": "x"}}}}`, "repositories.octo/hello.task.Command", false},
		{"a repository named twice", `{"repositories": {"o/r": {"task": {"command": "x"}}, "o/r": {"task": {"command": "y"}}}}`, "repositories.o/r", false},
		{"a value of another type", `{"repositories": {"o/r": {"task": {"command": "x", "timeoutSeconds": "60"}}}}`, "repositories.o/r.task.timeoutSeconds", false},
		{"a second document after it", `{"repositories": {"o/r": {"task": {"command": "x"}}}} {"repositories": {"evil/repo": {"task": {"command": "y"}}}}`, "", false},
		{"a stray bracket after it", `{"repositories": {"o/r": {"task": {"command": "x"}}}} ]`, "", false},
		{"no repository", `{"repositories": {}}`, "repositories", false},
		{"not owner/repo", `{"repositories": {"hello": {"task": {"command": "x"}}}}`, "repositories.hello", false},
		{"no command", `{"repositories": {"o/r": {"task": {}}}}`, "repositories.o/r.task.command", false},
		{"a repository as a reader", `{"repositories": {"o/r": {"task": {"command": "x"}, "readers": ["github:o/r"]}}}`, "repositories.o/r.readers[0]", false},
		{"a repository named twice in two cases", `{"repositories": {"octo/hello": {"task": {"command": "x"}}, "Octo/Hello": {"task": {"command": "y"}}}}`,
			"repositories.octo/hello", false},
		{"not JSON", `{`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if (err == nil) != tt.ok {
				t.Fatalf("Parse = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && sandstep.ErrorCode(err) != sandstep.EINVALID {
				t.Errorf("code %s, want invalid_input", sandstep.ErrorCode(err))
			}
			if tt.field != "" && sandstep.ErrorField(err) != tt.field {
				t.Errorf("field %q, want %q", sandstep.ErrorField(err), tt.field)
			}
		})
	}
}

func TestTask(t *testing.T) {
	p, err := Parse([]byte(`{"installations": [7], "repositories": {"octo/hello": {"task": {"command": "./agent.sh",
		"sandbox": {"files": [{"path": "a", "contentBase64": "YQ=="}]}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	task, err := p.Task(context.Background(), "octo/hello", 7)
	if err != nil || task.Command != "./agent.sh" {
		t.Fatalf("Task = %+v, %v", task, err)
	}
	task.Sandbox.Files = append(task.Sandbox.Files, service.File{Path: "issue"})
	task.Sandbox.Files[0].Path = "changed"
	if again, _ := p.Task(context.Background(), "octo/hello", 7); len(again.Sandbox.Files) != 1 || again.Sandbox.Files[0].Path != "a" {
		t.Errorf("a change to one task reached the next: %+v", again.Sandbox.Files)
	}
	if task, err := p.Task(context.Background(), "Octo/HELLO", 7); err != nil || task.Command != "./agent.sh" {
		t.Errorf("Task in another case = %+v, %v; GitHub's names are not case-sensitive", task, err)
	}
	for _, tc := range []struct {
		repo string
		inst int64
	}{{"octo/other", 7}, {"octo/hello", 8}} {
		if _, err := p.Task(context.Background(), tc.repo, tc.inst); sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
			t.Errorf("Task(%s, %d) = %v, want not_found", tc.repo, tc.inst, err)
		}
	}
	if task, err := AllowAll().Task(context.Background(), "anyone/any", 1); err != nil || task.Command != DefaultTask.Command {
		t.Errorf("AllowAll = %+v, %v", task, err)
	}
	if _, err := None("no document").Task(context.Background(), "octo/hello", 7); sandstep.ErrorCode(err) != sandstep.ENOTFOUND || sandstep.ErrorMessage(err) != "no document" {
		t.Errorf("None = %v, want not_found saying why", err)
	}
}

func TestReaders(t *testing.T) {
	p, err := Parse([]byte(`{"repositories": {"octo/hello": {"task": {"command": "x"}, "readers": ["alice", "bob"]},
		"octo/quiet": {"task": {"command": "x"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, repo string
		policy     *Policy
		want       []string
	}{
		{"listed with readers", "octo/hello", p, []string{"alice", "bob"}},
		{"listed without readers", "octo/quiet", p, nil},
		{"not listed", "octo/other", p, nil},
		{"listed, named in another case", "Octo/Hello", p, []string{"alice", "bob"}},
		{"every repository allowed locally, none read", "octo/hello", AllowAll(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Readers(tt.repo); !slices.Equal(got, tt.want) {
				t.Errorf("Readers(%q) = %v, want %v", tt.repo, got, tt.want)
			}
		})
	}
	p.Readers("octo/hello")[0] = "mallory"
	if got := p.Readers("octo/hello"); got[0] != "alice" {
		t.Errorf("a change to one answer reached the policy: %v", got)
	}
}

// CheckTasks names an invalid task's field by its path in the document,
// and hands each check a copy.
func TestCheckTasks(t *testing.T) {
	p, err := Parse([]byte(`{"repositories": {"octo/a": {"task": {"command": "./a.sh"}}, "octo/b": {"task": {"command": "./b.sh", "artifacts": ["out"]}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		refuse    error // what the check answers for octo/b
		wantField string
		wantMsg   string
	}{
		{name: "all valid"},
		{name: "a field refused", refuse: sandstep.Invalid("sandbox.resources", "can only be set together with image"),
			wantField: "repositories.octo/b.task.sandbox.resources", wantMsg: "can only be set together with image"},
		{name: "the task refused", refuse: sandstep.Invalid("", "is not a task"), wantField: "repositories.octo/b.task", wantMsg: "is not a task"},
		{name: "another error", refuse: sandstep.Errorf(sandstep.EINTERNAL, "broken"), wantMsg: "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen []string
			err := p.CheckTasks(func(repo string, task service.TaskInput) error {
				seen = append(seen, repo)
				task.Artifacts = append(task.Artifacts[:0], "changed")
				if repo == "octo/b" {
					return tt.refuse
				}
				return nil
			})
			if (err != nil) != (tt.refuse != nil) || sandstep.ErrorField(err) != tt.wantField || tt.wantMsg != "" && sandstep.ErrorMessage(err) != tt.wantMsg {
				t.Errorf("CheckTasks = %v, want field %q, message %q", err, tt.wantField, tt.wantMsg)
			}
			if !slices.Equal(seen, []string{"octo/a", "octo/b"}) {
				t.Errorf("checked %v, want both, in name order", seen)
			}
			if got, _ := p.Task(context.Background(), "octo/b", 1); !slices.Equal(got.Artifacts, []string{"out"}) {
				t.Errorf("the check changed the policy's task: %v", got.Artifacts)
			}
		})
	}
}

// The local stack's task for every repository, without a document, is
// checked too; a policy of none has no task to check.
func TestCheckTasksWithoutADocument(t *testing.T) {
	refuse := func(string, service.TaskInput) error { return sandstep.Invalid("timeoutSeconds", "must be at most 60") }
	if err := AllowAll().CheckTasks(refuse); sandstep.ErrorField(err) != "timeoutSeconds" {
		t.Errorf("AllowAll().CheckTasks = %v, want the default task refused", err)
	}
	if err := None("no document").CheckTasks(refuse); err != nil {
		t.Errorf("None().CheckTasks = %v, want nothing checked", err)
	}
}

// A document's timeoutSeconds of 0 was the maximum before POST /tasks
// refused 0; a deployed document keeps that meaning, so an upgrade does
// not fail the cold start of every function that reads it.
func TestDocumentTimeoutZeroIsTheMaximum(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want *int
	}{
		{"zero", `{"repositories": {"o/r": {"task": {"command": "x", "timeoutSeconds": 0}}}}`, nil},
		{"left out", `{"repositories": {"o/r": {"task": {"command": "x"}}}}`, nil},
		{"a minute", `{"repositories": {"o/r": {"task": {"command": "x", "timeoutSeconds": 60}}}}`, new(60)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			task, err := p.Task(context.Background(), "o/r", 1)
			if err != nil {
				t.Fatal(err)
			}
			if (task.TimeoutSeconds == nil) != (tt.want == nil) || tt.want != nil && *task.TimeoutSeconds != *tt.want {
				t.Errorf("timeoutSeconds = %v, want %v", task.TimeoutSeconds, tt.want)
			}
		})
	}
}
