package tiered

import (
	"container/list"
	"context"
	"sync"
)

// gate bounds the L2 calls in flight (Options.MaxL2Calls) and decides who
// goes next when they are all taken: the calls of loads and writes (a
// lease, the store of a loaded value, a Set, a tombstone) before the first
// reads of Get and GetMany. Under a burst of distinct misses, the reads
// then wait in the gate, where the caller's context (and L2Timeout) can end
// the wait, rather than in the L2 client's pool, where they would time out
// and open the breaker; and the loads that did start finish and store
// their values instead of queueing behind reads that came later.
//
// Free, it costs a lock and an unlock; it allocates only to queue.
type gate struct {
	mu        sync.Mutex
	free      int
	high, low list.List // of *waiter, first come first served
}

// waiter is a call queued at the gate; granted and elem are guarded by
// the gate's mutex.
type waiter struct {
	ready   chan struct{}
	granted bool
	queue   *list.List
	elem    *list.Element
}

func newGate(n int) *gate { return &gate{free: n} }

// enter takes a slot, waiting while ctx lasts; high says the call is a
// load's or a write's. It returns ctx's error when ctx ended first.
func (g *gate) enter(ctx context.Context, high bool) error {
	g.mu.Lock()
	if g.free > 0 && (high || g.high.Len() == 0) {
		g.free--
		g.mu.Unlock()
		return nil
	}
	w := &waiter{ready: make(chan struct{}), queue: &g.low}
	if high {
		w.queue = &g.high
	}
	w.elem = w.queue.PushBack(w)
	g.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	granted := w.granted
	if !granted {
		w.queue.Remove(w.elem)
	}
	g.mu.Unlock()
	if granted { // the slot was handed over as ctx ended: pass it on
		g.leave()
	}
	return ctx.Err()
}

// leave gives a slot back, to the first high waiter, else the first low
// one.
func (g *gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, q := range [...]*list.List{&g.high, &g.low} {
		if e := q.Front(); e != nil {
			w := q.Remove(e).(*waiter)
			w.granted = true
			close(w.ready)
			return
		}
	}
	g.free++
}
