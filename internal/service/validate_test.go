package service

import (
	"context"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
)

func TestValidateCwd(t *testing.T) {
	tests := []struct {
		cwd string
		ok  bool
	}{
		{"", true},
		{".", true},
		{"src/app", true},
		{"a/../b", true},
		{"/tmp", true},
		{"..", false},
		{"../x", false},
		{"a/../../x", false},
		{"bad\x00dir", false},
		{strings.Repeat("d/", MaxPathBytes), false},
	}
	for _, tt := range tests {
		err := validateCwd(tt.cwd)
		if (err == nil) != tt.ok {
			t.Errorf("validateCwd(%q) = %v, want ok=%v", clip(tt.cwd), err, tt.ok)
		}
	}
}

func TestCommandLineQuotesEverything(t *testing.T) {
	line := commandLine(`echo "$HOME" 'x'`, "my dir", map[string]string{"B": "it's", "A": "$(rm -rf /)"}, "n0nce")
	for _, want := range []string{
		"cd -- './my dir' 2>/dev/null || { echo 'sandstep: cwd: no such directory in the sandbox [n0nce]' >&2; exit 126; }",
		"export A='$(rm -rf /)'",
		`export B='it'\''s'`,
		`/bin/sh -c 'echo "$HOME" '\''x'\'''`,
	} {
		if !strings.Contains(line, want) {
			t.Errorf("command line lacks %q:\n%s", want, line)
		}
	}
	if strings.Index(line, "export A") > strings.Index(line, "export B") {
		t.Error("env is not exported in a stable order")
	}
}

// An exec with nothing to set up runs the command alone under /bin/sh -c;
// a secrets file (or a record too old to say there is none), a cwd or env
// bring the wrapper back.
func TestExecLine(t *testing.T) {
	plain := &sandstep.Sandbox{NoSecretsFile: true}
	tests := []struct {
		name    string
		sb      *sandstep.Sandbox
		in      ExecInput
		wrapped bool
	}{
		{"nothing to set up", plain, ExecInput{Command: "echo 'hi'"}, false},
		{"secrets", &sandstep.Sandbox{}, ExecInput{Command: "echo hi"}, true},
		{"cwd", plain, ExecInput{Command: "echo hi", Cwd: "src"}, true},
		{"env", plain, ExecInput{Command: "echo hi", Env: map[string]string{"A": "1"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := execLine(tt.sb, tt.in, "n0nce")
			if wrapped := strings.Contains(line, secretsFile); wrapped != tt.wrapped {
				t.Errorf("execLine = %q, wrapped %v, want %v", line, wrapped, tt.wrapped)
			}
			if !tt.wrapped && line != "/bin/sh -c "+shellQuote(tt.in.Command) {
				t.Errorf("execLine = %q, want the command alone under /bin/sh -c", line)
			}
		})
	}
}

// Labels under sandstep. are the deployment's own (owner, id,
// deployment): a caller may set none of them, in any case.
func TestReservedLabelsInAnyCase(t *testing.T) {
	tests := []struct {
		key      string
		reserved bool
	}{
		{"sandstep.owner", true},
		{"SANDSTEP.owner", true},
		{"Sandstep.id", true},
		{"sAnDsTeP.deployment", true},
		{"sandstep.anything-new", true},
		{"sandstepx.a", false},
		{"my.sandstep.owner", false},
		{"team", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			err := validateLabels(&CreateSandboxInput{Labels: map[string]string{tt.key: "mallory"}})
			if !tt.reserved {
				if err != nil {
					t.Fatalf("validateLabels: %v", err)
				}
				return
			}
			if sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != "labels."+tt.key {
				t.Fatalf("err = %v, want invalid_input naming labels.%s", err, tt.key)
			}
		})
	}
	h := newHarness(t, 3)
	_, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{Labels: map[string]string{"SANDSTEP.owner": "bob"}})
	wantCode(t, err, sandstep.EINVALID)
	if h.provider.creates != 0 || h.active(t, "alice") != 0 {
		t.Fatalf("a reserved label reached the provider or the quota")
	}
}

// A path cannot be a file and a directory at once: "a" beside "a/b" is
// refused before anything is made, naming the later file and the earlier
// path, whichever order they come in (at Daytona it failed half-way, with
// the host's path in the message).
func TestFilesThatConflict(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		field string
		msg   []string // substrings
	}{
		{"file, then a file under it", []string{"a", "a/b"}, "files[1].path", []string{`"a/b"`, `files[0] ("a")`}},
		{"file under, then the file", []string{"a/b", "a"}, "files[1].path", []string{`"a"`, `files[0] ("a/b")`}},
		{"deeper", []string{"x", "y", "x/y/z"}, "files[2].path", []string{`"x/y/z"`, `files[0] ("x")`}},
		{"deeper, the other way", []string{"x/y/z", "q", "x/y"}, "files[2].path", []string{`"x/y"`, `files[0] ("x/y/z")`}},
		{"spelled differently", []string{"./d/e", "d"}, "files[1].path", []string{`files[0] ("d/e")`}},
		{"siblings are fine", []string{"a/b", "a/c", "ab", "a.b/c"}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 3)
			var files []File
			for _, p := range tt.paths {
				files = append(files, File{Path: p, ContentBase64: "eA=="})
			}
			_, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{Files: files})
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, sandstep.EINVALID)
			if f := sandstep.ErrorField(err); f != tt.field {
				t.Errorf("field = %q, want %q (%v)", f, tt.field, err)
			}
			for _, m := range tt.msg {
				if !strings.Contains(sandstep.ErrorMessage(err), m) {
					t.Errorf("message %q lacks %q", sandstep.ErrorMessage(err), m)
				}
			}
			if h.provider.creates != 0 || h.active(t, "alice") != 0 {
				t.Errorf("conflicting files reached the provider or the quota")
			}
			_, err = h.svc.AgentExecute(context.Background(), alice(), AgentExecuteInput{CreateSandboxInput: CreateSandboxInput{Files: files}, Command: "true"})
			if f := sandstep.ErrorField(err); f != tt.field {
				t.Errorf("agent execute: field = %q, want %q (%v)", f, tt.field, err)
			}
		})
	}
}

// Files are written before the clone, so a file in the directory git
// clones into (or one where that directory's parent must be) fails the
// clone with the sandbox made, in Daytona's words (the local one's hold
// the host's path). It is refused first, naming the file.
func TestFilesWhereGitClones(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		git   GitSource
		field string
		msg   string
	}{
		{"a file inside git.path", []string{"ok", "src/x"}, GitSource{URL: "https://example.com/r.git", Path: "src"}, "files[1].path", `"src/x" is inside "src"`},
		{"a file deep inside git.path", []string{"src/a/b"}, GitSource{URL: "https://example.com/r.git", Path: "./src/"}, "files[0].path", `"src/a/b" is inside "src"`},
		{"a file at git.path", []string{"src"}, GitSource{URL: "https://example.com/r.git", Path: "src"}, "files[0].path", `"src" is where git clones`},
		{"a file above git.path", []string{"src"}, GitSource{URL: "https://example.com/r.git", Path: "src/in"}, "files[0].path", `"src" is a file, but git clones into "src/in"`},
		{"a file inside git's own directory", []string{"r/README"}, GitSource{URL: "https://example.com/r.git"}, "files[0].path", `"r/README" is inside "r"`},
		{"beside git.path is fine", []string{"src2/x", "srcx", "a/src"}, GitSource{URL: "https://example.com/r.git", Path: "src"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 3)
			var files []File
			for _, p := range tt.paths {
				files = append(files, File{Path: p, ContentBase64: "eA=="})
			}
			git := tt.git
			in := CreateSandboxInput{Files: files, Git: &git}
			_, err := h.svc.CreateSandbox(context.Background(), alice(), in)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, sandstep.EINVALID)
			if f, m := sandstep.ErrorField(err), sandstep.ErrorMessage(err); f != tt.field || !strings.Contains(m, tt.msg) {
				t.Errorf("field %q message %q, want %q with %q", f, m, tt.field, tt.msg)
			}
			if h.provider.creates != 0 || h.active(t, "alice") != 0 {
				t.Errorf("the files reached the provider or the quota")
			}
			_, err = h.svc.AgentExecute(context.Background(), alice(), AgentExecuteInput{CreateSandboxInput: in, Command: "true"})
			if f := sandstep.ErrorField(err); f != tt.field {
				t.Errorf("agent execute: field = %q, want %q (%v)", f, tt.field, err)
			}
		})
	}
}

// A path component longer than a file system takes (255 bytes) failed the
// upload or the clone with the sandbox made, in the provider's words (the
// local one's hold the host's path). It is refused first, naming the field.
func TestLongPathComponents(t *testing.T) {
	long, max := strings.Repeat("a", 256), strings.Repeat("a", 255)
	files := func(p string) []File { return []File{{Path: p, ContentBase64: "eA=="}} }
	tests := []struct {
		name  string
		in    CreateSandboxInput
		field string
	}{
		{"a file name", CreateSandboxInput{Files: files(long)}, "files[0].path"},
		{"a directory name", CreateSandboxInput{Files: files("d/" + long + "/f")}, "files[0].path"},
		{"git.path", CreateSandboxInput{Git: &GitSource{URL: "https://example.com/r.git", Path: "src/" + long}}, "git.path"},
		{"the directory git would choose", CreateSandboxInput{Git: &GitSource{URL: "https://example.com/" + long + ".git"}}, "git.url"},
		{"255 bytes is fine", CreateSandboxInput{Files: files("d/" + max), Git: &GitSource{URL: "https://example.com/" + max + ".git", Path: max}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, 3)
			_, err := h.svc.CreateSandbox(context.Background(), alice(), tt.in)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, sandstep.EINVALID)
			if f, m := sandstep.ErrorField(err), sandstep.ErrorMessage(err); f != tt.field || !strings.Contains(m, "255") {
				t.Errorf("field %q message %q, want %q", f, m, tt.field)
			}
			if h.provider.creates != 0 || h.active(t, "alice") != 0 {
				t.Errorf("the request reached the provider or the quota")
			}
		})
	}
}

func TestIsID(t *testing.T) {
	good := "abcdefghijklmnopqrstuvwxyz"
	tests := []struct {
		name   string
		id     string
		prefix string
		want   bool
	}{
		{"a sandbox id", "sbx_" + good, "sbx_", true},
		{"digits 2 to 7", "sbx_234567" + good[:20], "sbx_", true},
		{"a task id", "tsk_" + good, "tsk_", true},
		{"another kind's prefix", "tsk_" + good, "sbx_", false},
		{"no prefix", good, "sbx_", false},
		{"empty", "", "sbx_", false},
		{"the prefix alone", "sbx_", "sbx_", false},
		{"one letter short", "sbx_" + good[1:], "sbx_", false},
		{"one letter long", "sbx_" + good + "a", "sbx_", false},
		{"upper case", "sbx_" + strings.ToUpper(good), "sbx_", false},
		{"digit 1", "sbx_1" + good[1:], "sbx_", false},
		{"digit 8", "sbx_" + good[1:] + "8", "sbx_", false},
		{"a multi-byte letter", "sbx_é" + good[2:], "sbx_", false},
		{"a separator", "sbx_" + good[:25] + "/", "sbx_", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isID(tt.id, tt.prefix); got != tt.want {
				t.Errorf("isID(%q, %q) = %v, want %v", tt.id, tt.prefix, got, tt.want)
			}
		})
	}
	for range 200 {
		if id := NewSandboxID(); !isID(id, "sbx_") {
			t.Fatalf("NewSandboxID() = %q, which isID refuses", id)
		}
		if id := NewTaskID(); !isID(id, "tsk_") {
			t.Fatalf("NewTaskID() = %q, which isID refuses", id)
		}
	}
}
