package tiered

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tiercache/tiercache/tiered/stats"
)

// Get returns the value of key: from L1, else from L2, else from the Loader
// (one load per key at a time across all callers of this instance, and,
// with leases, across the instances that share L2).
//
// A value close to its expiry is refreshed in the background (see
// Options.Beta), and an expired one may be served while it is refreshed or
// when its load fails (Options.StaleWhileRevalidate, StaleIfError).
//
// It returns ErrNotFound (possibly wrapped) when the loader says the key does
// not exist, ErrMiss when there is no loader and neither tier holds the key,
// the loader's error when it fails, and an error wrapping ctx.Err() when ctx
// ends first (the load goes on for other callers). An L2 failure is never
// returned by Get: it is counted, and the read goes on without L2.
func (c *Cache[K, V]) Get(ctx context.Context, key K) (V, error) {
	if c.cfg.Tracer != nil {
		return c.getTraced(ctx, key)
	}
	e, _, err := c.get(ctx, key, nil)
	if err != nil {
		var zero V
		return zero, err
	}
	return e.result()
}

// get is Get, and GetWith with o (nil for Get): it returns the entry to
// serve and the tier that answered, or Get's error (ErrNotFound included,
// with the loader's tier).
func (c *Cache[K, V]) get(ctx context.Context, key K, o *GetOptions) (*entry[V], stats.Tier, error) {
	if c.closed.Load() {
		return nil, stats.TierNone, ErrClosed
	}
	k := c.cfg.Key(key)
	if len(k) > MaxKeySize {
		return nil, stats.TierNone, c.errKey(k)
	}
	if c.hot != nil {
		c.sampleRead(k)
	}
	var stale *entry[V] // an expired entry that may stand in for a failed load
	if o == nil || !o.SkipL1 {
		if v, ok := c.l1.Get(k); ok && c.live(v.(*entry[V])) {
			e := v.(*entry[V])
			if !c.fresh.check(e.delta) || c.serves(ctx, key, k, e, c.hitMilli()) {
				c.stats.Add(stats.L1Hit, 1)
				if c.obs != nil {
					c.observe(key, k, e)
				}
				return e, stats.TierL1, nil
			}
			stale = e
		}
		c.stats.Add(stats.L1Miss, 1)
	}

	lk := c.newLookup(key, k, stale)
	if o != nil {
		lk.ttl, lk.l1ttl, lk.noL1, lk.tags = o.TTL, o.L1TTL, o.SkipL1, o.Tags
	}
	e, err := c.readL2(ctx, &lk)
	if err != nil {
		return nil, stats.TierNone, c.errCtx("get", err)
	}
	if e != nil {
		return e, stats.TierL2, nil
	}
	if c.cfg.Loader == nil && c.cfg.BatchLoader == nil {
		return nil, stats.TierNone, ErrMiss
	}
	e, err = c.loadOne(ctx, lk)
	switch {
	case err == nil:
		tier := e.tier()
		if tier == stats.TierL2 {
			c.stats.Add(stats.L2LateHit, 1)
		}
		return e, tier, nil
	case errors.Is(err, ErrNotFound):
		return nil, stats.TierLoader, err
	case c.rescue(ctx, &lk, err):
		if lk.stale == stale {
			return lk.stale, stats.TierL1, nil
		}
		return lk.stale, stats.TierL2, nil
	case ctx.Err() != nil:
		return nil, stats.TierNone, c.errCtx("get", err)
	}
	return nil, stats.TierNone, err
}

// result returns what a read of e returns.
func (e *entry[V]) result() (V, error) {
	if e.notFound {
		var zero V
		return zero, ErrNotFound
	}
	return e.value, nil
}

// serves reports whether a read at now may return e, which it found in L1
// or L2, and starts a background refresh of key when e is due for one (see
// freshness), with ctx's values. An expired entry is served only when a
// loader can refresh it.
func (c *Cache[K, V]) serves(ctx context.Context, key K, k string, e *entry[V], now int64) bool {
	v, stale := c.fresh.judge(e.expiry, e.delta, now)
	switch {
	case v == serve:
		return true
	case stale && e.heldAt(now): // it stood in for a load just now
		c.stats.Add(stats.StaleServed, 1)
		c.stats.Add(stats.Throttled, 1)
		return true
	case v == serveRefresh && c.canLoad():
		c.refresh(ctx, key, k, e, !stale)
		if stale {
			c.stats.Add(stats.StaleServed, 1)
		}
		return true
	case v == serveRefresh:
		return !stale
	}
	return false
}

// canLoad reports whether the cache has a loader.
func (c *Cache[K, V]) canLoad() bool { return c.cfg.Loader != nil || c.cfg.BatchLoader != nil }

// rescue reports whether lk's stale entry, an expired one, may be served
// in place of a load that failed with err, or that the read stopped
// waiting for (StaleIfError), and counts it when it may; it then holds
// the entry (see hold). It may not when the caller's context was
// cancelled (a context past its deadline may), or when the loader said
// that the key does not exist.
func (c *Cache[K, V]) rescue(ctx context.Context, lk *lookup[K, V], err error) bool {
	stale := lk.stale
	if stale == nil || errors.Is(ctx.Err(), context.Canceled) || errors.Is(err, ErrNotFound) {
		return false
	}
	now := c.cfg.Now()
	if !c.fresh.rescues(stale.expiry, now.UnixMilli()) {
		return false
	}
	c.stats.Add(stats.StaleServed, 1)
	c.hold(lk, now, false)
	return true
}

// hold makes lk's stale entry, which stands in for a load that failed or
// is still running, servable without a load until FailSafeThrottle from
// now (within its StaleIfError window). The entry is held where it is, in
// L1; fill, for the flight of the key (which no other load of the key in
// this instance overlaps), also puts an entry that came from L2 into L1,
// unless a write or invalidation of the key came since the lookup began.
// A caller that gave up on a running load must not fill: that load may
// have filled L1 with its value since.
func (c *Cache[K, V]) hold(lk *lookup[K, V], now time.Time, fill bool) {
	s := lk.stale
	if s == nil || c.cfg.FailSafeThrottle <= 0 || c.lifetime.Err() != nil {
		return
	}
	until := min(now.Add(c.cfg.FailSafeThrottle).UnixMilli(), s.expiry+c.fresh.sie)
	if until <= now.UnixMilli() {
		return
	}
	s.held.Store(int32(min(until-s.expiry, math.MaxInt32))) // a hold ends 24 days after the expiry at the latest
	if !fill {
		return
	}
	if v, ok := c.l1.Get(lk.k); ok && v.(*entry[V]) == s {
		return
	}
	c.fillL1(lk.k, lk.h, lk.gen, s, len(lk.seen.frame), c.l1TTL(s, now))
}

// readL2 is a caller's read of lk's key in L2, shared with the other
// readers of the key that miss L1 at the same time: the entry to serve (see
// judge), or nil with what L2 held noted in lk. When the key holds no
// value, the read takes its lease for the load that follows (see
// Cache.readToken), and notes that in lk too. L2 is not read for a key
// whose invalidation has not reached it yet (see unsettled). It fails only
// when ctx ends.
func (c *Cache[K, V]) readL2(ctx context.Context, lk *lookup[K, V]) (*entry[V], error) {
	if c.remote == nil {
		return nil, nil
	}
	if c.doubted(lk.k) {
		c.stats.Add(stats.L2Doubted, 1)
		return nil, nil
	}
	frame, ok, granted, err := c.sharedGetL2(ctx, lk.k, lk.h, lk.gen)
	if err != nil || !ok {
		return nil, err
	}
	e := c.judge(ctx, lk, frame, true, time.Time{})
	lk.seen.leased = granted
	return e, nil
}

// errKey returns the error of a key longer than MaxKeySize.
func (c *Cache[K, V]) errKey(k string) error {
	return fmt.Errorf("tiered: %s: %w: %d bytes, more than MaxKeySize (%d)", c.cfg.Name, ErrInvalidKey, len(k), MaxKeySize)
}

// errCtx names the cache and the operation in err, an error of the
// caller's context (or one that wraps it).
func (c *Cache[K, V]) errCtx(op string, err error) error {
	return fmt.Errorf("tiered: %s: %s: %w", c.cfg.Name, op, err)
}
