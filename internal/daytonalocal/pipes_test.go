package daytonalocal

import (
	"io"
	"os/exec"
	"testing"
	"time"
)

// TestDrain: what a command wrote before its shell exited is read however
// late its reader runs; a pipe a background process holds open is let go
// once nothing is left unread in it, and a writer that never stops at the
// limit.
func TestDrain(t *testing.T) {
	const grace, limit = 20 * time.Millisecond, 800 * time.Millisecond
	tests := []struct {
		name   string
		script string
		// held keeps the readers from running until drain has waited
		// several graces.
		held bool
		// slow reads a few bytes a millisecond, so a fast writer keeps
		// its pipe full.
		slow     bool
		want     string // the output, or its start
		whole    bool   // want is all of it
		atLeast  time.Duration
		atMost   time.Duration
		cleanups bool // the command leaves background processes to kill
	}{
		{name: "a reader that runs late reads everything", script: "printf 'out'; printf 'err' >&2", held: true,
			want: "outerr", whole: true, atLeast: 10 * grace, atMost: limit},
		{name: "a background process holding the pipe", script: "echo out; sleep 30 &",
			want: "out\n", whole: true, atMost: limit / 2, cleanups: true},
		{name: "a background writer that never stops, read slowly", script: "echo out; yes &", slow: true,
			want: "out\n", atLeast: limit, atMost: 4 * limit, cleanups: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt := &procTable{accepting: true, groups: map[int]struct{}{}, sessions: map[string]*session{}}
			release := make(chan struct{})
			if !tt.held {
				close(release)
			}
			out := newCapture(1 << 20)
			cmd := exec.Command("/bin/sh", "-c", tt.script)
			p, err := startPiped(pt, cmd, func(stream int, r io.Reader) {
				<-release
				// One stream after the other, so the output's order is known.
				if stream == stderrStream {
					time.Sleep(10 * time.Millisecond)
				}
				if tt.slow {
					r = slowReader{r}
				}
				out.read(stream, r)
			})
			if err != nil {
				t.Fatal(err)
			}
			if tt.cleanups {
				t.Cleanup(func() { killGroup(cmd.Process.Pid) })
			}
			if err := cmd.Wait(); err != nil {
				t.Fatal(err)
			}
			pt.exited(cmd.Process.Pid)
			if tt.slow {
				// The background writer has begun (a loaded machine may
				// start it late): drain then meets a pipe kept full.
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
					if got, _, _ := out.result(); len(got) > len(tt.want) {
						break
					}
				}
			}
			start := time.Now()
			if tt.held {
				time.AfterFunc(10*grace, func() { close(release) })
			}
			p.drain(grace, limit)
			took := time.Since(start)
			got, _, _ := out.result()
			if tt.whole && string(got) != tt.want || !tt.whole && (len(got) < len(tt.want) || string(got[:len(tt.want)]) != tt.want) {
				t.Errorf("output %.40q, want %q (whole: %v)", got, tt.want, tt.whole)
			}
			if took < tt.atLeast || took > tt.atMost {
				t.Errorf("drain took %s, want %s to %s", took, tt.atLeast, tt.atMost)
			}
		})
	}
}

type slowReader struct{ r io.Reader }

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	return s.r.Read(p[:min(len(p), 64)])
}
