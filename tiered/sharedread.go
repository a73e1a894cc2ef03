package tiered

import (
	"context"
	"sync"
)

// readGroup shares one L2 read of a key among the readers that miss L1
// while it runs, so that a hot key missing from L1 costs one round trip
// rather than one per reader (1,000 goroutines on a cold key sent 1,000
// GETs before they joined the one load).
//
// It is lighter than a loader.Group, because every L2 hit goes through it:
// the first reader reads on its own goroutine with its own context, a
// reader alone allocates nothing (its call comes from a pool and goes back
// to it), and the channel that wakes joiners is made only when one joins.
type readGroup struct {
	mu    sync.Mutex
	calls map[string]*readCall
	pool  sync.Pool // of *readCall that nobody joined
}

// readCall is one shared read.
type readCall struct {
	done  chan struct{} // made by the first joiner, closed when res is set; nil while nobody joined
	res   l2read
	alone bool // the reader's context ended: joiners read on their own
}

// l2read is what one read of a key in L2 found.
type l2read struct {
	frame   []byte
	ok      bool
	granted bool   // the read took the key's lease for the cache's token (see Cache.readToken)
	gen     uint64 // the key's generation before the read
}

// sharedGetL2 is remote.getLease (with the cache's read token) for a
// reader whose generation of k (hash h) is gen,
// sharing the read with the readers of k that miss L1 at the same time. A
// reader takes a shared result only when the key's generation had not
// moved between the read's start and gen: then the read saw everything
// written before the reader began. Otherwise, or when the reader that read
// left early (its context ended), it reads on its own. A joiner whose ctx
// ends gets ctx.Err() at once. A lease the read took is shared too: the
// token is the instance's, so that whichever reader leads the flight of
// the load holds it.
func (c *Cache[K, V]) sharedGetL2(ctx context.Context, k string, h, gen uint64) (frame []byte, ok, granted bool, err error) {
	g := &c.reads
	g.mu.Lock()
	if call, ok := g.calls[k]; ok {
		if call.done == nil {
			call.done = make(chan struct{})
		}
		done := call.done
		g.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return nil, false, false, ctx.Err()
		}
		if call.alone || call.res.gen != gen {
			return c.remote.getLease(ctx, k, true, c.readToken)
		}
		return call.res.frame, call.res.ok, call.res.granted, nil
	}
	if g.calls == nil {
		g.calls = make(map[string]*readCall)
	}
	call, _ := g.pool.Get().(*readCall)
	if call == nil {
		call = new(readCall)
	}
	g.calls[k] = call
	g.mu.Unlock()

	rgen := c.gens.load(h)
	frame, ok, granted, err = c.remote.getLease(ctx, k, true, c.readToken)

	g.mu.Lock()
	delete(g.calls, k)
	done := call.done
	if done == nil { // nobody joined, and nobody can now
		g.mu.Unlock()
		*call = readCall{}
		g.pool.Put(call)
		return frame, ok, granted, err
	}
	call.res = l2read{frame: frame, ok: ok, granted: granted, gen: rgen}
	call.alone = err != nil
	g.mu.Unlock()
	close(done)
	return frame, ok, granted, err
}
