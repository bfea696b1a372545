package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/sandstep/sandstep/internal/daytonalocal"
)

// config is one load run's shape, from the LOAD_* variables.
type config struct {
	creates  int           // LOAD_N: create attempts in all
	users    int           // LOAD_USERS: users they are spread over
	quota    int           // LOAD_QUOTA: each user's DEFAULT_USER_QUOTA
	latency  time.Duration // LOAD_LATENCY: Daytona's create; see daytonaLatency
	inflight int           // LOAD_INFLIGHT: requests in flight at most
	tasks    int           // LOAD_TASKS: tasks started; 0 skips the task mode
	rate     int           // LOAD_CREATE_RATE: Daytona's creates per minute; 0: no limit
	timeout  time.Duration // LOAD_TIMEOUT: the whole run's deadline

	// Set by tests only: the template, and faults of the local Daytona
	// server (a provider failure the run must report as not exact), from
	// the start or from the task mode's start.
	templatePath  string
	daytonaFaults []daytonalocal.Fault
	taskFaults    []daytonalocal.Fault
}

// taskCommand is each task's command: a few seconds of work.
const taskCommand = "sleep 3; echo done"

func parseConfig(getenv func(string) string) (config, error) {
	c := config{creates: 1000, users: 50, quota: 5, latency: 110 * time.Millisecond, inflight: 100, tasks: 20, timeout: 10 * time.Minute}
	ints := []struct {
		name string
		dst  *int
		min  int
	}{
		{"LOAD_N", &c.creates, 1}, {"LOAD_USERS", &c.users, 1}, {"LOAD_QUOTA", &c.quota, 1},
		{"LOAD_INFLIGHT", &c.inflight, 1}, {"LOAD_TASKS", &c.tasks, 0}, {"LOAD_CREATE_RATE", &c.rate, 0},
	}
	for _, v := range ints {
		s := getenv(v.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < v.min {
			return c, fmt.Errorf("%s=%q: want a whole number ≥ %d", v.name, s, v.min)
		}
		*v.dst = n
	}
	durs := []struct {
		name string
		dst  *time.Duration
		min  time.Duration
	}{{"LOAD_LATENCY", &c.latency, 0}, {"LOAD_TIMEOUT", &c.timeout, time.Second}}
	for _, v := range durs {
		s := getenv(v.name)
		if s == "" {
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < v.min {
			return c, fmt.Errorf("%s=%q: want a Go duration ≥ %s (e.g. 110ms)", v.name, s, v.min)
		}
		*v.dst = d
	}
	if c.users > c.creates {
		return c, fmt.Errorf("LOAD_USERS=%d is more than LOAD_N=%d: every user needs a create", c.users, c.creates)
	}
	return c, nil
}

// daytonaLatency is what the local Daytona server adds to each call: the
// create takes LOAD_LATENCY, and get, delete and each toolbox call the
// share Daytona's published medians give them (20, 30 and 20 ms beside a
// create's 110 ms).
func (c config) daytonaLatency() daytonalocal.Latency {
	part := func(ms int64) time.Duration { return time.Duration(int64(c.latency) * ms / 110) }
	return daytonalocal.Latency{Create: c.latency, Get: part(20), Delete: part(30), Toolbox: part(20)}
}

// attempts is how many creates user u (0-based) makes: LOAD_N spread
// evenly, the first users taking one more when it does not divide.
func (c config) attempts(u int) int {
	n := c.creates / c.users
	if u < c.creates%c.users {
		n++
	}
	return n
}
