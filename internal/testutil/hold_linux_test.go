package testutil

import (
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The 1 ns slack of a hold's last stretch is put back: the runtime reuses
// the thread for anything else in the process.
func TestHoldLeavesNoThreadWithItsSlack(t *testing.T) {
	for range 50 {
		hold(t.Context(), time.Millisecond)
	}
	var wg sync.WaitGroup
	var fine atomic.Int32
	for range 64 {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if slack, _, _ := syscall.RawSyscall(syscall.SYS_PRCTL, prGetTimerSlack, 0, 0); slack == 1 {
				t.Errorf("a thread kept a hold's timer slack of 1 ns")
				return
			}
			fine.Add(1)
			time.Sleep(time.Millisecond) // keep the thread, so the next goroutine gets another
		})
	}
	wg.Wait()
	t.Logf("%d goroutines on their own threads read the default slack", fine.Load())
}
