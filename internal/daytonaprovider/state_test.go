package daytonaprovider

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/daytonalocal"
	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/service"
)

// providerBehind is a provider with opts on hs, a fake Daytona whose main
// API is at /api and whose sandbox sb-1's toolbox is at /toolbox, trying
// each call once; hs is closed when the test ends.
func providerBehind(t *testing.T, hs *httptest.Server, opts Options) *Provider {
	t.Helper()
	t.Cleanup(hs.Close)
	c, err := daytona.New(daytona.Config{APIKey: "k", APIURL: hs.URL + "/api",
		Retry: daytona.RetryPolicy{MaxAttempts: 1, BaseDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	p := New(c, opts)
	p.KnowToolbox("sb-1", hs.URL+"/toolbox")
	return p
}

// lifecycle posts a start or stop behind the provider's back, as Daytona's
// auto-stop or another caller does.
func lifecycle(t *testing.T, p *Provider, id, action string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.c.APIURL()+"/sandbox/"+id+"/"+action, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s", action, id, resp.Status)
	}
}

// toolboxOps are the toolbox calls the service makes, each run once in the
// sandbox.
func toolboxOps(t *testing.T) []struct {
	name string
	run  func(ctx context.Context, p *Provider, id string) error
} {
	repo := t.TempDir()
	if out, err := exec.Command("git", "init", "-q", "--bare", repo).CombinedOutput(); err != nil {
		t.Skipf("git: %v %s", err, out)
	}
	return []struct {
		name string
		run  func(ctx context.Context, p *Provider, id string) error
	}{
		{"exec", func(ctx context.Context, p *Provider, id string) error {
			res, err := p.Exec(ctx, id, service.Command{Line: "cat kept.txt", Timeout: 20 * time.Second})
			if err == nil && res.Stdout != "kept\n" { // Daytona ends a partial last line
				t.Errorf("stdout %q, want kept", res.Stdout)
			}
			return err
		}},
		{"upload", func(ctx context.Context, p *Provider, id string) error {
			return p.Upload(ctx, id, []service.UploadFile{{Path: "new.txt", Content: []byte("new")}})
		}},
		{"download", func(ctx context.Context, p *Provider, id string) error {
			b, err := p.Download(ctx, id, "kept.txt", 100)
			if err == nil && string(b) != "kept" {
				t.Errorf("downloaded %q, want kept", b)
			}
			return err
		}},
		{"git clone", func(ctx context.Context, p *Provider, id string) error {
			return p.GitClone(ctx, id, service.GitCloneSpec{URL: "file://" + repo, Path: filepath.Base(repo)})
		}},
		{"start command", func(ctx context.Context, p *Provider, id string) error {
			_, err := p.StartCommand(ctx, id, "task-1", "true")
			return err
		}},
	}
}

// A toolbox call meets a sandbox that is not started when Daytona
// auto-stopped it or while it changes state; the proxy then answers 400,
// 404 or 502, none of which is the caller's fault. A stopped sandbox is
// started again and the call made once more, and so is one already
// starting once its start is done; one in another transition is a
// transient failure that says so. None is invalid input.
func TestToolboxCallsAreJudgedByTheSandboxsState(t *testing.T) {
	states := []struct {
		name    string
		local   daytonalocal.Options
		setup   func(t *testing.T, p *Provider, id string)
		want    sandstep.Code
		wantMsg string
	}{
		{name: "stopped", setup: func(t *testing.T, p *Provider, id string) { lifecycle(t, p, id, "stop") }},
		{name: "stopping", local: daytonalocal.Options{StopDelay: 5 * time.Second},
			setup: func(t *testing.T, p *Provider, id string) { lifecycle(t, p, id, "stop") },
			want:  sandstep.ETRANSIENT, wantMsg: "stopping"},
		{name: "starting", local: daytonalocal.Options{StartDelay: time.Second},
			setup: func(t *testing.T, p *Provider, id string) {
				lifecycle(t, p, id, "stop")
				lifecycle(t, p, id, "start")
			}},
	}
	for _, op := range toolboxOps(t) {
		for _, st := range states {
			t.Run(op.name+" in a "+st.name+" sandbox", func(t *testing.T) {
				p, _ := newProviderOn(t, Options{MaxPollInterval: 20 * time.Millisecond}, st.local)
				ctx := context.Background()
				id := create(t, p, "sbx-state")
				if err := p.Upload(ctx, id, []service.UploadFile{{Path: "kept.txt", Content: []byte("kept")}}); err != nil {
					t.Fatal(err)
				}
				st.setup(t, p, id)
				err := op.run(ctx, p, id)
				if code := sandstep.ErrorCode(err); code != st.want || err != nil && !strings.Contains(err.Error(), st.wantMsg) {
					t.Fatalf("err = %v (%s), want %q saying %q", err, code, st.want, st.wantMsg)
				}
				if st.want == "" {
					if ps, err := p.Get(ctx, id); err != nil || ps.State != "started" {
						t.Errorf("sandbox after the call = %+v, %v; want started again", ps, err)
					}
				}
			})
		}
	}
}

// The states the local server cannot take, answered by a fake: the proxy
// refuses the call, and the main API says what the sandbox is.
func TestToolboxCallsInOtherStates(t *testing.T) {
	tests := []struct {
		state string
		want  sandstep.Code
	}{
		{"archiving", sandstep.ETRANSIENT},
		{"error", sandstep.ECONFLICT},
		{"build_failed", sandstep.ECONFLICT},
		{"destroying", sandstep.ENOTFOUND},
		// The proxy's refusal of a sandbox said to run: it is stopping
		// and the state has not caught up (daytonaio/daytona#4142).
		{"started", sandstep.ETRANSIENT},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.URL.Path == "/api/sandbox/sb-1" {
					io.WriteString(w, `{"id":"sb-1","name":"sb-1","state":"`+tt.state+`","desiredState":"started","errorReason":"disk on fire"}`)
					return
				}
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"statusCode":400,"message":"failed to resolve container IP","source":"DAYTONA_PROXY"}`)
			}))
			p := providerBehind(t, hs, Options{})
			err := p.Upload(context.Background(), "sb-1", []service.UploadFile{{Path: "a", Content: []byte("a")}})
			if code := sandstep.ErrorCode(err); code != tt.want {
				t.Errorf("err = %v (%s), want %s", err, code, tt.want)
			}
		})
	}
}

// A restart, or the wait for a start already under way, is bounded by
// Options.StartTimeout, whatever time the caller has, and the sandbox (the
// caller's files in it) is kept.
func TestRestartIsBoundedByStartTimeout(t *testing.T) {
	tests := []struct {
		name    string
		actions []string
	}{
		{"stopped", []string{"stop"}},
		{"starting", []string{"stop", "start"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newProviderOn(t, Options{MaxPollInterval: 20 * time.Millisecond, StartTimeout: 200 * time.Millisecond},
				daytonalocal.Options{StartDelay: 1500 * time.Millisecond})
			ctx := context.Background()
			id := create(t, p, "sbx-slow")
			for _, a := range tt.actions {
				lifecycle(t, p, id, a)
			}
			start := time.Now()
			err := p.Upload(ctx, id, []service.UploadFile{{Path: "a", Content: []byte("a")}})
			if code := sandstep.ErrorCode(err); code != sandstep.ETRANSIENT {
				t.Fatalf("err = %v (%s), want transient", err, code)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("gave up after %v, want about StartTimeout", took)
			}
			if _, err := p.Get(ctx, id); err != nil {
				t.Errorf("sandbox after a restart that ran out of time: %v", err)
			}
		})
	}
}
