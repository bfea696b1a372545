package app

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/daytona"
	"github.com/sandstep/sandstep/internal/testutil"
)

// The latencies of AWS and Daytona the benchmark injects (issue 13):
// Daytona's create at its published median, DynamoDB within a region.
var (
	benchStoreLatency   = testutil.DynamoDBLatency(5*time.Millisecond, 10*time.Millisecond)
	benchDaytonaLatency = testutil.DaytonaLatency(testutil.DaytonaDelays{
		Create: 110 * time.Millisecond, Get: 20 * time.Millisecond, Delete: 30 * time.Millisecond,
		Toolbox: 20 * time.Millisecond, Other: 20 * time.Millisecond,
	})
)

// The orchestration overhead (docs/performance.md): each lifecycle call
// through the handler against the bare Daytona client call it wraps, in
// the same run, both through the same latency wires, so the ratio is what
// a user would feel in AWS. `make bench` prints the medians and ratios.
//
//	go test -run '^$' -bench BenchmarkLifecycle -count 6 ./internal/app/ | go run ./infra/benchratio
func BenchmarkLifecycle(b *testing.B) {
	s := newStackVia(b, map[string]string{"DEFAULT_USER_QUOTA": "1000", "LOG_LEVEL": "error"}, func(service, url string) string {
		l := benchStoreLatency
		if service == testutil.Daytona {
			l = benchDaytonaLatency
		}
		return testutil.NewWire(b, service, url, l, nil).URL
	})
	ctx := context.Background()
	const user = "bench"

	createHandler := func(b *testing.B) string {
		status, sb := s.call(b, user, "POST /sandboxes", "/sandboxes", nil)
		if status != 201 {
			b.Fatalf("create: %d %v", status, sb)
		}
		return sb["id"].(string)
	}
	deleteHandler := func(b *testing.B, id string) {
		if status, resp := s.call(b, user, "DELETE /sandboxes/{id}", "/sandboxes/"+id, nil); status != 200 {
			b.Fatalf("delete: %d %v", status, resp)
		}
	}
	// minidyn copies the whole table in every transaction, so a growing
	// table would make each create and delete slower than the last (real
	// DynamoDB does not). Empty it, off the clock, every few cycles: at
	// these points nothing is live.
	n := 0
	keepSmall := func(b *testing.B) {
		if n++; n%20 == 0 {
			b.StopTimer()
			if err := s.mini.ClearTable("sandstep"); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	createBare := func(b *testing.B, name string) *daytona.Sandbox {
		sb, err := s.client.CreateSandboxAndWait(ctx, daytona.CreateSandboxParams{Name: name})
		if err != nil {
			b.Fatal(err)
		}
		return sb
	}

	b.Run("create/handler", func(b *testing.B) {
		for b.Loop() {
			id := createHandler(b)
			b.StopTimer()
			deleteHandler(b, id)
			b.StartTimer()
			keepSmall(b)
		}
	})
	b.Run("create/bare", func(b *testing.B) {
		n := 0
		for b.Loop() {
			n++
			sb := createBare(b, "bare-create-"+strconv.Itoa(n))
			b.StopTimer()
			if _, err := s.client.DeleteSandbox(ctx, sb.ID); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})

	id := createHandler(b)
	rec, err := s.store.GetSandbox(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	execHandler := func(b *testing.B, id string) {
		if status, res := s.call(b, user, "POST /sandboxes/{id}/exec", "/sandboxes/"+id+"/exec", map[string]any{"command": "true"}); status != 200 {
			b.Fatalf("exec: %d %v", status, res)
		}
	}
	// An agent's commands after its first, on an instance that has seen
	// the sandbox: its owner is known, the read runs beside the session.
	b.Run("exec/handler", func(b *testing.B) {
		for b.Loop() {
			execHandler(b, id)
		}
	})
	// The first command an instance runs in a sandbox: the owner is read
	// before the sandbox is touched. A warm instance of the execute
	// function that has not seen the sandbox: another instance than the
	// one that made it, its connections opened by a status.
	b.Run("exec/handler-first", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			sb := createHandler(b)
			other := s.instance(b)
			if status, res := other.call(b, user, "GET /sandboxes/{id}", "/sandboxes/"+id, nil); status != 200 {
				b.Fatalf("status: %d %v", status, res)
			}
			b.StartTimer()
			if status, res := other.call(b, user, "POST /sandboxes/{id}/exec", "/sandboxes/"+sb+"/exec", map[string]any{"command": "true"}); status != 200 {
				b.Fatalf("exec: %d %v", status, res)
			}
			b.StopTimer()
			deleteHandler(b, sb) // the table is emptied later: the sandbox above is live
			b.StartTimer()
		}
	})
	// The same Daytona calls the provider makes: a session of its own, a
	// synchronous exec, the session deleted; running the command alone, and
	// running what the handler runs (the command under /bin/sh -c, its
	// contract, one process more in the sandbox).
	for name, command := range map[string]string{"exec/bare-session": "true", "exec/bare-session-sh": "/bin/sh -c 'true'"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if err := s.client.CreateSession(ctx, rec.DaytonaID, "bare"); err != nil {
					b.Fatal(err)
				}
				if _, err := s.client.ExecuteSessionCommand(ctx, rec.DaytonaID, "bare", daytona.SessionExecuteRequest{Command: command}); err != nil {
					b.Fatal(err)
				}
				if err := s.client.DeleteSession(ctx, rec.DaytonaID, "bare"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The single call a caller without separate streams would make.
	b.Run("exec/bare-execute", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.client.ExecuteCommand(ctx, rec.DaytonaID, daytona.ExecuteRequest{Command: "true", Timeout: 10}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("status/handler", func(b *testing.B) {
		for b.Loop() {
			if status, res := s.call(b, user, "GET /sandboxes/{id}", "/sandboxes/"+id, nil); status != 200 {
				b.Fatalf("status: %d %v", status, res)
			}
		}
	})
	b.Run("status/bare", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.client.GetSandbox(ctx, rec.DaytonaID); err != nil {
				b.Fatal(err)
			}
		}
	})
	deleteHandler(b, id)

	b.Run("delete/handler", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			id := createHandler(b)
			b.StartTimer()
			deleteHandler(b, id)
			keepSmall(b)
		}
	})
	b.Run("delete/bare", func(b *testing.B) {
		n := 0
		for b.Loop() {
			n++
			b.StopTimer()
			sb := createBare(b, "bare-delete-"+strconv.Itoa(n))
			b.StartTimer()
			if _, err := s.client.DeleteSandbox(ctx, sb.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}
