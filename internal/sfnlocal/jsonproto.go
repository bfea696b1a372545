package sfnlocal

import (
	"net/http"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/jsonproto"
)

// targetPrefix is the X-Amz-Target prefix of Step Functions.
const targetPrefix = "AWSStepFunctions."

func (s *Server) operations() map[string]jsonproto.Operation {
	return map[string]jsonproto.Operation{
		"StartExecution":       s.startExecution,
		"DescribeExecution":    s.describeExecution,
		"StopExecution":        s.stopExecution,
		"ListExecutions":       s.listExecutions,
		"GetExecutionHistory":  s.getExecutionHistory,
		"SendTaskSuccess":      s.sendTaskSuccess,
		"SendTaskFailure":      s.sendTaskFailure,
		"SendTaskHeartbeat":    s.sendTaskHeartbeat,
		"DescribeStateMachine": s.describeStateMachine,
		"ListStateMachines":    s.listStateMachines,
	}
}

func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	name, _ := strings.CutPrefix(target, targetPrefix)
	err := jsonproto.Serve(w, r, "1.0", name, s.operations())
	if _, refused := err.(*jsonproto.Error); refused {
		s.log.Debug("sfnlocal: request refused", "target", target, "err", err)
	} else if err != nil {
		s.log.Error("sfnlocal: request failed", "target", target, "err", err)
	}
}

// decode reads an operation's input. Members match their exact names, as
// Step Functions does; unknown ones are ignored: newer SDKs and CLIs send
// members this stand-in has no use for.
func decode(body []byte, v any) error { return jsonproto.Decode(body, v, false) }

// epoch is a timestamp as AWS JSON 1.0 writes it: seconds since the epoch.
type epoch float64

func epochOf(t time.Time) epoch { return epoch(float64(t.UnixMilli()) / 1e3) }
