package sfnlocal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/sandstep/sandstep/internal/sfnlocal"
)

// BenchmarkStateOverhead measures what a state costs locally, runner and
// server together: one op is one execution of a loop of `iterations`
// rounds, reported per state. The Lambda Task's fake answers at once, so
// its figure is the overhead around a real function's own time.
func BenchmarkStateOverhead(b *testing.B) {
	const iterations = 50
	counter := func(p json.RawMessage) lambdaReply {
		var in struct{ I int }
		_ = json.Unmarshal(p, &in)
		return lambdaReply{Payload: map[string]int{"i": in.I + 1}}
	}
	loop := func(work string) string {
		return fmt.Sprintf(`{
		  "StartAt": "Work",
		  "States": {
		    "Work": %s,
		    "More?": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericLessThan": %d, "Next": "Work"}], "Default": "Done"},
		    "Done": {"Type": "Succeed"}
		  }
		}`, work, iterations)
	}
	machines := map[string]string{
		"pass":   loop(`{"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "More?"}`),
		"lambda": loop(`{"Type": "Task", "Resource": "` + fnARN("counter") + `", "TimeoutSeconds": 30, "Next": "More?"}`),
	}
	ended := make(chan sfnlocal.StatusChange, 1)
	h := start(b, newFakeLambda(b, map[string]func(json.RawMessage) lambdaReply{"counter": counter}), machines, func(o *sfnlocal.Options) {
		o.OnStatusChange = func(_ context.Context, c sfnlocal.StatusChange) { ended <- c }
		o.Logger = nil
	})
	for _, name := range []string{"pass", "lambda"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				h.startExecution(b, name, "", `{"i":0}`)
				if c := <-ended; c.Status != "SUCCEEDED" {
					b.Fatalf("%s: %s %v", name, c.Status, c.Error)
				}
			}
			states := float64(b.N * (2*iterations + 1))
			b.ReportMetric(float64(b.Elapsed().Microseconds())/states, "µs/state")
		})
	}
}
