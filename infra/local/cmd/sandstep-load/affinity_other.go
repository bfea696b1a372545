//go:build !linux

package main

import "errors"

var errNoAffinity = errors.New("CPU affinity is set on Linux only")

func allowedCPUs() ([]int, error) { return nil, errNoAffinity }

func pinProcess([]int) error { return errNoAffinity }
