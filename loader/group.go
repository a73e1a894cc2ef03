package loader

import (
	"context"
	"runtime/debug"
	"sync"
)

// Group runs at most one function per key at a time and hands its result to
// every caller that asked for that key meanwhile. The zero value is ready to
// use; a Group must not be copied after first use.
//
// Unlike golang.org/x/sync/singleflight, a caller waits only as long as its
// context allows, and a panic becomes an error for every waiter.
type Group[K comparable, V any] struct {
	mu      sync.Mutex
	calls   map[K]*call[V]
	running int           // functions running on goroutines of their own
	idle    chan struct{} // closed when running drops to 0; nil when nobody waits
}

type call[V any] struct {
	done chan struct{} // closed when val and err are set
	val  V
	err  error
	dups int
}

// Do calls fn once for key among all concurrent callers and returns its
// result. shared reports whether the result went to more than one caller.
//
// fn runs detached from ctx: when ctx ends first, Do returns ctx.Err() at
// once and fn runs on, for the other callers; fn must therefore bound itself
// (the tiered cache gives it a context of its own with a timeout). When ctx
// can never end (its Done channel is nil), fn runs on the caller's goroutine;
// otherwise on a new one.
//
// If fn panics, or calls runtime.Goexit, every caller gets an error: a
// [*PanicError] or [ErrGoexit].
func (g *Group[K, V]) Do(ctx context.Context, key K, fn func() (V, error)) (v V, err error, shared bool) { //nolint:revive // error-return: x/sync singleflight's order, public API
	g.mu.Lock()
	if g.calls == nil {
		g.calls = make(map[K]*call[V])
	}
	if c, ok := g.calls[key]; ok {
		c.dups++
		g.mu.Unlock()
		return wait(ctx, c, true)
	}
	c := &call[V]{done: make(chan struct{})}
	g.calls[key] = c
	if ctx.Done() == nil {
		g.mu.Unlock()
		g.run(key, c, fn)
		return c.val, c.err, c.dups > 0
	}
	g.running++
	g.mu.Unlock()

	go func() {
		defer g.exit()
		g.run(key, c, fn)
	}()
	return wait(ctx, c, false)
}

// Start calls fn for key on a goroutine of its own, unless a call for key is
// running, and reports whether it started one. It does not wait: callers
// that Do the key meanwhile share fn's result, and Wait waits for it. fn
// must bound itself, as for Do. A panic in fn becomes the error of the
// callers that joined.
func (g *Group[K, V]) Start(key K, fn func() (V, error)) bool {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = make(map[K]*call[V])
	}
	if _, ok := g.calls[key]; ok {
		g.mu.Unlock()
		return false
	}
	c := &call[V]{done: make(chan struct{})}
	g.calls[key] = c
	g.running++
	g.mu.Unlock()
	go func() {
		defer g.exit()
		g.run(key, c, fn)
	}()
	return true
}

// wait returns c's result, or ctx.Err() if ctx ends first.
func wait[V any](ctx context.Context, c *call[V], dup bool) (v V, err error, shared bool) { //nolint:revive // error-return: Do's results, in Do's order
	select {
	case <-c.done:
		return c.val, c.err, dup || c.sharedAfterDone()
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err(), dup
	}
}

// sharedAfterDone reports whether anyone joined c; c.dups is final once
// c.done is closed (it is written under the group's lock before removal, and
// the close happens after the removal).
func (c *call[V]) sharedAfterDone() bool { return c.dups > 0 }

// run calls fn, turns a panic or Goexit into an error, publishes the result
// and removes the call from the group.
func (g *Group[K, V]) run(key K, c *call[V], fn func() (V, error)) {
	normal := false
	defer func() {
		if !normal {
			if r := recover(); r != nil {
				c.err = &PanicError{Value: r, Stack: debug.Stack()}
			} else {
				c.err = ErrGoexit
			}
		}
		g.mu.Lock()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
		g.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fn()
	normal = true
}

// exit marks the end of a function that ran on its own goroutine.
func (g *Group[K, V]) exit() {
	g.mu.Lock()
	g.running--
	if g.running == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
	g.mu.Unlock()
}

// Forget makes the next Do for key start a new call, even if one is running.
// Callers already waiting on the running call still get its result.
func (g *Group[K, V]) Forget(key K) {
	g.mu.Lock()
	delete(g.calls, key)
	g.mu.Unlock()
}

// Wait blocks until every function that Do started on a goroutine of its own
// has returned, or ctx ends. Functions started during Wait are waited for too.
func (g *Group[K, V]) Wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.running == 0 {
			g.mu.Unlock()
			return nil
		}
		if g.idle == nil {
			g.idle = make(chan struct{})
		}
		idle := g.idle
		g.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// InFlight reports whether a call for key is running.
func (g *Group[K, V]) InFlight(key K) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.calls[key]
	return ok
}

// Waiters returns how many callers joined the running call for key after the
// one that started it (0 when none runs).
func (g *Group[K, V]) Waiters(key K) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.calls[key]; ok {
		return c.dups
	}
	return 0
}
