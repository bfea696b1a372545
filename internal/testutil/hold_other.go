//go:build !linux

package testutil

import "time"

// sleepExactly is a plain sleep where there is no nanosleep with a
// settable slack.
func sleepExactly(d time.Duration) { time.Sleep(d) }
