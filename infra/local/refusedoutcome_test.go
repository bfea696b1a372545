package local

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/service"
)

// busySpecPuts answers S3's 503 SlowDown to every PUT of a task's spec,
// and passes everything else on.
type busySpecPuts struct {
	next    http.RoundTripper
	refused atomic.Int64
}

func (b *busySpecPuts) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/spec.json") {
		b.refused.Add(1)
		body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Slow Down", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/xml"}}, Body: ioNopCloser(body), ContentLength: int64(len(body)), Request: r}, nil
	}
	return b.next.RoundTrip(r)
}

// A console start whose Prepare failed for good with a transient error
// (S3 refused its spec through every retry) has no task: its clean-up
// answers the refusal as the execution's outcome, which is final, so it is
// named Task.Failed, not the Sandbox.Transient that CleanUpAfterFailure's
// Retry takes for a passing failure of the clean-up and asks again.
func TestRefusedOutcomeIsNotRetriedAsTransient(t *testing.T) {
	busy := &busySpecPuts{next: http.DefaultTransport}
	s := startStack(t, nil, fastRetries, func(o *Options) { o.AWSHTTPClient = &http.Client{Transport: busy} })
	for _, tt := range []struct {
		name, input string
	}{
		{"S3 refuses the console start's spec", `{"userId":"carol","task":{"command":"true"}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := service.NewTaskID()
			s.sfn("StartExecution", map[string]any{"stateMachineArn": s.StateMachineARNs[0], "name": id, "input": tt.input}, nil)
			s.waitExecution(id, time.Minute)
			st, errName, cause := s.describe(id)
			t.Logf("execution %s %s %q; spec PUTs refused %d", st, errName, cause, busy.refused.Load())
			cleanups, failed := 0, 0
			state := ""
			for _, e := range s.history(id) {
				if e.Entered != nil {
					state = e.Entered.Name
				}
				if state != "CleanUpAfterFailure" {
					continue
				}
				switch e.Type {
				case "LambdaFunctionScheduled":
					cleanups++
				case "LambdaFunctionFailed":
					failed++
				}
			}
			if st != "FAILED" || errName != "Task.Failed" || !strings.Contains(cause, "S3 is busy") {
				t.Errorf("execution %s %s %q, want FAILED Task.Failed with S3's refusal as its cause", st, errName, cause)
			}
			if cleanups != 1 {
				t.Errorf("CleanUpAfterFailure invoked the clean-up %d times (%d failed as %q); want once: its answer is the outcome, not a passing failure",
					cleanups, failed, errName)
			}
		})
	}
}

func ioNopCloser(s string) *nopBody { return &nopBody{strings.NewReader(s)} }

type nopBody struct{ *strings.Reader }

func (nopBody) Close() error { return nil }
