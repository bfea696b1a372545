package api

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// A body at MAX_BODY_BYTES' default (4 MiB) of empty elements, {"files":
// [{},{},…]}, was refused for its count only once encoding/json had filled
// a slice of 1.4 million of them: 326 MB allocated, past the create
// function's soft memory limit (90% of 256 MB); the process peaked at
// about 200 MB, and at 6 MiB (the largest MAX_BODY_BYTES) at 235 MB
// (278 MB without the limit, past the function's memory). A list or map
// over its limit is refused from the first pass's count, with the error
// the service's check gives, before the fill.
func TestOverlongListIsRefusedBeforeTheFill(t *testing.T) {
	const bodySize = 4 << 20               // MAX_BODY_BYTES' default
	const bound = uint64(256<<20) * 9 / 10 // the create function's soft memory limit
	empty := func(elem string) func(int) string { return func(int) string { return elem } }
	keyed := func(i int) string { return fmt.Sprintf(`"K%x":""`, i) }
	cases := []struct {
		name           string
		prefix, suffix string
		elem           func(i int) string
		into           func() any
		field, what    string
		max            int
	}{
		{"create files", `{"files":[`, `]}`, empty(`{}`), func() any { return new(service.CreateSandboxInput) }, "files", "files", service.MaxFiles},
		{"create allowList", `{"network":{"allowList":[`, `]}}`, empty(`""`), func() any { return new(service.CreateSandboxInput) }, "network.allowList", "CIDRs", sandstep.MaxNetworkCIDRs},
		{"create domainAllowList", `{"network":{"domainAllowList":[`, `]}}`, empty(`""`), func() any { return new(service.CreateSandboxInput) }, "network.domainAllowList", "domains", sandstep.MaxNetworkDomains},
		{"create env", `{"env":{`, `}}`, keyed, func() any { return new(service.CreateSandboxInput) }, "env", "variables", service.MaxEnvVars},
		{"create secretEnv", `{"secretEnv":{`, `}}`, keyed, func() any { return new(service.CreateSandboxInput) }, "secretEnv", "variables", service.MaxEnvVars},
		{"create labels", `{"labels":{`, `}}`, keyed, func() any { return new(service.CreateSandboxInput) }, "labels", "labels", service.MaxLabels},
		{"agent execute files", `{"command":"true","files":[`, `]}`, empty(`{}`), func() any { return new(service.AgentExecuteInput) }, "files", "files", service.MaxFiles},
		{"exec env", `{"command":"true","env":{`, `}}`, keyed, func() any { return new(service.ExecInput) }, "env", "variables", service.MaxEnvVars},
		{"task sandbox files", `{"command":"true","sandbox":{"files":[`, `]}}`, empty(`{}`), func() any { return new(service.TaskInput) }, "sandbox.files", "files", service.MaxFiles},
		{"task artifacts", `{"command":"true","artifacts":[`, `]}`, empty(`""`), func() any { return new(service.TaskInput) }, "artifacts", "paths", service.MaxArtifacts},
		{"task env", `{"command":"true","env":{`, `}}`, keyed, func() any { return new(service.TaskInput) }, "env", "variables", service.MaxEnvVars},
		{"direct create files", `{"action":"create","userId":"u","files":[`, `]}`, empty(`{}`), func() any { return new(DirectCreateInput) }, "files", "files", service.MaxFiles},
		{"direct exec env", `{"action":"exec","userId":"u","sandboxId":"sb","command":"true","env":{`, `}}`, keyed, func() any { return new(DirectExecInput) }, "env", "variables", service.MaxEnvVars},
		{"direct agent execute files", `{"action":"agent-execute","userId":"u","command":"true","files":[`, `]}`, empty(`{}`), func() any { return new(DirectAgentExecuteInput) }, "files", "files", service.MaxFiles},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			b.WriteString(tc.prefix)
			n := 0
			for ; ; n++ {
				e := tc.elem(n)
				if b.Len()+len(e)+1+len(tc.suffix) > bodySize {
					break
				}
				if n > 0 {
					b.WriteByte(',')
				}
				b.WriteString(e)
			}
			b.WriteString(tc.suffix)
			body := b.Bytes()
			v := tc.into()

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := decodeStrict(body, v)
			runtime.ReadMemStats(&after)

			if allocated := after.TotalAlloc - before.TotalAlloc; allocated > bound {
				t.Errorf("decoding %d bytes with %d elements allocated %d MB (%.0f× the body), want at most %d MB",
					len(body), n, allocated>>20, float64(allocated)/float64(len(body)), bound>>20)
			}
			want := fmt.Sprintf("has %d %s, at most %d are allowed", n, tc.what, tc.max)
			if e, ok := err.(*sandstep.Error); !ok || e.Code != sandstep.EINVALID || e.Field != tc.field || e.Message != want {
				t.Errorf("decode = %v, want invalid_input %s: %s", err, tc.field, want)
			}
		})
	}
}
