// Command benchratio reads `go test -bench` output and prints, for each
// benchmark with a "handler" variant (BenchmarkLifecycle/create/handler
// beside BenchmarkLifecycle/create/bare), the median time per operation of
// each variant and the handler's ratio to each other one: what `make bench`
// reports. A "handler-<case>" variant (exec/handler-first) is the handler
// in another case, set against the same bare calls.
// See docs/performance.md.
//
//	go test -run '^$' -bench BenchmarkLifecycle -count 6 ./internal/app/ | go run ./infra/benchratio
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
}

// result line: name, iterations, ns/op (the name's -GOMAXPROCS suffix left out)
var line = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+([0-9.e+]+) ns/op`)

// samples reads every ns/op per benchmark name, in the order names first
// appear.
func samples(r io.Reader) (names []string, ns map[string][]float64, err error) {
	ns = map[string][]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return nil, nil, fmt.Errorf("%q: %w", sc.Text(), err)
		}
		if _, ok := ns[m[1]]; !ok {
			names = append(names, m[1])
		}
		ns[m[1]] = append(ns[m[1]], v)
	}
	return names, ns, sc.Err()
}

func median(v []float64) float64 {
	v = slices.Sorted(slices.Values(v))
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func ms(ns float64) string {
	return strconv.FormatFloat(float64(time.Duration(ns))/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

func run(r io.Reader, w io.Writer) error {
	names, ns, err := samples(r)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "| call | handler | bare | bare call | ratio | runs |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	rows := 0
	for _, name := range names {
		op, variant, ok := strings.Cut(name, "/handler")
		if !ok || (variant != "" && (variant[0] != '-' || strings.Contains(variant, "/"))) {
			continue
		}
		h := median(ns[name])
		for _, other := range names {
			base, found := strings.CutPrefix(other, op+"/")
			if !found || strings.HasPrefix(base, "handler") || strings.Contains(base, "/") {
				continue
			}
			b := median(ns[other])
			short := op[strings.LastIndexByte(op, '/')+1:] + strings.Replace(variant, "-", " ", 1)
			fmt.Fprintf(w, "| %s | %s | %s | %s | %.2f | %d/%d |\n", short, ms(h), ms(b), base, h/b, len(ns[name]), len(ns[other]))
			rows++
		}
	}
	if rows == 0 {
		return fmt.Errorf("no benchmark pairs <name>/handler and <name>/<bare> in the input")
	}
	return nil
}
