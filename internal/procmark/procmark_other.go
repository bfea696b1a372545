//go:build !linux

package procmark

import "errors"

// Find finds nothing: there is no /proc to sweep.
func Find(Matcher) []Proc { return nil }

func kill(Proc, Matcher) bool { return false }

// Carries reports false.
func Carries(Proc, Matcher) bool { return false }

// ReadStat is not supported.
func ReadStat(int) (Stat, error) { return Stat{}, errors.ErrUnsupported }

// Children returns nothing.
func Children() []Stat { return nil }

// SetSubreaper is not supported.
func SetSubreaper() error { return errors.ErrUnsupported }

// Reap reaps nothing.
func Reap(Proc) bool { return false }
