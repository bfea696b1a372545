package api

import (
	"strings"
	"testing"
)

// README (Limits): an Idempotency-Key is 1–128 printable ASCII characters,
// and a direct invocation's idempotencyKey "does what the header does".
// The header sent empty is a 400; the field sent empty must be refused
// too, not taken for no key: the caller believes its retries are safe
// while each one makes another sandbox (or runs its command again).
func TestDirectEmptyIdempotencyKeyIsRefused(t *testing.T) {
	tests := []struct {
		name, function, payload string
	}{
		{"create", FunctionCreate, `{"action":"create","userId":"u","idempotencyKey":""}`},
		{"exec", FunctionExecute, `{"action":"exec","userId":"u","sandboxId":"sbx_one","command":"ls","idempotencyKey":""}`},
		{"agent-execute", FunctionExecute, `{"action":"agent-execute","userId":"u","command":"ls","idempotencyKey":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			a, _ := newTestAPI(svc, Options{})
			out, err := a.Handler(tt.function).Invoke(t.Context(), []byte(tt.payload))
			if err == nil {
				t.Fatalf("an empty idempotencyKey was served without one: %s; calls %+v", out, svc.recordedCalls())
			}
			ive := invokeError(t, a, tt.function, tt.payload)
			if ive.Type != "Sandbox.InvalidInput" || !strings.HasPrefix(ive.Message, "idempotencyKey: must be 1 to 128") {
				t.Errorf("error %+v, want Sandbox.InvalidInput naming idempotencyKey", ive)
			}
		})
	}
}
