package l1

import (
	"math/rand/v2"
	"runtime"
	"sync/atomic"
)

// guard lets many goroutines use a resource at once and one goroutine close
// it once none is inside. It is a reader count striped over cache lines: a
// single shared counter (sync.RWMutex) costs an L1 hit about half its
// speed on two cores through cache-line contention.
type guard struct {
	closed  atomic.Bool
	stripes [guardStripes]paddedCounter
}

const guardStripes = 16

type paddedCounter struct {
	n atomic.Int64
	_ [56]byte
}

// enter returns the stripe to pass to leave, or false when the resource is
// closed (the caller must not use it, nor call leave).
func (g *guard) enter() (int, bool) {
	i := int(rand.Uint32() % guardStripes)
	g.stripes[i].n.Add(1)
	// Sequentially consistent atomics: either close sees our increment, or
	// we see closed.
	if g.closed.Load() {
		g.stripes[i].n.Add(-1)
		return 0, false
	}
	return i, true
}

func (g *guard) leave(i int) { g.stripes[i].n.Add(-1) }

// close marks the resource closed and waits until no caller is inside. It
// reports whether this call closed it (false when it already was).
func (g *guard) close() bool {
	if g.closed.Swap(true) {
		return false
	}
	for i := range g.stripes {
		for g.stripes[i].n.Load() != 0 {
			runtime.Gosched()
		}
	}
	return true
}
