package lambdatest

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// bareFunction names the yardstick in the benchmark's output.
const bareFunction = "bare"

// firstAnswer is the first invoke of a function's cold start: the cheapest
// answer that needs nothing beyond loopback, and how to tell it is right.
type firstAnswer struct {
	event func(s *stack, t testing.TB) []byte
	check func(inv invocation) error
}

// wantResult accepts a direct invoke's success.
func wantResult(inv invocation) error {
	if e, isErr := inv.functionError(); isErr || inv.status != http.StatusOK {
		return fmt.Errorf("answered %d %s (%+v), want a result", inv.status, inv.body, e)
	}
	return nil
}

// wantErrorType accepts a direct invoke's error of the given type.
func wantErrorType(typ string) func(invocation) error {
	return func(inv invocation) error {
		if e, _ := inv.functionError(); inv.status != http.StatusOK || e.ErrorType != typ {
			return fmt.Errorf("answered %d %s, want errorType %s", inv.status, inv.body, typ)
		}
		return nil
	}
}

// firstAnswers holds one entry per function and the bare yardstick.
// create answers a bad input before any I/O (a real create would time the
// local Daytona server); execute and delete look the sandbox up in
// DynamoDB and find none; status lists, the reaper does a dry run (DynamoDB
// and the local Daytona server), github answers a signed ping.
var firstAnswers = map[string]firstAnswer{
	bareFunction: {
		event: func(*stack, testing.TB) []byte { return []byte(`{"ping":true}`) },
		check: wantResult,
	},
	"create": {
		event: func(s *stack, t testing.TB) []byte {
			return withField(t, s.event(t, "create-direct"), true, "surpriseField")
		},
		check: wantErrorType("Sandbox.InvalidInput"),
	},
	"delete": {
		event: func(s *stack, t testing.TB) []byte { return s.event(t, "delete-direct") },
		check: wantErrorType("Sandbox.NotFound"),
	},
	"execute": {
		event: func(s *stack, t testing.TB) []byte { return s.event(t, "execute-direct") },
		check: wantErrorType("Sandbox.NotFound"),
	},
	"status": {
		event: func(s *stack, t testing.TB) []byte { return s.event(t, "status-list-direct") },
		check: wantResult,
	},
	"reaper": {
		event: func(s *stack, t testing.TB) []byte { return s.event(t, "reaper-direct") },
		check: wantResult,
	},
	"github": {
		event: func(s *stack, t testing.TB) []byte {
			return bytes.Replace(s.event(t, "github-api"),
				[]byte(`"x-github-event": "issues"`), []byte(`"x-github-event": "ping"`), 1)
		},
		check: func(inv invocation) error {
			var resp events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(inv.body, &resp); err != nil || inv.status != http.StatusOK || resp.StatusCode != http.StatusOK {
				return fmt.Errorf("answered %d %s, want an API Gateway response with status 200", inv.status, inv.body)
			}
			return nil
		},
	},
}

// coldStartOnce starts a fresh emulator over bootstrap, sends it the
// function's first answer's event, checks the answer, stops the emulator
// and returns the time from sending the invoke (the emulator then starts
// the bootstrap) to its answer: spawn, init and the invoke itself.
func coldStartOnce(t testing.TB, rieBin, function, bootstrap string, env []string, payload []byte) time.Duration {
	t.Helper()
	r := startRIE(t, function, rieBin, bootstrap, env)
	inv := r.invoke(t, payload)
	r.stop(t)
	checkFirstAnswer(t, function, r, inv)
	return inv.took
}

func median(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	if len(d)%2 == 1 {
		return d[len(d)/2]
	}
	return (d[len(d)/2-1] + d[len(d)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// bareBootstrap builds testdata/bare for the host, with the Lambda flags.
func bareBootstrap(t testing.TB) string {
	t.Helper()
	goCmd := needGo(t)
	path := filepath.Join(workDir, runtime.GOARCH, bareFunction, "bootstrap")
	args := append([]string{"build"}, lambdaBuildFlags...)
	cmd := exec.Command(goCmd, append(args, "-o", path, "./functions/lambdatest/testdata/bare")...)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the bare bootstrap: %v\n%s", err, out)
	}
	return path
}

// BenchmarkColdStart measures, under the Runtime Interface Emulator, each
// function's cold start to its first answer (see firstAnswers) beside a
// bare aws-lambda-go bootstrap's: each iteration starts a fresh emulator
// for the function and one for the bare bootstrap, in alternating order,
// so that both see the same (noisy) machine. Only the function's first
// invoke is timed (ns/op); each sub-benchmark also reports its median, the
// bare bootstrap's median over the same iterations, and their ratio, and
// the ratio again less the time the local DynamoDB and Daytona took to
// answer the first answer's calls (in AWS, theirs; the bare one makes none).
// `make coldstart` runs 10 cold starts of each.
func BenchmarkColdStart(b *testing.B) {
	if _, err := buildRIE(b); err != nil {
		b.Skipf("the Runtime Interface Emulator (go.mod's aws-lambda-rie tool) does not build here, so there is no cold start to measure: %v", err)
	}
	s := newStack(b)
	bare := bareBootstrap(b)
	// As deployed: the tests' debug level would time extra log lines.
	info := func(env map[string]string) { env["LOG_LEVEL"] = "info" }
	bareEnv, barePayload := s.env(b, "status", info), firstAnswers[bareFunction].event(s, b)
	names := slices.Sorted(maps.Keys(s.bootstraps.bootstrap))
	for _, name := range names {
		if _, ok := firstAnswers[name]; !ok {
			b.Fatalf("functions/%s has no first answer to time in firstAnswers", name)
		}
	}
	summary := map[string]string{} // by function, from its last run
	for _, name := range names {
		env, payload := s.env(b, name, info), firstAnswers[name].event(s, b)
		b.Run(name, func(b *testing.B) {
			var fn, base, own []time.Duration
			bareOnce := func() { base = append(base, coldStartOnce(b, s.rieBin, bareFunction, bare, bareEnv, barePayload)) }
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				if i%2 == 0 {
					bareOnce()
				}
				r := startRIE(b, name, s.rieBin, s.bootstraps.bootstrap[name], env)
				served := s.served.total()
				b.StartTimer()
				inv := r.invoke(b, payload)
				b.StopTimer()
				r.stop(b)
				checkFirstAnswer(b, name, r, inv)
				fn = append(fn, inv.took)
				own = append(own, inv.took-(s.served.total()-served))
				if i%2 == 1 {
					bareOnce()
				}
				b.StartTimer()
			}
			b.StopTimer()
			m, bm, om := median(fn), median(base), median(own)
			b.ReportMetric(ms(m), "ms-median")
			b.ReportMetric(ms(bm), "bare-ms-median")
			b.ReportMetric(ms(m)/ms(bm), "ratio")
			b.ReportMetric(ms(om)/ms(bm), "ratio-less-standins")
			summary[name] = fmt.Sprintf("%-7s median of %2d cold starts to first answer %6.1f ms, bare aws-lambda-go %6.1f ms, ratio %.2f; less the stand-ins' answers %6.1f ms, ratio %.2f",
				name, len(fn), ms(m), ms(bm), ms(m)/ms(bm), ms(om), ms(om)/ms(bm))
		})
	}
	for _, name := range names {
		if line, ok := summary[name]; ok {
			b.Log(line)
		}
	}
	b.Log(initTrace(b, s.bootstraps.bootstrap["status"]))
}

// checkFirstAnswer fails unless inv is the answer function's first
// invoke wants.
func checkFirstAnswer(t testing.TB, function string, r *rie, inv invocation) {
	t.Helper()
	if err := firstAnswers[function].check(inv); err != nil {
		t.Fatalf("%s: first answer: %v\nstdout:\n%s", function, err, r.stdout)
	}
}

// initLine is one line of GODEBUG=inittrace=1: a package's init time.
var initLine = regexp.MustCompile(`^init (\S+) @[0-9.]+ ms, ([0-9.]+) ms clock`)

// initTrace runs bootstrap once outside the emulator with
// GODEBUG=inittrace=1 (package init runs before main, which then stops
// for want of a runtime API) and describes the packages whose init took
// longest.
func initTrace(t testing.TB, bootstrap string) string {
	t.Helper()
	cmd := exec.Command(bootstrap)
	cmd.Env = []string{"GODEBUG=inittrace=1"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	_ = cmd.Run() // it exits non-zero without AWS_LAMBDA_RUNTIME_API
	type pkgInit struct {
		pkg   string
		clock float64
	}
	var all []pkgInit
	var total float64
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		m := initLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, pkgInit{m[1], v})
		total += v
	}
	if len(all) == 0 {
		t.Fatalf("%s printed no inittrace lines:\n%s", bootstrap, stderr.String())
	}
	slices.SortFunc(all, func(a, b pkgInit) int { return cmp.Compare(b.clock, a.clock) })
	var top []string
	for _, p := range all[:min(5, len(all))] {
		top = append(top, fmt.Sprintf("%s %.3f ms", p.pkg, p.clock))
	}
	return fmt.Sprintf("package init of %s (GODEBUG=inittrace=1): %d packages, %.2f ms in all; longest: %s",
		filepath.Base(filepath.Dir(bootstrap)), len(all), total, strings.Join(top, ", "))
}
