package service

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sandstep/sandstep/internal/sandstep"
	"github.com/sandstep/sandstep/internal/store"
	"github.com/sandstep/sandstep/internal/store/storetest"
)

// A create whose provider work runs until the deadline must still clean
// up before it: after the deadline Lambda freezes the process, and the
// sandbox and its slot would leak.
func TestFailedCreateCleansUpBeforeTheDeadline(t *testing.T) {
	st, _, _ := storetest.New(t, store.Options{DefaultQuota: 2})
	p := newFakeProvider()
	p.hangCreate = true
	svc := newService(t, p, st, nil, Options{CleanupReserve: 300 * time.Millisecond, CleanupTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	_, err := svc.CreateSandbox(ctx, alice(), CreateSandboxInput{})
	wantCode(t, err, sandstep.ETIMEOUT)
	if ctx.Err() != nil {
		t.Errorf("create answered after the caller's deadline")
	}
	if p.lateDeletes != 0 || len(p.live()) != 0 {
		t.Errorf("late deletes %d, live sandboxes %v: the cleanup did not fit", p.lateDeletes, p.live())
	}
	if q, _ := st.GetQuota(context.Background(), "alice"); q.Active != 0 {
		t.Errorf("active slots = %d, want 0", q.Active)
	}

	short, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	_, err = svc.CreateSandbox(short, alice(), CreateSandboxInput{})
	wantCode(t, err, sandstep.ETIMEOUT)
	if p.creates != 1 {
		t.Errorf("a create without time to clean up reached the provider")
	}
}

// The agent's command ran: a failed delete must not throw its result away
// (a retry would run it again).
func TestAgentExecuteKeepsTheResultWhenDeleteFails(t *testing.T) {
	h := newHarness(t, 3)
	h.provider.failOn("delete", sandstep.Errorf(sandstep.ETRANSIENT, "daytona down"))
	call := Call{UserID: "alice", IdempotencyKey: "agent-1"}
	in := AgentExecuteInput{Command: "git push"}
	res, err := h.svc.AgentExecute(context.Background(), call, in)
	if err != nil || res.Deleted || res.Stdout != "hello\n" {
		t.Fatalf("agent execute = %+v, %v; want the result with deleted false", res, err)
	}
	again, err := h.svc.AgentExecute(context.Background(), call, in)
	if err != nil || again.SandboxID != res.SandboxID {
		t.Fatalf("retry = %+v, %v; want the stored result", again, err)
	}
	if n := len(h.provider.execs); n != 1 {
		t.Errorf("the command ran %d times, want once", n)
	}
}

// A response too large to keep is remembered as done: a retry with the
// same key gets a conflict, never a second run.
func TestLargeResultIsNotRunTwice(t *testing.T) {
	h := newHarness(t, 3)
	sb, err := h.svc.CreateSandbox(context.Background(), alice(), CreateSandboxInput{})
	if err != nil {
		t.Fatal(err)
	}
	h.provider.execResult = ExecResult{Stdout: strings.Repeat("x", 400_000)}
	call := Call{UserID: "alice", IdempotencyKey: "big-1"}
	if _, err := h.svc.Exec(context.Background(), call, sb.ID, ExecInput{Command: "cat big"}); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.Exec(context.Background(), call, sb.ID, ExecInput{Command: "cat big"})
	wantCode(t, err, sandstep.ECONFLICT)
	if n := len(h.provider.execs); n != 1 {
		t.Errorf("the command ran %d times, want once", n)
	}
}

func TestFitResponse(t *testing.T) {
	tests := []struct {
		name      string
		res       ExecResult
		perStream int
		max       int
		truncated bool
	}{
		{"fits", ExecResult{Stdout: "ok\n", Stderr: "warn\n"}, 100, 1000, false},
		{"each stream bounded", ExecResult{Stdout: "abcdefghij", Stderr: "klmnopqrst"}, 4, 1000, true},
		{"control bytes escape seven-fold over HTTP", ExecResult{Stdout: strings.Repeat("\x00", 10_000), Stderr: "e"}, 1 << 20, 20_000, true},
		{"quotes escape four-fold over HTTP", ExecResult{Stdout: strings.Repeat(`"`, 10_000), Stderr: strings.Repeat(`\`, 10_000)}, 1 << 20, 50_000, true},
		{"HTML characters as they are", ExecResult{Stdout: strings.Repeat("<&>", 10_000)}, 1 << 20, 31_000, false},
		{"multi-byte characters stay whole", ExecResult{Stderr: strings.Repeat("é", 50_000)}, 1 << 20, 30_000, true},
		{"multi-byte characters stay whole at the stream bound", ExecResult{Stdout: "ééé"}, 3, 1000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.res
			fitResponse(&res, tt.perStream, tt.max)
			// As it leaves over HTTP: API Gateway's response, encoded by
			// the Lambda runtime, its body the API's encoding.
			body, err := EncodeJSON(res)
			if err != nil {
				t.Fatal(err)
			}
			payload, _ := EncodeJSON(events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: string(body)})
			envelope, _ := EncodeJSON(events.APIGatewayV2HTTPResponse{StatusCode: 200})
			if n := len(payload) - len(envelope); n > tt.max || res.Truncated != tt.truncated {
				t.Errorf("its body takes %d bytes of the Lambda response (max %d), truncated %v (want %v)", n, tt.max, res.Truncated, tt.truncated)
			}
			if len(res.Stdout) > tt.perStream || len(res.Stderr) > tt.perStream {
				t.Errorf("a stream is over %d bytes: %d, %d", tt.perStream, len(res.Stdout), len(res.Stderr))
			}
			if !strings.HasPrefix(tt.res.Stdout, res.Stdout) || !strings.HasPrefix(tt.res.Stderr, res.Stderr) {
				t.Error("fitting must keep the start of each stream")
			}
			if strings.ContainsRune(res.Stdout+res.Stderr, '\uFFFD') || !utf8.ValidString(res.Stdout+res.Stderr) {
				t.Error("a character was cut in half")
			}
		})
	}
}

// cutUTF8 keeps a character whole, backing off over at most the three
// bytes of one that the cut would split: bytes that are not UTF-8 are cut
// where asked, never back to nothing (a page of them would never move on).
func TestCutUTF8(t *testing.T) {
	tests := []struct {
		name string
		s    string
		n    int
		want string
	}{
		{"ASCII", "abcdef", 3, "abc"},
		{"all of it", "abc", 5, "abc"},
		{"nothing asked", "abc", 0, ""},
		{"a two-byte character cut", "aé", 2, "a"},
		{"a four-byte character cut after three", "a😀b", 4, "a"},
		{"a four-byte character cut after one", "a😀b", 2, "a"},
		{"a four-byte character kept whole", "a😀b", 5, "a😀"},
		{"continuation bytes only", strings.Repeat("\x80", 10), 5, strings.Repeat("\x80", 5)},
		{"a character then stray continuation bytes", "é\x80\x80z", 3, "é\x80"},
		{"a cut character then continuation bytes", "a\xe2\x82\x82\x82z", 3, "a"},
		{"a lead byte long before the cut", "\xe2" + strings.Repeat("\x80", 8), 6, "\xe2" + strings.Repeat("\x80", 5)},
		{"a first character cut after one", "éx", 1, ""},
		{"a first character cut after two", "€x", 2, ""},
		{"a first character cut after three", "😀x", 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cutUTF8(tt.s, tt.n); got != tt.want {
				t.Errorf("cutUTF8(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
			}
		})
	}
}

func TestClonePath(t *testing.T) {
	tests := []struct {
		git  GitSource
		want string
	}{
		{GitSource{URL: "https://github.com/octo/repo.git"}, "repo"},
		{GitSource{URL: "https://github.com/octo/repo/"}, "repo"},
		{GitSource{URL: "git@github.com:octo/tool.git"}, "tool"},
		{GitSource{URL: "https://h/.."}, "repo"},
		{GitSource{URL: "https://h/r", Path: "src/r"}, "src/r"},
	}
	for _, tt := range tests {
		if got := clonePath(&tt.git); got != tt.want {
			t.Errorf("clonePath(%+v) = %q, want %q", tt.git, got, tt.want)
		}
	}
	for _, g := range []GitSource{{URL: "https://h/x/.sandstep.git"}, {URL: "https://h/r", Path: ".sandstep/x"}} {
		if err := validateGit(&g); sandstep.ErrorCode(err) != sandstep.EINVALID {
			t.Errorf("a clone into .sandstep/ (%+v) was accepted: %v", g, err)
		}
	}
}

// A git URL carries no credential: over http(s) not even a user name
// (GitHub takes a token there); ssh's user is an account, not a secret.
func TestGitURLUser(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"https://github.com/o/r.git", true},
		{"ssh://git@github.com/o/r.git", true},
		{"https://ghp_0123456789abcdef@github.com/o/r.git", false},
		{"http://user@h/r", false},
		{"https://x-access-token:ghp_abc@github.com/o/r.git", false},
		{"ssh://git:pw@h/r", false},
	} {
		t.Run(tt.url, func(t *testing.T) {
			err := validateGit(&GitSource{URL: tt.url})
			if (err == nil) != tt.ok || err != nil && sandstep.ErrorField(err) != "git.url" {
				t.Errorf("validateGit(%q) = %v, want ok %v", tt.url, err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), "ghp_") {
				t.Errorf("the error echoes the token: %v", err)
			}
		})
	}
}
