package local

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Over the whole stack: a secret alice keeps under her own path reaches
// her sandbox and never bob's; bob naming it is a 400 naming the field,
// logged as denied; a shared prefix serves both; ".." is refused.
func TestSecretsScopedByOwner(t *testing.T) {
	s := startStack(t, map[string]string{
		"SECRETS_SHARED_PREFIXES": "ssm:/sandstep/secrets/shared/",
		"LOG_FORMAT":              "json",
	})
	const (
		aliceValue  = "alice-canary-Vd82nq"
		sharedValue = "shared-canary-Tk47wz"
		aliceRef    = "ssm:/sandstep/secrets/users/alice/token"
		sharedRef   = "ssm:/sandstep/secrets/shared/npm"
	)
	client := ssm.NewFromConfig(aws.Config{Region: DefaultRegion, Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")},
		func(o *ssm.Options) { o.BaseEndpoint = aws.String(s.AWSURL) })
	for name, value := range map[string]string{"/sandstep/secrets/users/alice/token": aliceValue, "/sandstep/secrets/shared/npm": sharedValue} {
		if _, err := client.PutParameter(context.Background(), &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value),
			Type: ssmtypes.ParameterTypeSecureString}); err != nil {
			t.Fatal(err)
		}
	}
	// The check names the values by their hashes: a command string
	// holding a value would itself be the leak the walk below looks for.
	sum := func(env, value string) string {
		h := sha256.Sum256([]byte(value))
		return `[ "$(printf %s "$` + env + `" | sha256sum | cut -d' ' -f1)" = ` + hex.EncodeToString(h[:]) + ` ]`
	}
	check := sum("TOKEN", aliceValue) + ` && echo alice-ok; ` + sum("NPM", sharedValue) + ` && echo shared-ok; true`

	// Bob, every way he might name alice's secret.
	refused := []struct {
		name, path, field string
		body              map[string]any
		says              string // in the message, when set
	}{
		{"secretEnv", "/sandboxes", "secretEnv.TOKEN", map[string]any{"secretEnv": map[string]string{"TOKEN": aliceRef}}, "not among the secrets you may name"},
		{"git token", "/sandboxes", "git.tokenSecret", map[string]any{"git": map[string]string{"url": "file:///nonexistent.git", "tokenSecret": aliceRef}}, "not among the secrets you may name"},
		{"agent execute", "/api/agent/execute", "secretEnv.TOKEN", map[string]any{"secretEnv": map[string]string{"TOKEN": aliceRef}, "command": check}, "not among the secrets you may name"},
		{"task", "/tasks", "sandbox.secretEnv.TOKEN", map[string]any{"sandbox": map[string]any{"secretEnv": map[string]string{"TOKEN": aliceRef}}, "command": check}, "not among the secrets you may name"},
		{"dot-dot out of his own tree", "/sandboxes", "secretEnv.TOKEN",
			map[string]any{"secretEnv": map[string]string{"TOKEN": "ssm:/sandstep/secrets/users/bob/../alice/token"}}, `".." path segment`},
		{"dot-dot out of the prefix", "/sandboxes", "secretEnv.TOKEN",
			map[string]any{"secretEnv": map[string]string{"TOKEN": "ssm:/sandstep/secrets/../secrets/users/alice/token"}}, `".." path segment`},
	}
	for _, tc := range refused {
		t.Run("bob/"+tc.name, func(t *testing.T) {
			res := s.as("bob", http.MethodPost, tc.path, tc.body)
			var e struct {
				Error struct{ Code, Field, Message string }
			}
			res.decode(t, &e)
			if res.status != http.StatusBadRequest || e.Error.Code != "invalid_input" || e.Error.Field != tc.field {
				t.Fatalf("%d %s, want 400 invalid_input naming %s", res.status, res.body, tc.field)
			}
			if !strings.Contains(e.Error.Message, tc.says) {
				t.Errorf("message %q does not say %s", e.Error.Message, tc.says)
			}
			if bytes.Contains(res.body, []byte(aliceValue)) {
				t.Fatalf("the answer holds alice's secret: %s", res.body)
			}
		})
	}
	if n := s.daytonaSandboxes(); n != 0 {
		t.Fatalf("bob's refused requests made %d sandboxes", n)
	}
	// Each scope refusal was logged once, as bob, naming alice's reference
	// (the ".." ones never parse as references: they are not denials).
	if got := deniedTargets(t, s.logs.String(), "bob"); len(got) != 4 || strings.Count(strings.Join(got, " "), aliceRef) != 4 {
		t.Errorf("bob's denied lines name %v, want alice's reference four times", got)
	}

	// The shared secret serves both; alice's own only alice.
	bobs := s.create("bob", map[string]any{"secretEnv": map[string]string{"NPM": sharedRef}})
	if out := s.run("bob", bobs.ID, check); out != "shared-ok\n" {
		t.Errorf("bob's sandbox: %q, want only the shared secret", out)
	}
	s.noValueOnDisk(aliceValue)
	alices := s.create("alice", map[string]any{"secretEnv": map[string]string{"TOKEN": aliceRef, "NPM": sharedRef}})
	if out := s.run("alice", alices.ID, check); out != "alice-ok\nshared-ok\n" {
		t.Errorf("alice's sandbox: %q, want both secrets", out)
	}
	if strings.Contains(s.logs.String(), aliceValue) || strings.Contains(s.logs.String(), sharedValue) {
		t.Error("a secret value reached the stack's log")
	}
}

// run runs command in the user's sandbox and returns its stdout.
func (s *testStack) run(user, id, command string) string {
	s.t.Helper()
	res := s.as(user, http.MethodPost, "/sandboxes/"+id+"/exec", map[string]any{"command": command})
	var out struct {
		Stdout string `json:"stdout"`
	}
	res.decode(s.t, &out)
	if res.status != http.StatusOK {
		s.t.Fatalf("exec as %s: %d %s", user, res.status, res.body)
	}
	return out.Stdout
}

// noValueOnDisk checks that value is in no file the stack keeps (its
// sandboxes included) but the parameter store's.
func (s *testStack) noValueOnDisk(value string) {
	s.t.Helper()
	_ = filepath.WalkDir(s.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(path) == "ssm.json" {
			return nil
		}
		if data, _ := os.ReadFile(path); bytes.Contains(data, []byte(value)) {
			s.t.Errorf("%s holds the secret", path)
		}
		return nil
	})
}

// deniedTargets returns the targets of the secret_scope denied lines of
// user among the JSON lines of logs.
func deniedTargets(t *testing.T, logs, user string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec["message"] != "denied" {
			continue // the stack's own lines are text
		}
		if rec["level"] != "WARN" || rec["reason"] != "secret_scope" || rec["userId"] != user || rec["field"] == nil {
			t.Errorf("denied line %s: want WARN, secret_scope, %s and the field", sc.Text(), user)
		}
		target, _ := rec["target"].(string)
		out = append(out, target)
	}
	return out
}
