package daytonalocal

import (
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Once a command's shell has exited, its pipes are still read while a
// background process it left may write to them: for drainGrace after the
// last look found nothing unread, and never past drainLimit.
const (
	drainGrace = 200 * time.Millisecond
	drainLimit = 5 * time.Second
)

// piped is a started command whose stdout and stderr the server reads
// through pipes of its own, so that it can tell a reader that is slow to
// run (a loaded machine) from a pipe a background process holds open:
// exec.Cmd's WaitDelay cannot, and closing the pipes after a fixed grace
// lost output the command had written before it exited.
type piped struct {
	pipes   [2]*os.File // read ends, by stream
	readers sync.WaitGroup
}

// startPiped starts cmd through procs with read reading each stream, in a
// goroutine of its own, until the stream ends or drain closes it.
func startPiped(procs *procTable, cmd *exec.Cmd, read func(stream int, r io.Reader)) (*piped, error) {
	p := &piped{}
	var w [2]*os.File
	closeAll := func() {
		for _, f := range append(p.pipes[:], w[:]...) {
			if f != nil {
				f.Close()
			}
		}
	}
	for i := range p.pipes {
		r, wr, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, err
		}
		p.pipes[i], w[i] = r, wr
	}
	cmd.Stdout, cmd.Stderr = w[stdoutStream], w[stderrStream]
	err := procs.start(cmd)
	// The child holds its own copies of the write ends.
	w[0].Close()
	w[1].Close()
	if err != nil {
		p.pipes[0].Close()
		p.pipes[1].Close()
		return nil, err
	}
	for stream, r := range p.pipes {
		p.readers.Go(func() { read(stream, r) })
	}
	return p, nil
}

// drain waits for the readers after the command's shell has exited: until
// both streams end, or until nothing is left unread in either pipe and
// grace has passed since the last look, or until limit. Then it closes the
// pipes, which ends the readers.
func (p *piped) drain(grace, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for !waitAtMost(&p.readers, grace) {
		if !p.unread() || time.Now().After(deadline) {
			break
		}
	}
	p.pipes[0].Close()
	p.pipes[1].Close()
	p.readers.Wait()
}

// unread reports whether either pipe holds bytes not yet read.
func (p *piped) unread() bool {
	for _, f := range p.pipes {
		sc, err := f.SyscallConn()
		if err != nil {
			continue
		}
		n := 0
		_ = sc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), fionread) })
		if n > 0 {
			return true
		}
	}
	return false
}
