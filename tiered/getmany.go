package tiered

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tiercache/tiercache/l2"
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
// with concurrent Gets of the same key). An L2 failure is counted and
// skipped, as in Get. A loader error is returned along with the values found
// before it.
func (c *Cache[K, V]) GetMany(ctx context.Context, keys []K) (map[K]V, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	out := make(map[K]V, len(keys))
	misses := make([]lookup[K, V], 0, len(keys))
	hits := 0
	var now int64 // unix milliseconds, read once when first needed
	for _, key := range keys {
		k := c.cfg.Key(key)
		var stale *entry[V]
		if v, ok := c.l1.Get(k); ok {
			e := v.(*entry[V])
			if c.fresh.check(e.delta) && now == 0 {
				now = c.cfg.Now().UnixMilli()
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
		h := c.gens.hash(k)
		misses = append(misses, lookup[K, V]{key: key, k: k, h: h, gen: c.gens.load(h), stale: stale})
	}
	c.cfg.Stats.Add(stats.L1Hit, hits)
	c.cfg.Stats.Add(stats.L1Miss, len(misses))
	if len(misses) == 0 {
		return out, nil
	}

	// L2: one GetMany for every L1 miss.
	if c.cfg.L2 != nil {
		if !c.breaker.allow() {
			c.cfg.Stats.Add(stats.L2Skipped, len(misses))
		} else {
			l2keys := make([]string, len(misses))
			for i, m := range misses {
				l2keys[i] = c.l2Key(m.k)
			}
			l2ctx, cancel := c.l2Context(ctx)
			vals, err := c.cfg.L2.GetMany(l2ctx, l2keys)
			if cancel != nil {
				cancel()
			}
			switch {
			case err == nil && len(vals) != len(misses):
				c.l2Failed("get many", fmt.Errorf("%w: store returned %d values for %d keys", errBadStore, len(vals), len(misses)))
			case err == nil:
				c.l2OK()
				now := c.cfg.Now()
				ms := now.UnixMilli()
				rest := misses[:0]
				for i, m := range misses {
					if vals[i] == nil {
						m.seen = observed[V]{ok: true}
						rest = append(rest, m)
						continue
					}
					e, size, derr := c.decode(vals[i])
					if derr != nil {
						c.dropCorrupt(ctx, m.k, derr)
						rest = append(rest, m)
						continue
					}
					if !e.tombstone && e.expiry > ms {
						// Before serves may start a refresh: see readL2.
						c.fillL1(m.k, m.h, m.gen, e, size, c.l1TTL(e, now))
					}
					if e.tombstone || !c.serves(ctx, m.key, m.k, e, ms) {
						m.seen = observed[V]{ok: true, frame: vals[i]}
						if !e.tombstone && (m.stale == nil || e.expiry > m.stale.expiry) {
							m.stale = e
						}
						rest = append(rest, m)
						continue
					}
					c.cfg.Stats.Add(stats.L2Hit, 1)
					if !e.notFound {
						out[m.key] = e.value
					}
				}
				c.cfg.Stats.Add(stats.L2Miss, len(rest))
				misses = rest
			case ctx.Err() != nil:
				return out, ctx.Err()
			default:
				c.l2Failed("get many", err)
			}
		}
	}
	if len(misses) == 0 {
		return out, nil
	}
	// Duplicate keys are cheap on the way to L2 (a hit fills the map twice)
	// but must not reach a loader twice.
	misses = uniqueLookups(misses)

	switch {
	case c.cfg.BatchLoader != nil:
		ks := make([]K, len(misses))
		for i, m := range misses {
			ks[i] = m.key
		}
		loaded, took, err := c.loadBatch(ctx, ks)
		if err != nil {
			return out, c.rescueMany(ctx, misses, err, out)
		}
		entries := make([]*entry[V], len(misses))
		for i, m := range misses {
			// Each value gets the batch's duration as its load time, for
			// early refresh (through Loader, when there is one).
			if v, ok := loaded[m.key]; ok {
				entries[i] = &entry[V]{value: v, delta: took}
			} else if c.cfg.NotFoundTTL > 0 {
				entries[i] = &entry[V]{notFound: true, delta: took}
			}
		}
		c.storeLoaded(ctx, misses, entries)
		for i, m := range misses {
			if e := entries[i]; e != nil && !e.notFound {
				out[m.key] = e.value
			}
		}
		return out, nil

	case c.cfg.Loader != nil:
		results := make([]*entry[V], len(misses))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(getManyLoadConcurrency)
		for i, m := range misses {
			g.Go(func() error {
				e, err := c.loadOne(gctx, m.key, m.k, m.h, m.gen, m.seen)
				if err != nil && !errors.Is(err, ErrNotFound) {
					if c.rescue(ctx, m.stale, err) {
						e, err = m.stale, nil
					} else {
						return err
					}
				}
				results[i] = e
				return nil
			})
		}
		err := g.Wait()
		for i, m := range misses {
			if e := results[i]; e != nil && !e.notFound {
				out[m.key] = e.value
			}
		}
		return out, err
	}
	return out, nil
}

// lookup is a key that missed L1, with its hash and the generation noted
// before the lookup went on (see generations).
type lookup[K comparable, V any] struct {
	key  K
	k    string
	h    uint64
	gen  uint64
	seen observed[V] // what L2 held, when it held no value to serve
	// stale is the freshest expired entry found in either tier, which may
	// stand in for a failed load (StaleIfError).
	stale *entry[V]
}

// rescueMany serves, in out, the expired entries of the misses whose load
// failed with err where StaleIfError allows; it returns err when a miss is
// left without one, nil otherwise.
func (c *Cache[K, V]) rescueMany(ctx context.Context, misses []lookup[K, V], err error, out map[K]V) error {
	rescued := true
	for _, m := range misses {
		if !c.rescue(ctx, m.stale, err) {
			rescued = false
			continue
		}
		if !m.stale.notFound {
			out[m.key] = m.stale.value
		}
	}
	if rescued {
		return nil
	}
	return err
}

// uniqueLookups drops the repeated keys of ls, keeping the first.
func uniqueLookups[K comparable, V any](ls []lookup[K, V]) []lookup[K, V] {
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

// errBadStore marks an L2 store that broke its contract.
var errBadStore = errors.New("tiered: L2 store broke its contract")

// loadBatch calls the BatchLoader once, under the load context and timeout,
// and returns how long it took.
func (c *Cache[K, V]) loadBatch(ctx context.Context, keys []K) (map[K]V, time.Duration, error) {
	lctx, cancel := c.loadContext(ctx)
	defer cancel()
	start := c.cfg.Now()
	loaded, err := c.cfg.BatchLoader.LoadMany(lctx, keys)
	d := c.cfg.Now().Sub(start)
	if err != nil {
		c.cfg.Stats.Observe(stats.LoadFailure, d)
		return nil, d, fmt.Errorf("tiered: %s: batch load: %w", c.cfg.Name, err)
	}
	c.cfg.Stats.Observe(stats.LoadSuccess, d)
	return loaded, d, nil
}

// storeLoaded writes the entries of one batch load (nil: absent and not
// cached) to L2, then to L1, skipping keys written or deleted since the
// batch started. With a store that writes conditionally, each key is
// written only if L2 still holds what GetMany saw; either way all values go
// in one call (one round trip per node).
func (c *Cache[K, V]) storeLoaded(ctx context.Context, misses []lookup[K, V], entries []*entry[V]) {
	now := c.cfg.Now()
	sizes := make([]int, len(entries))
	frames := make([][]byte, len(entries))
	ttls := make([]time.Duration, len(entries))
	for i, e := range entries {
		if e == nil {
			continue
		}
		ttl := c.ttl(e.notFound)
		e.expiry = now.Add(ttl).UnixMilli()
		ttls[i] = c.l2TTL(ttl)
		frame, size, err := c.encode(e, now)
		if err != nil {
			entries[i] = nil
			c.cfg.Logger.LogAttrs(ctx, slogWarn, "tiercache: cannot encode loaded value", attrCache(c.cfg.Name), attrErr(err))
			continue
		}
		sizes[i], frames[i] = size, frame
	}
	keep := make([]bool, len(entries)) // whether L1 may take the entry
	for i, e := range entries {
		keep[i] = e != nil && c.gens.load(misses[i].h) == misses[i].gen
	}
	if c.cfg.L2 != nil && c.breaker.allow() {
		if err := c.storeBatch(context.WithoutCancel(ctx), misses, entries, frames, ttls, keep); err != nil {
			c.l2Failed("set many", err) // L1 still takes the entries, as in Get
		} else {
			c.l2OK()
		}
	}
	for i, e := range entries {
		if keep[i] {
			m := misses[i]
			c.fillL1(m.k, m.h, m.gen, e, sizes[i], c.l1TTL(e, now))
		}
	}
}

// storeBatch writes the entries of a batch load that keep marks to L2: their
// tags first, one call per tag (see storeL2 for the order), then the values
// in one call, conditionally when the store can. It clears keep for the
// values that another write got to first.
func (c *Cache[K, V]) storeBatch(ctx context.Context, misses []lookup[K, V], entries []*entry[V], frames [][]byte, ttls []time.Duration, keep []bool) error {
	if c.cond != nil {
		for i := range entries {
			if keep[i] && !misses[i].seen.ok {
				keep[i] = false // L2 was not read: nothing to compare with
			}
		}
	}
	if c.tagger != nil && c.cfg.Tags != nil {
		tagged := make(map[string][]string)
		for i, e := range entries {
			if keep[i] && !e.notFound {
				for _, t := range c.tagsOf(misses[i].key, e.value, nil) {
					tagged[t] = append(tagged[t], misses[i].k)
				}
			}
		}
		for t, ks := range tagged {
			if err := c.tag(ctx, []string{t}, ks, c.l2TTL(c.cfg.TTL)); err != nil {
				return err
			}
		}
	}
	if c.cond == nil {
		var items []l2.Item
		for i := range entries {
			if keep[i] {
				items = append(items, l2.Item{Key: c.l2Key(misses[i].k), Value: frames[i], TTL: ttls[i]})
			}
		}
		if len(items) == 0 {
			return nil
		}
		return c.cfg.L2.SetMany(ctx, items)
	}
	var items []l2.CondItem
	var idx []int
	for i := range entries {
		if keep[i] {
			items = append(items, l2.CondItem{
				Item: l2.Item{Key: c.l2Key(misses[i].k), Value: frames[i], TTL: ttls[i]},
				Old:  misses[i].seen.frame,
			})
			idx = append(idx, i)
		}
	}
	if len(items) == 0 {
		return nil
	}
	stored, err := c.cond.SetManyIf(ctx, items)
	if err != nil {
		return err
	}
	for j, i := range idx {
		keep[i] = stored[j]
	}
	return nil
}
