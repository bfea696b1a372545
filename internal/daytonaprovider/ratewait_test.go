package daytonaprovider

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// A create Daytona refuses with its 429 waits the wait out and asks again
// when its invocation has the wait and createWaitFloor (30 s) left
// (architecture, "Data model"). What it does after the wait (Daytona's
// create and start, the secrets, the files, the clone) then has what the
// wait left. Run out of that time when the wait took at least as much as
// it left, the invocation went to the rate: answered transient (of the
// rate, so no fault), a task's CreateSandbox is asked again in a fresh
// invocation instead of failing with Sandbox.Timeout, which the state
// machine does not retry there. After a shorter wait, or none, the
// timeout is the work's own: work no invocation fits would only be made
// and deleted again at Daytona on every retry.
//
// Here the invocation is 66 s, 4 s of it kept for clean-up: 62 s of work.
func TestCreateOutOfTimeAfterItsRateWaitIsTransient(t *testing.T) {
	const (
		invocation = 66 * time.Second
		reserve    = 4 * time.Second
	)
	tests := []struct {
		name   string
		asked  time.Duration // Daytona's 429 asks for it; 0: no 429
		upload time.Duration
		want   sandstep.Code
	}{
		{"no 429: the upload fits in the invocation", 0, 35 * time.Second, ""},
		{"a 429 that took what it left: the upload no longer fits", 31 * time.Second, 35 * time.Second, sandstep.ETRANSIENT},
		{"a short 429: an upload longer than the work time stays a timeout", time.Second, 64 * time.Second, sandstep.ETIMEOUT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, srv := newProvider(t, Options{})
			svc, _ := newLocalService(t, p, func(o *service.Options) { o.CleanupReserve = reserve })
			if tt.asked > 0 {
				if _, err := srv.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultRateLimit, RetryAfter: tt.asked, Times: 1,
					Match: daytonalocal.Match{Operation: "createSandbox"}}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := srv.AddFault(daytonalocal.Fault{Kind: daytonalocal.FaultLatency, Delay: tt.upload, Times: 1,
				Match: daytonalocal.Match{Operation: "UploadFiles"}}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), invocation)
			defer cancel()
			in := service.CreateSandboxInput{Files: []service.File{{Path: "big.bin", ContentBase64: base64.StdEncoding.EncodeToString([]byte("payload"))}}}
			_, err := svc.CreateSandbox(ctx, service.Call{UserID: "alice"}, in)
			if code := sandstep.ErrorCode(err); code != tt.want {
				t.Errorf("create: %v (%q), want %q", err, code, tt.want)
			}
			if tt.want == sandstep.ETRANSIENT && !errors.Is(err, sandstep.ErrCreateRate) {
				t.Errorf("create: %v, want it the rate's (no fault)", err)
			}
		})
	}
}
