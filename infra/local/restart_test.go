package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/dynamo"
)

// startOn starts a stack on dataDir, closed when the test ends if the test
// has not closed it.
func startOn(t *testing.T, dataDir string) *testStack {
	t.Helper()
	logs := &logBuffer{}
	needRunner(t)
	s, err := Start(context.Background(), Options{Getenv: envMap(nil), LogWriter: logs, TemplatePath: templatePath, DataDir: dataDir})
	if err != nil {
		t.Fatalf("Start: %v\nlog:\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		_ = s.Close()
		if t.Failed() {
			t.Logf("stack log:\n%s", logs.String())
		}
	})
	return &testStack{Stack: s, t: t, logs: logs, root: dataDir}
}

func s3Client(endpoint string) *s3.Client {
	cfg := aws.Config{Region: DefaultRegion, Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
}

// Ctrl-C and start again: sandboxes, quotas, idempotency records and
// objects are still there.
func TestRestartKeepsTheState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first := startOn(t, dir)
	body := map[string]any{"labels": map[string]string{"run": "first"}}
	res := first.as("alice", http.MethodPost, "/sandboxes", body, "Idempotency-Key: restart-1")
	if res.status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	var deleted sandboxJSON
	res.decode(t, &deleted)
	if res := first.as("alice", http.MethodDelete, "/sandboxes/"+deleted.ID, nil); res.status != http.StatusOK {
		t.Fatalf("delete: %d %s", res.status, res.body)
	}
	kept := first.create("alice", map[string]any{"files": []map[string]string{{"path": "notes.txt", "contentBase64": b64("kept\n")}}})
	if _, err := s3Client(first.AWSURL).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("restart-bucket")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3Client(first.AWSURL).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("restart-bucket"), Key: aws.String("k"), Body: strings.NewReader("object")}); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second := startOn(t, dir)
	var got sandboxJSON
	second.as("alice", http.MethodGet, "/sandboxes/"+deleted.ID, nil).decode(t, &got)
	if got.State != "deleted" {
		t.Errorf("the deleted sandbox after the restart: %+v", got)
	}
	// The idempotency record: the same request is answered as before.
	res = second.as("alice", http.MethodPost, "/sandboxes", body, "Idempotency-Key: restart-1")
	var replay sandboxJSON
	res.decode(t, &replay)
	if res.status != http.StatusCreated || replay.ID != deleted.ID {
		t.Errorf("replay after the restart: %d %s, want the first answer (%s)", res.status, res.body, deleted.ID)
	}
	// The kept sandbox: its record, its slot, its files.
	st, err := ReadStore(second.DynamoDBURL, second.Config.TableName)
	if err != nil {
		t.Fatal(err)
	}
	if q, err := st.GetQuota(ctx, "alice"); err != nil || q.Active != 1 {
		t.Errorf("alice's quota after the restart = %+v, %v; want the kept sandbox's slot", q, err)
	}
	res = second.as("alice", http.MethodPost, "/sandboxes/"+kept.ID+"/exec", map[string]any{"command": "cat notes.txt"})
	if res.status != http.StatusOK || !strings.Contains(string(res.body), `"stdout":"kept\n"`) {
		t.Errorf("exec in the kept sandbox after the restart: %d %s", res.status, res.body)
	}
	obj, err := s3Client(second.AWSURL).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("restart-bucket"), Key: aws.String("k")})
	if err != nil {
		t.Fatalf("object after the restart: %v", err)
	}
	b, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(b) != "object" {
		t.Errorf("object after the restart = %q", b)
	}
}

// A kill -9 of `make local` mid-exec, then a start on the same data
// directory: no process of the old run is left, and the earlier records
// are still readable.
func TestKilledStackIsReconciledAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills sandstep-local; skipped with -short")
	}
	needRunner(t)
	bin := filepath.Join(t.TempDir(), "sandstep-local")
	build := exec.Command("go", "build", "-o", bin, "./cmd/sandstep-local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "-api-port", "0", "-lambda-port", "0", "-dynamodb-port", "0", "-aws-port", "0", "-daytona-port", "0", "-sfn-port", "0", "-github-port", "0",
		"-data-dir", dir, "-template", templatePath)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	apiURL := bannerURL(t, stdout)
	sb, pids := sandboxWithTwoProcesses(t, apiURL, filepath.Join(dir, "daytona"))
	// Let a snapshot of the table happen, then kill -9.
	time.Sleep(snapshotEvery + time.Second)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s := startOn(t, dir)
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d of the killed run is still running after the next start", pid)
		}
	}
	var got sandboxJSON
	res := s.as("alice", http.MethodGet, "/sandboxes/"+sb.ID, nil)
	res.decode(t, &got)
	if res.status != http.StatusOK || got.ID != sb.ID {
		t.Errorf("the record after the kill: %d %s", res.status, res.body)
	}
}

// bannerURL reads the API Gateway URL from sandstep-local's banner.
func bannerURL(t *testing.T, r io.Reader) string {
	t.Helper()
	re := regexp.MustCompile(`API Gateway\s+(http://127\.0\.0\.1:\d+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case <-time.After(60 * time.Second):
		t.Fatal("sandstep-local printed no banner")
	}
	return ""
}

// waitPIDs waits for n live processes named by *.pid files of the sandboxes
// under root.
func waitPIDs(t *testing.T, root string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var pids []int
		files, _ := filepath.Glob(filepath.Join(root, "*", "*", "*.pid"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && alive(pid) {
				pids = append(pids, pid)
			}
		}
		if len(pids) >= n {
			return pids
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("fewer than %d sandbox processes started", n)
	return nil
}

// A task whose execution was running when the stack stopped: the next start
// aborts the execution, and the status-change rule cleans the task up, as
// in AWS after an execution stopped without its clean-up.
func TestRestartAbortsRunningTasks(t *testing.T) {
	dir := t.TempDir()
	first := startOn(t, dir)
	tk := first.startTask("alice", map[string]any{"command": "sleep 600"})
	first.waitRunning("alice", tk.ID)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := startOn(t, dir)
	done := second.waitTask("alice", tk.ID, 30*time.Second)
	if done.Status != "failed" || !strings.Contains(strings.ToLower(done.Error), "abort") {
		t.Errorf("task after the restart: %s %q, want failed, aborted", done.Status, done.Error)
	}
	if st, _, _ := second.describe(tk.ID); st != "ABORTED" {
		t.Errorf("execution %s, want ABORTED", st)
	}
	second.waitNothingLeft("alice")
}

// A second stack on a running stack's data directory (on other ports, as
// `make local LOCAL_FLAGS='-api-port 4000 ...'` would be) is refused
// before it reads anything there: it used to restore the running stack's
// DynamoDB snapshot, be refused only at the S3 store's lock 2 s later,
// and save its stale copy over the running stack's snapshot as it
// stopped, losing what the running stack had saved meanwhile.
func TestSecondStackOnTheDataDirNeverWritesTheRunningStacksSnapshot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first := startOn(t, dir)
	snapPath := filepath.Join(dir, "dynamodb", first.Config.TableName+".json")
	if err := first.dynamoDB.snapshot(true); err != nil {
		t.Fatal(err)
	}

	dynPort := freePort(t)
	refused := make(chan error, 1)
	go func() {
		s, err := Start(ctx, Options{Getenv: envMap(nil), LogWriter: &logBuffer{}, TemplatePath: templatePath, DataDir: dir,
			Ports: Ports{DynamoDB: dynPort}})
		if err == nil {
			_ = s.Close()
		}
		refused <- err
	}()
	// Wait until the second stack is refused, or has read the snapshot
	// into its table (what it did before it was refused).
	second, err := DynamoDBClient("http://127.0.0.1:" + strconv.Itoa(dynPort))
	if err != nil {
		t.Fatal(err)
	}
	var refusal error
	deadline := time.Now().Add(10 * time.Second)
wait:
	for {
		select {
		case refusal = <-refused:
			break wait
		default:
		}
		out, err := second.Scan(ctx, &dynamo.ScanInput{TableName: aws.String(first.Config.TableName)})
		if err == nil && len(out.Items) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second stack was neither refused nor restored the snapshot (last error %v)", err)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Meanwhile the running stack writes, and its snapshot saves it.
	firstDB, err := DynamoDBClient(first.DynamoDBURL)
	if err != nil {
		t.Fatal(err)
	}
	item := map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "TEST#written-while-refusing"},
		"SK": &types.AttributeValueMemberS{Value: "META"},
	}
	if err := firstDB.PutItem(ctx, &types.Put{TableName: aws.String(first.Config.TableName), Item: item}); err != nil {
		t.Fatal(err)
	}
	if err := first.dynamoDB.snapshot(false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(snapPath); !strings.Contains(string(b), "TEST#written-while-refusing") {
		t.Fatal("the running stack's snapshot lacks its own write")
	}

	if refusal == nil {
		select {
		case refusal = <-refused:
		case <-time.After(30 * time.Second):
			t.Fatal("the second stack neither started nor was refused")
		}
	}
	if refusal == nil {
		t.Fatal("the second stack on the same data directory was not refused")
	}
	t.Logf("second stack refused: %v", refusal)
	b, err := os.ReadFile(snapPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "TEST#written-while-refusing") {
		t.Errorf("after a refused second start, the running stack's snapshot %s no longer holds the item it saved: "+
			"the refused stack wrote its stale copy over it", snapPath)
	}
}

// The refusal of a second stack on a data directory says that another
// stack holds it (it used to be bolt's bare "timeout" on aws/s3.db).
func TestSecondStackOnTheDataDirIsRefusedClearly(t *testing.T) {
	dir := t.TempDir()
	startOn(t, dir)
	s, err := Start(context.Background(), Options{Getenv: envMap(nil), LogWriter: &logBuffer{}, TemplatePath: templatePath, DataDir: dir})
	if err == nil {
		_ = s.Close()
		t.Fatal("a second stack on the same data directory was not refused")
	}
	var inUse *DataDirInUseError
	want := "data directory " + dir + " is in use by another local stack"
	if !errors.As(err, &inUse) || inUse.Dir != dir || err.Error() != want {
		t.Errorf("the refusal is %q, want %q", err, want)
	}
}

// TestHelperTempStack is not a test: the child process of
// TestKilledTempStackIsReclaimedByTheNextStack, a stack on a
// temporary data directory (what `make demo` starts when nothing answers
// on :3000), which it prints and then waits to be killed.
func TestHelperTempStack(t *testing.T) {
	if os.Getenv("SANDSTEP_TEST_TEMPSTACK_CHILD") != "1" {
		t.Skip("the child process of TestKilledTempStackIsReclaimedByTheNextStack")
	}
	needRunner(t)
	s, err := Start(context.Background(), Options{Getenv: envMap(nil), LogWriter: io.Discard, TemplatePath: templatePath})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Printf("DATA %s\nAPI %s\n", s.DataDir, s.APIURL)
	select {}
}

// A stack on a temporary data directory (Options.DataDir "", what `make
// demo` starts itself) killed with SIGKILL: the next such stack ends the
// processes its sandboxes left running and removes the directory. Its
// Daytona root was a kept root inside a directory no one looked at again,
// so both stayed forever.
func TestKilledTempStackIsReclaimedByTheNextStack(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child stack; skipped with -short")
	}
	needRunner(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperTempStack$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SANDSTEP_TEST_TEMPSTACK_CHILD=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var dataDir, apiURL string
	for dataDir == "" || apiURL == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the child stack did not start")
			}
			if v, ok := strings.CutPrefix(l, "DATA "); ok {
				dataDir = v
			}
			if v, ok := strings.CutPrefix(l, "API "); ok {
				apiURL = v
			}
			if strings.HasPrefix(l, "ERROR") {
				t.Fatal(l)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("the child stack printed nothing")
		}
	}
	var pids []int
	t.Cleanup(func() { // what this test made, whatever the stack does
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = os.RemoveAll(dataDir)
	})

	_, pids = sandboxWithTwoProcesses(t, apiURL, filepath.Join(dataDir, "daytona"))
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	// The next `make demo` (or any stack on a temporary directory) starts
	// and stops.
	next, err := Start(context.Background(), Options{Getenv: envMap(nil), LogWriter: io.Discard, TemplatePath: templatePath})
	if err != nil {
		t.Fatal(err)
	}
	if err := next.Close(); err != nil {
		t.Fatal(err)
	}

	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("sandbox process %d of the killed stack still runs after another stack started and stopped", pid)
		}
	}
	if _, err := os.Stat(dataDir); err == nil {
		t.Errorf("the killed stack's temporary data directory %s is still there", dataDir)
	}
}

// A killed `make demo`'s temporary data directory (its banner named it),
// given to a stack with -data-dir to get its state back, is the user's:
// neither the stack's own Daytona server at start, nor a later stack once
// this one stopped, reclaims it for its dead owner. It used to be removed
// under the running stack.
func TestKilledTempStacksDataDirGivenExplicitlyIsKept(t *testing.T) {
	// A temporary directory of this test's own: another process's local
	// Daytona server (a test of another package) would rightly reclaim a
	// dead owner's directory in the shared one before the stack locks it.
	t.Setenv("TMPDIR", t.TempDir())
	dir, err := os.MkdirTemp("", daytonalocal.TempDirPattern+"sandstep-local-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The owner record the killed stack left: a process that no longer runs.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Skip("no /proc")
	}
	owner, _ := json.Marshal(map[string]any{"pid": dead.Process.Pid, "start": 1, "boot": strings.TrimSpace(string(boot)),
		"root": real, "sandboxes": filepath.Join(real, "daytona")})
	if err := os.WriteFile(filepath.Join(dir, ".owner"), owner, 0o600); err != nil {
		t.Fatal(err)
	}
	// What the user wants back from it.
	keep := filepath.Join(dir, "keep.txt")
	if err := os.WriteFile(keep, []byte("state of the killed demo"), 0o600); err != nil {
		t.Fatal(err)
	}

	s := startOn(t, dir)
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("the data directory %s given explicitly was removed while its stack started: %v", dir, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The next stack on a temporary directory, after this one stopped.
	next, err := Start(context.Background(), Options{Getenv: envMap(nil), LogWriter: io.Discard, TemplatePath: templatePath})
	if err != nil {
		t.Fatal(err)
	}
	if err := next.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("the data directory %s given explicitly was removed by a later stack: %v", dir, err)
	}
}

// sandboxWithTwoProcesses creates alice's sandbox through the API at
// apiURL and runs in it, in the background, a command that leaves a
// process of its own session beside its foreground one; it answers the
// sandbox and the two processes' pids, read under daytonaRoot.
func sandboxWithTwoProcesses(t *testing.T, apiURL, daytonaRoot string) (sandboxJSON, []int) {
	t.Helper()
	res := do(t, http.MethodPost, apiURL+"/sandboxes", map[string]any{}, "Authorization: Bearer alice")
	var sb sandboxJSON
	res.decode(t, &sb)
	if res.status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	go func() {
		req, _ := http.NewRequest(http.MethodPost, apiURL+"/sandboxes/"+sb.ID+"/exec",
			strings.NewReader(`{"command":"setsid sleep 300 & echo $! > bg.pid; echo $$ > fg.pid; exec sleep 301"}`))
		req.Header.Set("Authorization", "Bearer alice")
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	return sb, waitPIDs(t, daytonaRoot, 2)
}
