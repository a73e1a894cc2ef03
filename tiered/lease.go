package tiered

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Leases: of the instances that miss a key at once, the one that gets the
// key's lease in L2 loads it, and the others wait for its value (see
// l2.Leaser and the architecture document). Single keys (Get, refresh) and
// batches (GetMany with a BatchLoader) take the same path.
const (
	// minLeasePoll and maxLeasePoll: a load that finds another instance's
	// lease on a key asks again after minLeasePoll, doubling up to
	// maxLeasePoll, until the value is there or the lease is gone. A
	// message from the holder (see wake) cuts a wait short.
	minLeasePoll = 2 * time.Millisecond
	maxLeasePoll = 50 * time.Millisecond
	// leaseChanges bounds how often a load asks again for a lease after
	// finding that L2 holds something new (another tombstone, another
	// expired value); then it loads without one.
	leaseChanges = 8
	// releaseTimeout bounds the release of leases after a load that
	// stores nothing.
	releaseTimeout = time.Second
	// wakeTimeout bounds the publication of a Wake message.
	wakeTimeout = time.Second
)

// leaseSet is the leases one load holds: one token, and, by index into the
// load's lookups, what it knows of each key's lease.
type leaseSet struct {
	token l2.Token
	keys  []leaseKey
}

// leaseKey is what a load knows of one key's lease.
type leaseKey struct {
	held    bool // the load holds the lease
	waited  bool // LeaseWaited was counted for the key
	changes int  // LeaseChanged answers that were not served
}

// holds reports whether the set holds the lease of lookup i.
func (s *leaseSet) holds(i int) bool { return s != nil && s.keys[i].held }

// leased loads lks under leases: the lookups at now at once, the ones at
// later after taking their leases (see load). It fills res.
//
// A lookup whose read took the key's lease already (observed.leased) is
// loaded at once under it: the set's token is then the cache's read token.
func (c *Cache[K, V]) leased(ctx, wait context.Context, lks []*lookup[K, V], now, later []int, cur *entry[V], batch bool, res []loaded[V]) {
	lease := &leaseSet{keys: make([]leaseKey, len(lks))}
	pending, load := later[:0:0], now
	for _, i := range later {
		if lks[i].seen.leased {
			lease.keys[i].held = true
			load = append(load, i)
		} else {
			pending = append(pending, i)
		}
	}
	if len(load) > len(now) {
		lease.token = *c.readToken
		c.stats.Add(stats.LeaseGranted, len(load)-len(now))
	} else {
		lease.token = l2.NewToken()
	}
	wctx := wait     // bounds the waiting: the caller's context and LoadTimeout
	if wait != ctx { // a load context is bounded by LoadTimeout already
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(wait, c.cfg.LoadTimeout)
		defer cancel()
	}
	// With a Tracer, the wait for other instances' leases is a span, from
	// the first key found held to the end of the load.
	var waitSpan stats.Span
	waited := 0
	defer func() {
		if waitSpan != nil {
			endSpan(waitSpan, stats.SpanEnd{Keys: waited}, wctx.Err())
		}
	}()
	poll := minLeasePoll
	for {
		if len(pending) > 0 {
			expect := make([]l2.Expect, len(pending))
			for j, i := range pending {
				expect[j] = l2.Expect{Key: lks[i].k, Old: lks[i].seen.frame}
			}
			answers, err := c.remote.lease(wctx, lease.token, c.cfg.LeaseTTL, expect)
			faulted := l2.Faulted(err) // the other keys' answers are good
			if faulted != nil {
				err = nil
			}
			switch {
			case err != nil && wctx.Err() == nil:
				// L2 failed: load the keys without leases; their values
				// stay out of L2, whose state is unknown.
				for _, i := range pending {
					lks[i].seen = observed{}
				}
				load = append(load, pending...)
				pending = nil
			case err != nil:
				c.failWaits(wait, wctx, pending, res)
				pending = nil
			default:
				held := pending[:0:0]
				granted := 0
				for j, i := range pending {
					if faulted[j] {
						// That key's lease is broken (l2.ErrKeyFault):
						// load it without one, and keep its value out of
						// L2, whose state for it is unknown.
						lks[i].seen = observed{}
						load = append(load, i)
						continue
					}
					switch a := answers[j]; a.State {
					case l2.LeaseGranted:
						lease.keys[i].held = true
						granted++
						load = append(load, i)
					case l2.LeaseChanged:
						e, seen := c.adopt(ctx, lks[i], a.Value, cur)
						if e != nil {
							res[i] = loaded[V]{e: e}
							continue
						}
						lks[i].seen = seen
						if lease.keys[i].changes++; lease.keys[i].changes > leaseChanges || !seen.writable() {
							load = append(load, i) // conditionally, without a lease
							continue
						}
						held = append(held, i) // ask again
					default: // held by another instance
						if cur != nil { // a refresh: the holder's value will come
							res[i] = loaded[V]{e: cur}
							continue
						}
						if !lease.keys[i].waited {
							lease.keys[i].waited = true
							c.stats.Add(stats.LeaseWaited, 1)
							if waited++; waitSpan == nil && c.cfg.Tracer != nil {
								_, waitSpan = c.span(ctx, "lease_wait")
							}
						}
						held = append(held, i)
					}
				}
				c.stats.Add(stats.LeaseGranted, granted)
				pending = held
			}
		}
		if len(load) > 0 {
			c.loadAndStore(ctx, lks, load, lease, cur, batch, res)
			load = nil
		}
		if len(pending) == 0 {
			return
		}
		if !c.awaitLeases(wctx, lks, pending, poll) {
			c.failWaits(wait, wctx, pending, res)
			return
		}
		poll = min(2*poll, maxLeasePoll)
	}
}

// failWaits sets the results of the lookups at idx, which waited for other
// instances' leases until wctx ended: the caller's context's error, or
// LoadTimeout's.
func (c *Cache[K, V]) failWaits(wait, wctx context.Context, idx []int, res []loaded[V]) {
	err := wait.Err()
	if err == nil {
		err = fmt.Errorf("tiered: %s: waiting for another instance's load for LoadTimeout: %w", c.cfg.Name, wctx.Err())
	}
	for _, i := range idx {
		res[i] = loaded[V]{err: err}
	}
}

// awaitLeases waits until it is time to ask again for the leases of the
// lookups at idx: after poll, or sooner when a message names one of their
// keys (the holder stored its value or gave up). It reports false when
// wctx ended first.
func (c *Cache[K, V]) awaitLeases(wctx context.Context, lks []*lookup[K, V], idx []int, poll time.Duration) bool {
	keys := make([]string, len(idx))
	for j, i := range idx {
		keys[j] = lks[i].k
	}
	w := c.waiters.add(keys)
	defer c.waiters.remove(w, keys)
	t := time.NewTimer(poll)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w:
		c.stats.Add(stats.LeaseWoken, 1)
		return true
	case <-wctx.Done():
		return false
	}
}

// releaseLeases gives back token's leases of the L1 keys ks after a load
// that stores nothing for them, so that another instance need not wait
// for them to expire, and wakes the instances that waited. It runs even
// when ctx has ended (Close), for a short while.
func (c *Cache[K, V]) releaseLeases(ctx context.Context, token l2.Token, ks []string) {
	if len(ks) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if waited, err := c.remote.release(rctx, token, ks); err == nil {
		c.wake(rctx, waited)
	}
}

// wake tells the loads waiting for the leases of ks, which this instance's
// load just ended (its value stored, or the lease released), to look
// again: those of this instance at once, those of other instances through
// a Wake message on the bus. The message is sent on a goroutine of its own
// (bounded by wakeTimeout, waited for by Close): the load's callers do not
// wait for it, which matters when the bus is down and L2 is not.
func (c *Cache[K, V]) wake(ctx context.Context, ks []string) {
	if len(ks) == 0 {
		return
	}
	c.waiters.wake(ks)
	if c.cfg.Bus == nil {
		return
	}
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.closing {
		return
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wakeTimeout)
		defer cancel()
		_ = c.publish(wctx, &invalidate.Message{Keys: ks, Wake: true}) // best effort: waiters poll anyway
	}()
}

// waiters are the loads of this instance that wait for other loads'
// leases, by key, so that a message naming a key cuts their wait short.
type waiters struct {
	n  atomic.Int64 // waits registered: the receiver's fast check
	mu sync.Mutex
	m  map[string][]chan struct{}
}

// add registers a wait on keys and returns the channel that wakes it.
func (ws *waiters) add(keys []string) chan struct{} {
	w := make(chan struct{}, 1)
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.m == nil {
		ws.m = make(map[string][]chan struct{})
	}
	for _, k := range keys {
		ws.m[k] = append(ws.m[k], w)
	}
	ws.n.Add(1)
	return w
}

// remove ends the wait w on keys.
func (ws *waiters) remove(w chan struct{}, keys []string) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, k := range keys {
		l := slices.DeleteFunc(ws.m[k], func(x chan struct{}) bool { return x == w })
		if len(l) == 0 {
			delete(ws.m, k)
		} else {
			ws.m[k] = l
		}
	}
	ws.n.Add(-1)
}

// wake wakes the waits on any of keys.
func (ws *waiters) wake(keys []string) {
	if ws.n.Load() == 0 {
		return
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, k := range keys {
		for _, w := range ws.m[k] {
			select {
			case w <- struct{}{}:
			default:
			}
		}
	}
}
