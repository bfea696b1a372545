package daytonalocal

import (
	"net/http"
	"time"

	"github.com/coder/websocket"
)

const (
	followFrameMax      = 32 << 10
	followActivityEvery = 30 * time.Second
)

// followLogs streams a session command's log over a WebSocket: binary
// frames with the raw log (with line markers for SDK >= 0.167 or
// X-Daytona-Split-Output: true, marker-free combined output otherwise),
// replayed from the start and then tailed. It closes with 1000 once the
// command has an exit code and no new bytes arrived for FollowIdleClose.
// Control frames (ping, close) are answered while it runs, and the open
// socket counts as sandbox activity.
func (s *Server) followLogs(w http.ResponseWriter, r *http.Request, sb *sandbox, c *command) {
	split := splitOutput(r)
	drop, dropping := s.faults.take(requestInfoFrom(r.Context()), FaultFollowDrop)
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		s.log.Debug("daytonalocal follow: accept", "error", err)
		return
	}
	defer conn.CloseNow()
	ctx := conn.CloseRead(r.Context())

	idle := time.NewTimer(time.Hour)
	idle.Stop()
	defer idle.Stop()
	activity := time.NewTicker(followActivityEvery)
	defer activity.Stop()

	off, sent := 0, 0
	for {
		if dropping && sent >= drop.AfterBytes {
			s.log.Info("daytonalocal fault injected", "kind", drop.Kind.String(), "path", r.URL.Path, "afterBytes", sent)
			return // CloseNow: no close frame, like a dropped connection
		}
		raw, plain, finished, changed := c.logs()
		buf := plain
		if split {
			buf = raw
		}
		if off < len(buf) {
			chunk := buf[off:min(len(buf), off+followFrameMax)]
			if dropping {
				chunk = chunk[:min(len(chunk), drop.AfterBytes-sent)]
			}
			if err := conn.Write(ctx, websocket.MessageBinary, chunk); err != nil {
				return
			}
			off += len(chunk)
			sent += len(chunk)
			continue
		}
		var idleC <-chan time.Time
		if finished {
			idle.Reset(s.opts.FollowIdleClose)
			idleC = idle.C
		}
		select {
		case <-changed:
			idle.Stop()
		case <-idleC:
			_ = conn.Close(websocket.StatusNormalClosure, "")
			return
		case <-ctx.Done():
			return
		case <-activity.C:
			s.touch(sb)
		}
	}
}
