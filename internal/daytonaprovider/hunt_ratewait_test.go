package daytonaprovider

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// A create Daytona refuses with its 429 waits the wait out and asks again
// when its invocation has the wait and createWaitFloor (30 s) left
// (architecture, "Data model"): a task's CreateSandbox has most of five
// minutes. What the create does after the wait (Daytona's create and
// start, the secrets, the files, the clone) then has what the wait left,
// as little as 30 s, where it had the whole invocation before. Work that
// fits in the invocation but not in what the wait left runs out of time:
// answered timeout (Sandbox.Timeout, which the state machine does not
// retry at CreateSandbox), the task fails, although the same step asked
// again in a fresh invocation has all of its time. An invocation the
// service itself spent waiting must answer transient, so that the
// state machine asks again.
//
// Here the invocation is 43 s (4 s kept for clean-up, so 39 s of work),
// the files take 35 s to upload, and Daytona's 429 asks for 6 s: the wait
// fits (39 s >= 6 s + 30 s), the upload then does not (33 s left).
func TestHuntCreateOutOfTimeAfterItsRateWaitIsTransient(t *testing.T) {
	const (
		invocation = 43 * time.Second
		reserve    = 4 * time.Second
		upload     = 35 * time.Second
		asked      = 6 * time.Second
	)
	tests := []struct {
		name    string
		limited bool
		want    sandstep.Code
	}{
		{"no 429: the upload fits in the invocation", false, ""},
		{"a 429 waited out: the upload no longer fits", true, sandstep.ETRANSIENT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, srv := newProvider(t, Options{})
			st, _, _ := storetest.New(t, store.Options{DefaultQuota: 1})
			svc, err := service.New(service.Deps{Provider: p, Sandboxes: st, Quota: st, Idempotency: st, Audit: st}, service.Options{
				Deployment:     func(context.Context) (string, error) { return "test-deployment", nil },
				CleanupReserve: reserve,
				Limits: service.Limits{
					DefaultTTLMinutes: 60, MaxTTLMinutes: 60, DefaultExecTimeout: time.Minute, MaxExecTimeout: time.Minute, MaxOutputBytes: 1 << 20,
					MaxTaskDuration: time.Minute, MaxTaskLogBytes: 1 << 20, TaskBackstop: time.Minute,
				}})
			if err != nil {
				t.Fatal(err)
			}
			if tt.limited {
				if _, err := srv.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultRateLimit, RetryAfter: asked, Times: 1,
					Match: daytonalocal.Match{Operation: "createSandbox"}}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := srv.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultLatency, Delay: upload, Times: 1,
				Match: daytonalocal.Match{Operation: "UploadFiles"}}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), invocation)
			defer cancel()
			in := service.CreateSandboxInput{Files: []service.File{{Path: "big.bin", ContentBase64: base64.StdEncoding.EncodeToString([]byte("payload"))}}}
			_, err = svc.CreateSandbox(ctx, service.Call{UserID: "alice"}, in)
			if code := sandstep.ErrorCode(err); code != tt.want {
				t.Errorf("create: %v (%q), want %q", err, code, tt.want)
			}
		})
	}
}
