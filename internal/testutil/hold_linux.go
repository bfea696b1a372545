package testutil

import (
	"runtime"
	"syscall"
	"time"
)

// prctl's options for a thread's timer slack.
const (
	prSetTimerSlack = 29
	prGetTimerSlack = 30
)

// sleepExactly blocks its thread in nanosleep with a timer slack of 1 ns
// (the default 50 µs would be added to every wait): about 50 µs late here.
// The slack is the thread's own, and the runtime reuses the thread (and
// clones new ones from it), so the old slack is put back.
func sleepExactly(d time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	old, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetTimerSlack, 0, 0)
	if errno == 0 {
		_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0)
		defer syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, old, 0)
	}
	ts := syscall.NsecToTimespec(d.Nanoseconds())
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}
