package l1

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// guard lets many goroutines use a resource at once and one goroutine close
// it once none is inside. It counts the callers inside on counters that
// stay with a processor: a sync.Pool hands each P the counter it used last,
// so the count's cache line rarely moves between cores. On 2 cores a guarded
// parallel ristretto Get costs what an unguarded one does, where a
// sync.RWMutex (one shared counter) or counters picked at random cost 1.5 to
// 1.8 times as much, through cache-line traffic (BenchmarkGuard).
//
// The counters are a fixed set: when the pool drops one (at a GC), New
// hands out another of the same set, so Close has a bounded set to wait on.
type guard struct {
	closed   atomic.Bool
	counters [guardCounters]paddedCounter
	next     atomic.Uint32
	pool     sync.Pool
}

const guardCounters = 32

type paddedCounter struct {
	n atomic.Int64
	_ [56]byte
}

// enter returns the counter to pass to leave, or nil when the resource is
// closed (the caller must not use it, nor call leave).
func (g *guard) enter() *paddedCounter {
	c, _ := g.pool.Get().(*paddedCounter)
	if c == nil {
		c = &g.counters[g.next.Add(1)%guardCounters]
	}
	c.n.Add(1)
	// Sequentially consistent atomics: either close sees our increment, or
	// we see closed.
	if g.closed.Load() {
		c.n.Add(-1)
		g.pool.Put(c)
		return nil
	}
	return c
}

func (g *guard) leave(c *paddedCounter) {
	c.n.Add(-1)
	g.pool.Put(c)
}

// close marks the resource closed and waits until no caller is inside. It
// reports whether this call closed it (false when it already was).
func (g *guard) close() bool {
	if g.closed.Swap(true) {
		return false
	}
	for i := range g.counters {
		for g.counters[i].n.Load() != 0 {
			runtime.Gosched()
		}
	}
	return true
}
