package service

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// stderrProvider is shellProvider keeping the last command's stderr.
type stderrProvider struct {
	*shellProvider
	mu   sync.Mutex
	last string
}

func (p *stderrProvider) Exec(ctx context.Context, id string, cmd Command) (*ExecResult, error) {
	res, err := p.shellProvider.Exec(ctx, id, cmd)
	if err == nil {
		p.mu.Lock()
		p.last = res.Stderr
		p.mu.Unlock()
	}
	return res, err
}

func (p *stderrProvider) lastStderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// A cwd that is not a directory in the sandbox is the caller's input at
// fault: 400 naming cwd, found by the command's own wrapper in the one
// call to the provider, never confused with a command's exit code 126
// or with text a command prints.
func TestMissingCwdIsInvalidInput(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 3})
	p := &stderrProvider{shellProvider: &shellProvider{fakeProvider: newFakeProvider(), dir: dir}}
	svc := newService(t, p, st, fakeSecrets{}, Options{})
	ctx := context.Background()
	sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}

	// The wrapper's own line, as a command could have seen it before.
	_, err = svc.Exec(ctx, alice(), sb.ID, ExecInput{Command: "true", Cwd: "nope"})
	wantCode(t, err, sandstep.EINVALID)
	earlier := strings.TrimSpace(p.lastStderr())
	if earlier == "" {
		t.Fatal("the wrapper wrote nothing to stderr")
	}

	tests := []struct {
		name     string
		in       ExecInput
		invalid  bool
		exitCode int
	}{
		{"missing directory", ExecInput{Command: "true", Cwd: "nope"}, true, 0},
		{"missing absolute directory", ExecInput{Command: "true", Cwd: "/nonexistent/sandstep"}, true, 0},
		{"a file, not a directory", ExecInput{Command: "true", Cwd: "file"}, true, 0},
		{"a missing cwd wins over the command", ExecInput{Command: "exit 0", Cwd: "nope/deeper"}, true, 0},
		{"the directory exists", ExecInput{Command: "pwd", Cwd: "src"}, false, 0},
		{"a command that exits 126 itself", ExecInput{Command: "exit 126", Cwd: "src"}, false, 126},
		{"a command that exits 126 without cwd", ExecInput{Command: "exit 126"}, false, 126},
		{"a command that prints the wrapper's words", ExecInput{Command: "echo 'sandstep: cwd: no such directory in the sandbox' >&2; exit 126", Cwd: "src"}, false, 126},
		{"a command that replays an earlier call's line", ExecInput{Command: "echo " + shellQuote(earlier) + " >&2; exit 126", Cwd: "src"}, false, 126},
		{"a command that cds to a missing directory itself", ExecInput{Command: "cd nope", Cwd: "src"}, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := p.execCount()
			res, err := svc.Exec(ctx, alice(), sb.ID, tt.in)
			if n := p.execCount() - before; n != 1 {
				t.Errorf("%d calls to the provider, want 1", n)
			}
			if tt.invalid {
				wantCode(t, err, sandstep.EINVALID)
				if f, m := sandstep.ErrorField(err), sandstep.ErrorMessage(err); f != "cwd" || !strings.Contains(m, "does not exist in the sandbox") || !strings.Contains(m, tt.in.Cwd) {
					t.Errorf("field %q message %q", f, m)
				}
				return
			}
			if err != nil {
				t.Fatalf("Exec: %v", err)
			}
			if res.ExitCode != tt.exitCode {
				t.Errorf("exit code %d, want %d (stderr %q)", res.ExitCode, tt.exitCode, res.Stderr)
			}
		})
	}

	// agent-execute runs the same wrapper: its sandbox is deleted and the
	// answer is the 400.
	_, err = svc.AgentExecute(ctx, alice(), AgentExecuteInput{Command: "true", Cwd: "nope"})
	wantCode(t, err, sandstep.EINVALID)
	if f := sandstep.ErrorField(err); f != "cwd" {
		t.Errorf("agent execute: field %q (%v)", f, err)
	}
	if live := p.live(); len(live) != 1 {
		t.Errorf("live sandboxes %v, want only the first", live)
	}
}

// A CDPATH in the sandbox's environment (its create-time env, or its
// image's) must not move a relative cwd elsewhere, nor make cd print the
// directory into the command's stdout: cwd is relative to the working
// directory only.
func TestCwdIgnoresCDPATH(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	for _, d := range []string{filepath.Join(dir, "src"), filepath.Join(other, "src"), filepath.Join(other, "elsewhere")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("CDPATH", other)
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 3})
	p := &shellProvider{fakeProvider: newFakeProvider(), dir: dir}
	svc := newService(t, p, st, fakeSecrets{}, Options{})
	ctx := context.Background()
	sb, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cwd, stdout string
	}{
		{"a directory found only through CDPATH", "elsewhere", ""},
		{"a directory in both", "src", filepath.Join(dir, "src") + "\n"},
		{"spelled with ./", "./src", filepath.Join(dir, "src") + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := svc.Exec(ctx, alice(), sb.ID, ExecInput{Command: "pwd -P", Cwd: tt.cwd})
			if tt.stdout == "" {
				wantCode(t, err, sandstep.EINVALID)
				if f := sandstep.ErrorField(err); f != "cwd" {
					t.Errorf("field %q (%v)", f, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := filepath.EvalSymlinks(strings.TrimSpace(tt.stdout)); res.Stdout != want+"\n" {
				t.Errorf("stdout %q, want %q", res.Stdout, want+"\n")
			}
		})
	}
}
