package daytona

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// fakeSleep records waits without waiting.
type fakeSleep struct{ waits []time.Duration }

func (f *fakeSleep) sleep(ctx context.Context, d time.Duration) error {
	f.waits = append(f.waits, d)
	return ctx.Err()
}

// scripted answers the n-th request (0-based) with statuses[n] (the last
// one repeats) and sets headers on non-2xx answers.
func scripted(statuses []int, header map[string]string, okBody string) func(w http.ResponseWriter, r *http.Request, _ []byte) {
	var n atomic.Int32
	return func(w http.ResponseWriter, r *http.Request, _ []byte) {
		i := int(n.Add(1)) - 1
		if i >= len(statuses) {
			i = len(statuses) - 1
		}
		st := statuses[i]
		if st >= 300 {
			for k, v := range header {
				w.Header().Set(k, v)
			}
			writeJSON(w, st, map[string]any{"statusCode": st, "message": "Sandbox state change in progress"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		w.Write([]byte(okBody))
	}
}

const okSandbox = `{"id":"sb-1","name":"n","state":"started","toolboxProxyUrl":""}`

func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []int
		header    map[string]string
		call      func(ctx context.Context, c *Client) error
		wantReqs  int
		wantErr   int // expected APIError status, 0 = success
		minFirst  time.Duration
		wantWaits int
		body      string
	}{
		{
			name: "429 honours Retry-After", statuses: []int{429, 200}, header: map[string]string{"Retry-After": "3"},
			call: getSandbox, wantReqs: 2, minFirst: 3 * time.Second, wantWaits: 1,
		},
		{
			name: "429 honours Retry-After-<name>", statuses: []int{429, 200}, header: map[string]string{"Retry-After-sandbox-lifecycle": "2"},
			call: deleteSandbox, wantReqs: 2, minFirst: 2 * time.Second, wantWaits: 1,
		},
		{
			name: "503 burst then success", statuses: []int{503, 503, 503, 200},
			call: getSandbox, wantReqs: 4, wantWaits: 3,
		},
		{
			name: "attempts exhausted", statuses: []int{502},
			call: getSandbox, wantReqs: 4, wantErr: 502, wantWaits: 3,
		},
		{
			name: "500 is not retried", statuses: []int{500, 200},
			call: getSandbox, wantReqs: 1, wantErr: 500,
		},
		{
			name: "404 is not retried", statuses: []int{404, 200},
			call: getSandbox, wantReqs: 1, wantErr: 404,
		},
		{
			name: "lifecycle 409 state change retried", statuses: []int{409, 409, 200},
			call: startSandbox, wantReqs: 3, wantWaits: 2,
		},
		{
			name: "GET 409 not retried", statuses: []int{409, 200},
			call: getSandbox, wantReqs: 1, wantErr: 409,
		},
		{
			name: "execute 503 not retried", statuses: []int{503, 200},
			call: execute, wantReqs: 1, wantErr: 503, body: `{"exitCode":0,"result":""}`,
		},
		{
			name: "execute 429 retried (not processed)", statuses: []int{429, 200}, header: map[string]string{"Retry-After": "1"},
			call: execute, wantReqs: 2, minFirst: time.Second, wantWaits: 1, body: `{"exitCode":0,"result":""}`,
		},
		{
			name: "session exec 502 not retried", statuses: []int{502, 200},
			call: sessionExec, wantReqs: 1, wantErr: 502, body: `{"cmdId":"c"}`,
		},
		{
			name: "Retry-After beyond the maximum gives up", statuses: []int{429, 200}, header: map[string]string{"Retry-After": "3600"},
			call: getSandbox, wantReqs: 1, wantErr: 429,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := okSandbox
			if tt.body != "" {
				body = tt.body
			}
			f := newFake(t, scripted(tt.statuses, tt.header, body))
			c := toolboxClient(t, f, "sb-1")
			fs := &fakeSleep{}
			c.sleep = fs.sleep
			err := tt.call(context.Background(), c)
			if tt.wantErr == 0 && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr != 0 {
				var ae *APIError
				if !errors.As(err, &ae) || ae.StatusCode != tt.wantErr {
					t.Fatalf("err = %v, want status %d", err, tt.wantErr)
				}
			}
			if n := len(f.requests()); n != tt.wantReqs {
				t.Errorf("%d requests, want %d", n, tt.wantReqs)
			}
			if len(fs.waits) != tt.wantWaits {
				t.Errorf("waits = %v, want %d", fs.waits, tt.wantWaits)
			}
			if tt.minFirst > 0 && (len(fs.waits) == 0 || fs.waits[0] < tt.minFirst) {
				t.Errorf("waits = %v, want the first >= %v", fs.waits, tt.minFirst)
			}
			for _, w := range fs.waits {
				if tt.minFirst == 0 && (w < 0 || w > c.retry.MaxDelay) {
					t.Errorf("wait %v outside [0, %v]", w, c.retry.MaxDelay)
				}
			}
		})
	}
}

func getSandbox(ctx context.Context, c *Client) error {
	_, err := c.GetSandbox(ctx, "sb-1")
	return err
}
func deleteSandbox(ctx context.Context, c *Client) error {
	_, err := c.DeleteSandbox(ctx, "sb-1")
	return err
}
func startSandbox(ctx context.Context, c *Client) error {
	_, err := c.StartSandbox(ctx, "sb-1")
	return err
}
func execute(ctx context.Context, c *Client) error {
	_, err := c.ExecuteCommand(ctx, "sb-1", ExecuteRequest{Command: "true"})
	return err
}
func sessionExec(ctx context.Context, c *Client) error {
	_, err := c.ExecuteSessionCommand(ctx, "sb-1", "s", SessionExecuteRequest{Command: "true"})
	return err
}

func TestBackoffIsFullJitterWithinCap(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1", func(cfg *Config) {
		cfg.Retry = RetryPolicy{MaxAttempts: 10, BaseDelay: 10 * time.Millisecond, MaxDelay: 80 * time.Millisecond}
	})
	for attempt := 1; attempt <= 8; attempt++ {
		ceiling := min(10*time.Millisecond<<(attempt-1), 80*time.Millisecond)
		var maxSeen time.Duration
		for range 2000 {
			d, ok := c.backoff(attempt, errors.New("x"))
			if !ok || d < 0 || d > ceiling {
				t.Fatalf("attempt %d: wait %v outside [0, %v]", attempt, d, ceiling)
			}
			maxSeen = max(maxSeen, d)
		}
		// Full jitter spreads over the whole range, not just near zero.
		if maxSeen < ceiling/2 {
			t.Errorf("attempt %d: largest of 2000 waits %v, want some above %v", attempt, maxSeen, ceiling/2)
		}
	}
}

func TestRetryNeverSleepsPastDeadline(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		policy RetryPolicy
	}{
		{"Retry-After longer than the time left", map[string]string{"Retry-After": "2"}, RetryPolicy{MaxAttempts: 100, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}},
		{"backoff reaching the deadline", nil, RetryPolicy{MaxAttempts: 1000, BaseDelay: 20 * time.Millisecond, MaxDelay: 60 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, scripted([]int{503}, tt.header, ""))
			c := newClient(t, f.URL, func(cfg *Config) { cfg.Retry = tt.policy })
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			deadline, _ := ctx.Deadline()
			rs := &recordingSleeper{check: func(ctx context.Context, d time.Duration) {
				if end := time.Now().Add(d); end.After(deadline) {
					t.Errorf("wait of %v would end %v after the deadline", d, end.Sub(deadline))
				}
			}}
			c.sleep = rs.sleep
			_, err := c.GetSandbox(ctx, "sb-1")
			var ae *APIError
			switch {
			case errors.As(err, &ae) && ae.StatusCode == 503:
				// Gave up before a wait that would cross the deadline.
			case tt.header == nil && errors.Is(err, context.DeadlineExceeded):
				// The deadline struck during the last request, after a
				// wait that ended in time; the check above covers waits.
			default:
				t.Fatalf("err = %v, want the last 503", err)
			}
			if tt.header != nil && len(rs.recorded()) != 0 {
				t.Errorf("slept %v although Retry-After exceeds the deadline", rs.recorded())
			}
			if tt.header == nil && len(rs.recorded()) < 2 {
				t.Errorf("only %d waits; the policy should have retried until the deadline", len(rs.recorded()))
			}
		})
	}
}

func TestCancelStopsRetriesAtOnce(t *testing.T) {
	t.Run("while waiting", func(t *testing.T) {
		first := make(chan struct{}, 1)
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			select {
			case first <- struct{}{}:
			default:
			}
			w.Header().Set("Retry-After", "8")
			writeJSON(w, 503, map[string]any{"message": "busy"})
		})
		c := newClient(t, f.URL)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-first; time.Sleep(20 * time.Millisecond); cancel() }()
		start := time.Now()
		_, err := c.GetSandbox(ctx, "sb-1")
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("returned after %v; the Retry-After wait was not interrupted", took)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled in the chain", err)
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != 503 {
			t.Errorf("err = %v, want the last 503 kept", err)
		}
		if IsTransient(err) {
			t.Errorf("a cancelled call must not look transient")
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("%d requests after cancel, want 1", n)
		}
	})
	t.Run("in flight", func(t *testing.T) {
		arrived := make(chan struct{})
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			close(arrived)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		c := newClient(t, f.URL)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-arrived; cancel() }()
		start := time.Now()
		_, err := c.GetSandbox(ctx, "sb-1")
		if took := time.Since(start); took > 4*time.Second {
			t.Errorf("returned after %v", took)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled in the chain", err)
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
}

func TestResponseHeaderTimeout(t *testing.T) {
	// hangFirst answers nothing to the first request and okBody after.
	hangFirst := func(t *testing.T, okBody string) *fake {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		var n atomic.Int32
		return newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			if n.Add(1) == 1 {
				select {
				case <-release:
				case <-r.Context().Done():
				}
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(okBody))
		})
	}
	short := func(cfg *Config) { cfg.ResponseHeaderTimeout = 50 * time.Millisecond }

	t.Run("idempotent call retried", func(t *testing.T) {
		f := hangFirst(t, okSandbox)
		c := newClient(t, f.URL, short)
		c.sleep = (&fakeSleep{}).sleep
		sb, err := c.GetSandbox(context.Background(), "sb-1")
		if err != nil {
			t.Fatalf("err = %v; a GET that timed out should be retried", err)
		}
		if sb.ID != "sb-1" || len(f.requests()) != 2 {
			t.Errorf("sandbox %+v after %d requests", sb, len(f.requests()))
		}
	})
	t.Run("non-idempotent call not repeated", func(t *testing.T) {
		f := hangFirst(t, `{"cmdId":"c"}`)
		c := toolboxClient(t, f, "sb-1", short)
		c.sleep = (&fakeSleep{}).sleep
		_, err := c.ExecuteSessionCommand(context.Background(), "sb-1", "s", SessionExecuteRequest{Command: "x", RunAsync: true})
		if !errors.Is(err, ErrResponseTimeout) || !IsTimeout(err) || !IsTransient(err) {
			t.Errorf("err = %v, want a response-header timeout", err)
		}
		if errors.Is(err, context.Canceled) {
			t.Errorf("a header timeout must not look like a cancelled caller: %v", err)
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
}

func TestExecuteWaitsForItsOwnTimeout(t *testing.T) {
	// ResponseHeaderTimeout is tiny, but execute waits timeout+5s.
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		time.Sleep(150 * time.Millisecond)
		writeJSON(w, 200, map[string]any{"exitCode": 0, "result": "done"})
	})
	c := toolboxClient(t, f, "sb-1", func(cfg *Config) { cfg.ResponseHeaderTimeout = 20 * time.Millisecond })
	res, err := c.ExecuteCommand(context.Background(), "sb-1", ExecuteRequest{Command: "sleep 0.15", Timeout: 1})
	if err != nil || res.Result != "done" {
		t.Fatalf("res, err = %+v, %v", res, err)
	}
}
