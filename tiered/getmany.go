package tiered

import (
	"context"
	"errors"

	"golang.org/x/sync/errgroup"

	"github.com/tiercache/tiercache/tiered/stats"
)

// getManyLoadConcurrency bounds the concurrent Loader calls of GetMany when
// there is no BatchLoader.
const getManyLoadConcurrency = 8

// GetMany returns the values of the keys that have one, in a map; keys that
// do not exist (ErrNotFound) or, without a loader, are in neither tier, are
// left out. Duplicate keys are looked up once.
//
// It reads L1, then every L1 miss from L2 in one call (one round trip per
// shard), then loads every remaining miss with one BatchLoader call (or,
// without one, through Loader with up to 8 loads at a time, each shared
// with concurrent Gets of the same key). Every value read is judged as Get
// judges it (early refresh, stale serving). An L2 failure is counted and
// skipped, as in Get. A loader error is returned along with the values
// found, unless StaleIfError served an expired value for every key it
// failed.
func (c *Cache[K, V]) GetMany(ctx context.Context, keys []K) (out map[K]V, err error) {
	tier := stats.TierNone // the deepest tier that answered, for the span
	if c.cfg.Tracer != nil {
		var sp stats.Span
		ctx, sp = c.span(ctx, "get_many")
		defer func() { endSpan(sp, stats.SpanEnd{Tier: tier, Keys: len(keys)}, err) }()
	}
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if c.hot != nil {
		c.sampleReads(keys)
	}
	out = make(map[K]V, len(keys))
	misses, err := c.getManyL1(ctx, keys, out)
	if err != nil || len(misses) == 0 {
		tier = stats.TierL1
		return out, err
	}
	tier = stats.TierL2
	if misses, err = c.getManyL2(ctx, misses, out); err != nil {
		return out, c.errCtx("get many", err)
	}
	if len(misses) == 0 {
		return out, nil
	}
	tier = stats.TierLoader
	// Duplicate keys are cheap on the way to L2 (a hit fills the map twice)
	// but must not reach a loader twice.
	misses = uniqueLookups(misses)
	err = c.loadMany(ctx, misses, out, nil)
	if err != nil && ctx.Err() != nil {
		err = c.errCtx("get many", err)
	}
	return out, err
}

// getManyL1 serves the keys that L1 holds into out and returns lookups for
// the others.
func (c *Cache[K, V]) getManyL1(ctx context.Context, keys []K, out map[K]V) ([]*lookup[K, V], error) {
	misses := make([]*lookup[K, V], 0, len(keys))
	slab := make([]lookup[K, V], 0, len(keys)) // one allocation for every miss's lookup
	hits := 0
	var now int64 // unix milliseconds, read once when first needed
	for _, key := range keys {
		k := c.cfg.Key(key)
		if len(k) > MaxKeySize {
			return nil, c.errKey(k)
		}
		var stale *entry[V]
		if v, ok := c.l1.Get(k); ok && c.live(v.(*entry[V])) {
			e := v.(*entry[V])
			if c.fresh.check(e.delta) && now == 0 {
				now = c.hitMilli()
			}
			if !c.fresh.check(e.delta) || c.serves(ctx, key, k, e, now) {
				hits++
				if !e.notFound {
					out[key] = e.value
				}
				continue
			}
			stale = e
		}
		slab = append(slab, c.newLookup(key, k, stale))
		misses = append(misses, &slab[len(slab)-1])
	}
	c.stats.Add(stats.L1Hit, hits)
	c.stats.Add(stats.L1Miss, len(misses))
	return misses, nil
}

// getManyL2 reads the misses from L2 in one call, serves what it may into
// out (see judge) and returns the lookups still missing. Keys whose
// invalidation has not reached L2 are not read (see unsettled). It fails
// only when ctx ends.
func (c *Cache[K, V]) getManyL2(ctx context.Context, misses []*lookup[K, V], out map[K]V) ([]*lookup[K, V], error) {
	if c.remote == nil {
		return misses, nil
	}
	read, rest := misses, misses[:0] // rest is filled in place, behind the reads
	if c.unsettled.n.Load() > 0 {
		read, rest = make([]*lookup[K, V], 0, len(misses)), make([]*lookup[K, V], 0, len(misses))
		for _, lk := range misses {
			if c.doubted(lk.k) {
				c.stats.Add(stats.L2Doubted, 1)
				rest = append(rest, lk)
			} else {
				read = append(read, lk)
			}
		}
		if len(read) == 0 {
			return rest, nil
		}
	}
	ks := make([]string, len(read))
	for i, lk := range read {
		ks[i] = lk.k
	}
	frames, ok, err := c.remote.getMany(ctx, ks)
	if err != nil {
		return nil, err
	}
	if !ok {
		return append(rest, read...), nil
	}
	now := c.cfg.Now()
	for i, lk := range read {
		e := c.judge(ctx, lk, frames[i], true, now)
		switch {
		case e == nil:
			rest = append(rest, lk)
		case !e.notFound:
			out[lk.key] = e.value
		}
	}
	return rest, nil
}

// loadMany loads the misses of a GetMany into out: all of them with one
// BatchLoader call (under leases, see load), or one by one through Loader,
// each in its flight. It counts each key's outcome in t (nil for GetMany:
// Warm's counts).
func (c *Cache[K, V]) loadMany(ctx context.Context, misses []*lookup[K, V], out map[K]V, t *loadTally) error {
	res := make([]loaded[V], len(misses))
	var err error
	switch {
	case c.cfg.BatchLoader != nil:
		release, err := c.loadSlot(ctx)
		if err != nil {
			return err
		}
		lctx, cancel := c.loadContext(ctx)
		res = c.load(lctx, ctx, misses, nil, true)
		cancel()
		release()
	case c.cfg.Loader != nil:
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(getManyLoadConcurrency)
		for i, lk := range misses {
			g.Go(func() error {
				e, err := c.loadOne(gctx, *lk)
				res[i] = loaded[V]{e: e, err: err}
				if err != nil && !errors.Is(err, ErrNotFound) && !c.rescue(ctx, lk, err) {
					return err
				}
				if err != nil && !errors.Is(err, ErrNotFound) {
					res[i] = loaded[V]{e: lk.stale} // rescued (counted)
				}
				return nil
			})
		}
		err = g.Wait()
	default:
		return nil
	}
	var failed error
	late := 0
	for i, lk := range misses {
		r := res[i]
		t.add(r.err)
		switch {
		case r.err == nil || errors.Is(r.err, ErrNotFound):
			if r.e != nil && !r.e.loaded {
				late++
			}
			if r.e != nil && !r.e.notFound {
				out[lk.key] = r.e.value
			}
		case c.rescue(ctx, lk, r.err):
			if !lk.stale.notFound {
				out[lk.key] = lk.stale.value
			}
		case failed == nil:
			failed = r.err
		}
	}
	if late > 0 {
		c.stats.Add(stats.L2LateHit, late)
	}
	if err != nil {
		return err
	}
	return failed
}

// uniqueLookups drops the repeated keys of ls, keeping the first.
func uniqueLookups[K comparable, V any](ls []*lookup[K, V]) []*lookup[K, V] {
	if len(ls) < 2 {
		return ls
	}
	seen := make(map[string]struct{}, len(ls))
	out := ls[:0]
	for _, l := range ls {
		if _, dup := seen[l.k]; !dup {
			seen[l.k] = struct{}{}
			out = append(out, l)
		}
	}
	return out
}
