package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// A task's secret reaches its command and nothing else: not the
// execution's history, the table, the objects, the logs, the data
// directory, nor the command strings Daytona keeps.
func TestTaskSecretsNeverLeak(t *testing.T) {
	s := startStack(t, nil)
	ctx := context.Background()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	canary := "canary-" + hex.EncodeToString(b)
	cfg := aws.Config{Region: DefaultRegion, Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
	client := ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = aws.String(s.AWSURL) })
	if _, err := client.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/sandstep/secrets/users/alice/canary"), Value: aws.String(canary),
		Type: ssmtypes.ParameterTypeSecureString}); err != nil {
		t.Fatal(err)
	}

	tk := s.startTask("alice", map[string]any{
		"sandbox": map[string]any{"secretEnv": map[string]string{"TOKEN": "ssm:/sandstep/secrets/users/alice/canary"}},
		"command": fmt.Sprintf(`sleep 1; test "${#TOKEN}" -eq %d && echo has-the-token`, len(canary)),
	})
	// The command strings the Daytona server keeps, while the command runs.
	running := s.waitRunning("alice", tk.ID)
	var sb struct {
		DaytonaID string `json:"daytonaId"`
	}
	s.as("alice", http.MethodGet, "/sandboxes/"+running.SandboxID, nil).decode(t, &sb)
	sessions := do(t, http.MethodGet, strings.TrimSuffix(s.DaytonaURL, "/api")+"/toolbox/"+sb.DaytonaID+"/process/session", nil,
		"Authorization: Bearer "+LocalDaytonaKey)
	if sessions.status != http.StatusOK || !bytes.Contains(sessions.body, []byte("sandstep/task")) {
		t.Fatalf("the Daytona server's sessions: %d %s", sessions.status, sessions.body)
	}

	done := s.waitTask("alice", tk.ID, time.Minute)
	s.waitExecution(tk.ID, 30*time.Second)
	stdout, _, _ := s.readLogs("alice", tk.ID)
	if done.Status != "succeeded" || stdout != "has-the-token\n" {
		t.Fatalf("task %s, stdout %q: the command did not get its secret", done.Status, stdout)
	}

	var places []string
	check := func(where string, data []byte) {
		if bytes.Contains(data, []byte(canary)) {
			places = append(places, where)
		}
	}
	// The execution's history, as the API gives it.
	for _, e := range s.historyRaw(tk.ID) {
		check("execution history", e)
	}
	// Every item of the table.
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(s.DynamoDBURL) })
	items, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(s.Config.TableName)})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(items.Items)
	check("the table", raw)
	check("Daytona's command strings", sessions.body)
	// The logs, and every file the stack keeps but the parameter store's.
	check("the logs", []byte(s.logs.String()))
	_ = filepath.WalkDir(s.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(path) == "ssm.json" {
			return nil
		}
		data, _ := os.ReadFile(path)
		rel, _ := filepath.Rel(s.DataDir, path)
		check("data file "+rel, data)
		return nil
	})
	if len(places) > 0 {
		t.Errorf("the secret was found in: %s", strings.Join(places, ", "))
	}
	s.assertNothingLeft("alice")
}

// historyRaw returns the task's execution history events as JSON.
func (s *testStack) historyRaw(id string) []json.RawMessage {
	s.t.Helper()
	var page struct {
		Events []json.RawMessage `json:"events"`
	}
	s.sfn("GetExecutionHistory", map[string]any{"executionArn": s.executionARN(id), "maxResults": 1000}, &page)
	return page.Events
}
