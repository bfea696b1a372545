package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// percentile is the nearest-rank p-th percentile of sorted (0 < p <= 100).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// quantiles are p50, p95 and p99 of ds.
type quantiles [3]time.Duration

func quantilesOf(ds []time.Duration) quantiles {
	s := slices.Clone(ds)
	slices.Sort(s)
	return quantiles{percentile(s, 50), percentile(s, 95), percentile(s, 99)}
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}

func (q quantiles) row(w io.Writer, name string) {
	fmt.Fprintf(w, "    %-8s %9s %9s %9s\n", name, ms(q[0]), ms(q[1]), ms(q[2]))
}
