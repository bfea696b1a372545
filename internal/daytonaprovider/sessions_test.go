package daytonaprovider

import (
	"context"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// The asynchronous path of a task against the local Daytona server: start,
// watch, keep alive, read files, stop.
func TestSessions(t *testing.T) {
	ctx := context.Background()
	p, _ := newProvider(t, Options{})
	id := create(t, p, "task-sb")
	if err := p.Upload(ctx, id, []service.UploadFile{{Path: "out.txt", Content: []byte("0123456789")}}); err != nil {
		t.Fatal(err)
	}

	if err := p.KeepFor(ctx, id, 90*time.Minute); err != nil {
		t.Fatalf("KeepFor: %v", err)
	}
	sb, err := p.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if sb.State != "started" {
		t.Errorf("state after KeepFor %q", sb.State)
	}

	cmd, err := p.StartCommand(ctx, id, "task-1", "sleep 0.3; exit 3")
	if err != nil || cmd == "" {
		t.Fatalf("StartCommand: %q, %v", cmd, err)
	}
	if code, err := p.CommandExit(ctx, id, "task-1", cmd); err != nil || code != nil {
		t.Fatalf("CommandExit while it runs: %v, %v; want nil, nil", code, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var code *int
	for code == nil && time.Now().Before(deadline) {
		if code, err = p.CommandExit(ctx, id, "task-1", cmd); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code == nil || *code != 3 {
		t.Fatalf("exit code %v, want 3", code)
	}
	// A second start in the same session (a retried step) works.
	if _, err := p.StartCommand(ctx, id, "task-1", "sleep 30"); err != nil {
		t.Fatalf("StartCommand again: %v", err)
	}
	if err := p.StopCommand(ctx, id, "task-1"); err != nil {
		t.Fatalf("StopCommand: %v", err)
	}
	if err := p.StopCommand(ctx, id, "task-1"); err != nil {
		t.Fatalf("StopCommand again: %v", err)
	}

	downloads := []struct {
		name string
		path string
		max  int64
		want string
		code sandstep.Code
	}{
		{"whole", "out.txt", 100, "0123456789", ""},
		{"exactly the cap", "out.txt", 10, "0123456789", ""},
		{"over the cap", "out.txt", 9, "", sandstep.EINVALID},
		{"missing", "nope.txt", 100, "", sandstep.ENOTFOUND},
	}
	for _, tt := range downloads {
		t.Run(tt.name, func(t *testing.T) {
			b, err := p.Download(ctx, id, tt.path, tt.max)
			if sandstep.ErrorCode(err) != tt.code || string(b) != tt.want {
				t.Errorf("Download = %q, %v; want %q, code %q", b, err, tt.want, tt.code)
			}
		})
	}

	// A sandbox stopped under a running command is reported, not waited on.
	long, err := p.StartCommand(ctx, id, "task-2", "sleep 30")
	if err != nil {
		t.Fatal(err)
	}
	stop(t, p, id)
	if _, err := p.CommandExit(ctx, id, "task-2", long); sandstep.ErrorCode(err) != sandstep.ECONFLICT {
		t.Errorf("CommandExit in a stopped sandbox: %v, want conflict", err)
	}
	// Nothing runs in a stopped sandbox: stopping its command is done.
	if err := p.StopCommand(ctx, id, "task-2"); err != nil {
		t.Errorf("StopCommand in a stopped sandbox: %v", err)
	}

	if err := p.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := p.CommandExit(ctx, id, "task-1", cmd); sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
		t.Errorf("CommandExit of a deleted sandbox: %v, want not found", err)
	}
	if err := p.KeepFor(ctx, id, time.Hour); sandstep.ErrorCode(err) != sandstep.ENOTFOUND {
		t.Errorf("KeepFor of a deleted sandbox: %v, want not found", err)
	}
}
