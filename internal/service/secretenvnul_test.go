package service

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// A secretEnv value that holds a NUL byte (a Secrets Manager binary
// secret, or a "#key" member "\u0000" of a JSON secret) cannot be an
// environment value. env refuses the same value with a 400 naming the
// field ("value contains a NUL byte"); written into .sandstep/secrets.env,
// /bin/sh would drop the NUL when the wrapper sources the file, and every
// command would get another value, silently (a password "ab\x00cd" becomes
// "abcd"). The create is refused before anything is made, naming the
// field and quoting no value.
func TestSecretEnvNULValueRefused(t *testing.T) {
	const ref = "ssm:/sandstep/secrets/users/alice/token"
	const value = "s3cr3t\x00tail"
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 3})
	p := newFakeProvider()
	svc := newService(t, p, st, fakeSecrets{ref: value}, Options{})
	sb, err := svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{SecretEnv: map[string]string{"TOKEN": ref}})
	var se *sandstep.Error
	if errors.As(err, &se) && se.Code == sandstep.EINVALID && se.Field == "secretEnv.TOKEN" {
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("the refusal quotes the value: %v", err)
		}
		if len(p.specs) != 0 {
			t.Errorf("%d sandboxes made for a refused create", len(p.specs))
		}
		if q, err := st.GetQuota(context.Background(), "alice"); err != nil || q.Active != 0 {
			t.Errorf("quota after a refused create: %+v, %v", q, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("create = %v, want EINVALID naming secretEnv.TOKEN", err)
	}
	// Accepted: show what a command in the sandbox gets.
	content := p.sandboxes[sb.ID].files[secretsFile]
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, ReservedDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, secretsFile), content, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", commandLine(`printf %s "$TOKEN"`, "", nil, ""))
	cmd.Dir = root
	got, _ := cmd.Output()
	t.Errorf("create accepted a secretEnv value with a NUL byte (secrets file %q); commands see TOKEN=%q, not the stored %q",
		content, got, value)
}
