package lambdatest

import (
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/api"
)

// maxBootstrapBytes is the budget of one deployed (arm64) bootstrap
// (docs/architecture.md, "Performance budgets"); the Makefile's
// MAX_BOOTSTRAP_BYTES holds the same number.
const maxBootstrapBytes = 12_000_000

// deployedArch is the architecture template.yaml deploys (Architectures:
// [arm64]).
const deployedArch = "arm64"

// lambdaBuildFlags are the flags `make build` passes to go build; SAM's
// go1.x builder gets the same through GOFLAGS and TrimGoPath.
var lambdaBuildFlags = []string{"-trimpath", "-ldflags=-s -w", "-tags", "lambda.norpc"}

// workDir holds every build of this test binary; TestMain removes it.
var workDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sandstep-lambdatest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "lambdatest:", err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, "lambdatest: remove", dir+":", err)
	}
	os.Exit(code)
}

// needGo skips a test under -short or without the go command, and returns
// the go command's path.
func needGo(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the Lambda bootstraps; skipped with -short")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH; it is needed to build the bootstraps")
	}
	return goCmd
}

// repoRoot returns the directory of the module's go.mod, found by walking
// up from the package directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// functionNames returns the functions the API serves, after checking that
// functions/ holds exactly one main package per function, so that a new
// function cannot go untested.
func functionNames(t testing.TB, root string) []string {
	t.Helper()
	want := api.Functions()
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, "functions", e.Name(), "main.go")); err == nil {
			got = append(got, e.Name())
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("functions/*/main.go are %q; internal/api serves %q", got, want)
	}
	return want
}

// build is one architecture's bootstraps.
type build struct {
	arch string
	// bootstrap maps a function name to <dir>/<name>/bootstrap.
	bootstrap map[string]string
	took      time.Duration
}

var builds struct {
	sync.Mutex
	byArch map[string]*build
	rie    string
}

// bootstraps builds every function for linux/arch in one go build, once
// per test binary, and checks each binary (see checkBootstrap).
func bootstraps(t testing.TB, arch string) *build {
	t.Helper()
	goCmd := needGo(t)
	builds.Lock()
	defer builds.Unlock()
	if b := builds.byArch[arch]; b != nil {
		return b
	}
	root := repoRoot(t)
	names := functionNames(t, root)
	dir := filepath.Join(workDir, arch)
	raw := filepath.Join(dir, "raw") + string(filepath.Separator)
	args := append([]string{"build"}, lambdaBuildFlags...)
	args = append(args, "-o", raw)
	for _, n := range names {
		args = append(args, "./functions/"+n)
	}
	start := time.Now()
	cmd := exec.Command(goCmd, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=linux GOARCH=%s CGO_ENABLED=0 go %s: %v\n%s", arch, strings.Join(args, " "), err, out)
	}
	b := &build{arch: arch, bootstrap: map[string]string{}, took: time.Since(start)}
	for _, n := range names {
		path := filepath.Join(dir, n, "bootstrap")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(raw, n), path); err != nil {
			t.Fatalf("go build wrote no binary for %s: %v", n, err)
		}
		if err := checkBootstrap(path, n, arch); err != nil {
			t.Errorf("functions/%s (%s): %v", n, arch, err)
		}
		b.bootstrap[n] = path
	}
	t.Logf("go build of %d linux/%s bootstraps took %v", len(names), arch, b.took.Round(time.Millisecond))
	if builds.byArch == nil {
		builds.byArch = map[string]*build{}
	}
	builds.byArch[arch] = b
	return b
}

// rieBinary builds the Runtime Interface Emulator from the module's tool
// dependency, for the host, once per test binary.
func rieBinary(t testing.TB) string {
	t.Helper()
	path, err := buildRIE(t)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// buildRIE is rieBinary returning the build's error, for a benchmark that
// skips without the emulator rather than fails.
func buildRIE(t testing.TB) (string, error) {
	t.Helper()
	goCmd := needGo(t)
	builds.Lock()
	defer builds.Unlock()
	if builds.rie != "" {
		return builds.rie, nil
	}
	const pkg = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	path := filepath.Join(workDir, "aws-lambda-rie")
	cmd := exec.Command(goCmd, "build", "-o", path, pkg)
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s (a tool in go.mod): %v\n%s", pkg, err, out)
	}
	builds.rie = path
	return path, nil
}

// elfMachine is the ELF machine of each architecture built here.
var elfMachine = map[string]elf.Machine{
	"amd64": elf.EM_X86_64,
	"arm64": elf.EM_AARCH64,
}

// checkBootstrap checks a built bootstrap the way Lambda's provided.al2023
// runtime needs it and the budget wants it: a static linux ELF executable
// for arch, without symbol table or DWARF, whose embedded build information
// shows the Lambda build settings and the function's main package.
func checkBootstrap(path, function, arch string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("not an ELF binary: %w", err)
	}
	defer f.Close()
	var errs []error
	if want, ok := elfMachine[arch]; ok && f.Machine != want {
		errs = append(errs, fmt.Errorf("ELF machine %v, want %v", f.Machine, want))
	}
	if f.Type != elf.ET_EXEC {
		errs = append(errs, fmt.Errorf("ELF type %v, want a static executable (%v)", f.Type, elf.ET_EXEC))
	}
	var dwarf []string
	for _, s := range f.Sections {
		switch {
		case s.Name == ".symtab":
			errs = append(errs, errors.New("has a .symtab section: not stripped (-ldflags=-s)"))
		case strings.HasPrefix(s.Name, ".debug_"), strings.HasPrefix(s.Name, ".zdebug_"):
			dwarf = append(dwarf, s.Name)
		case s.Name == ".interp":
			errs = append(errs, errors.New("has an .interp section: dynamically linked (CGO_ENABLED=0)"))
		}
	}
	if len(dwarf) > 0 {
		errs = append(errs, fmt.Errorf("has DWARF sections %s (-ldflags=-w)", strings.Join(dwarf, " ")))
	}

	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("no Go build information: %w", err))...)
	}
	if want := "github.com/sandstep/sandstep/functions/" + function; info.Path != want {
		errs = append(errs, fmt.Errorf("main package %s, want %s", info.Path, want))
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	// -ldflags is not recorded with -trimpath (it could hold paths); the
	// section checks above stand for -s -w.
	for _, kv := range [][2]string{
		{"GOOS", "linux"},
		{"GOARCH", arch},
		{"CGO_ENABLED", "0"},
		{"-trimpath", "true"},
		{"-tags", "lambda.norpc"},
	} {
		key, want := kv[0], kv[1]
		if got := settings[key]; got != want {
			errs = append(errs, fmt.Errorf("build setting %s=%q, want %q", key, got, want))
		}
	}
	return errors.Join(errs...)
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// TestBootstrapSizes builds the deployed (arm64) bootstraps, checks them
// like every build (stripped, static, Lambda flags) and holds each to the
// size budget. The sizes are logged: run with -v to see them.
func TestBootstrapSizes(t *testing.T) {
	b := bootstraps(t, deployedArch)
	for _, n := range slices.Sorted(maps.Keys(b.bootstrap)) {
		size := fileSize(t, b.bootstrap[n])
		t.Logf("functions/%s: linux/%s bootstrap %d bytes (%.2f MB; budget %d, %d to spare)",
			n, b.arch, size, float64(size)/1e6, maxBootstrapBytes, maxBootstrapBytes-size)
		if size > maxBootstrapBytes {
			t.Errorf("functions/%s: linux/%s bootstrap is %d bytes, over the %d-byte budget",
				n, b.arch, size, maxBootstrapBytes)
		}
	}
}
