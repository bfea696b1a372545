package service

import (
	"context"
	"runtime"
	"sync"
)

// A call's round trips overlap where one does not need the other's
// answer. Whatever runs beside the caller is awaited before the caller
// answers: Lambda freezes the process once it has answered, and work left
// running then is lost.

// overlap starts fn at once and returns wait, for its outcome, and stop,
// for a caller that no longer needs it (fn's context is cancelled, then
// awaited). A panic in fn resurfaces in wait or stop: a crash there is the
// caller's crash.
func overlap[T any](ctx context.Context, fn func(context.Context) (T, error)) (wait func() (T, error), stop func()) {
	wait, _, stop = overlapDone(ctx, fn)
	return wait, stop
}

// overlapDone is overlap with a channel closed once fn has returned, for
// a caller that must not wait longer than it has.
func overlapDone[T any](ctx context.Context, fn func(context.Context) (T, error)) (wait func() (T, error), finished <-chan struct{}, stop func()) {
	type outcome struct {
		v     T
		err   error
		panic any
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan outcome, 1)
	fin := make(chan struct{})
	go func() {
		var o outcome
		defer func() {
			o.panic = recover()
			done <- o
			close(fin)
		}()
		o.v, o.err = fn(ctx)
	}()
	var once sync.Once
	var o outcome
	wait = func() (T, error) {
		once.Do(func() { o = <-done; cancel() })
		if o.panic != nil {
			panic(o.panic)
		}
		return o.v, o.err
	}
	stop = func() {
		cancel()
		_, _ = wait()
	}
	return wait, fin, stop
}

// besideKey carries the work a provider may leave running beside the
// service's last write of a call (see withBeside).
type besideKey struct{}

// withBeside returns a context under which Beside runs work in the
// background, and the wait that awaits it.
func withBeside(ctx context.Context) (context.Context, func()) {
	var wg sync.WaitGroup
	return context.WithValue(ctx, besideKey{}, &wg), wg.Wait
}

// Beside runs fn beside the caller's remaining work when the service asked
// for that (an exec's session is deleted while its audit event is
// written), else at once. fn must not need ctx's cancellation.
func Beside(ctx context.Context, fn func()) {
	wg, ok := ctx.Value(besideKey{}).(*sync.WaitGroup)
	if !ok {
		fn()
		return
	}
	wg.Go(fn)
	// fn is a provider's call, which waits far longer than the caller's
	// own last work: yielding lets it go out first, where the new
	// goroutine would otherwise wait for an idle processor to wake
	// (0.24 ms measured before an exec's session deletion left).
	runtime.Gosched()
}
