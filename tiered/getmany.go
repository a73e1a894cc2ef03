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
	misses := make([]lookup[K], 0, len(keys))
	hits := 0
	for _, key := range keys {
		k := c.cfg.Key(key)
		if v, ok := c.l1.Get(k); ok {
			hits++
			if e := v.(*entry[V]); !e.notFound {
				out[key] = e.value
			}
			continue
		}
		h := c.gens.hash(k)
		misses = append(misses, lookup[K]{key: key, k: k, h: h, gen: c.gens.load(h)})
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
				rest := misses[:0]
				for i, m := range misses {
					if vals[i] == nil {
						m.seen = observed{ok: true}
						rest = append(rest, m)
						continue
					}
					e, size, derr := c.decode(vals[i])
					if derr != nil {
						c.dropCorrupt(ctx, m.k, derr)
						rest = append(rest, m)
						continue
					}
					ttl := c.l1TTL(e, now)
					if e.tombstone || ttl == 0 {
						m.seen = observed{ok: true, frame: vals[i]}
						rest = append(rest, m)
						continue
					}
					c.cfg.Stats.Add(stats.L2Hit, 1)
					c.fillL1(m.k, m.h, m.gen, e, size, ttl)
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
		loaded, err := c.loadBatch(ctx, ks)
		if err != nil {
			return out, err
		}
		entries := make([]*entry[V], len(misses))
		for i, m := range misses {
			if v, ok := loaded[m.key]; ok {
				entries[i] = &entry[V]{value: v}
			} else if c.cfg.NotFoundTTL > 0 {
				entries[i] = &entry[V]{notFound: true}
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
				e, err := c.loadOne(gctx, m.key, m.k, m.h, m.gen)
				if err != nil && !errors.Is(err, ErrNotFound) {
					return err
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
type lookup[K comparable] struct {
	key  K
	k    string
	h    uint64
	gen  uint64
	seen observed // what L2 held, when it held no value to serve
}

// uniqueLookups drops the repeated keys of ls, keeping the first.
func uniqueLookups[K comparable](ls []lookup[K]) []lookup[K] {
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

// loadBatch calls the BatchLoader once, under the load context and timeout.
func (c *Cache[K, V]) loadBatch(ctx context.Context, keys []K) (map[K]V, error) {
	lctx, cancel := c.loadContext(ctx)
	defer cancel()
	start := c.cfg.Now()
	loaded, err := c.cfg.BatchLoader.LoadMany(lctx, keys)
	d := c.cfg.Now().Sub(start)
	if err != nil {
		c.cfg.Stats.Observe(stats.LoadFailure, d)
		return nil, fmt.Errorf("tiered: %s: batch load: %w", c.cfg.Name, err)
	}
	c.cfg.Stats.Observe(stats.LoadSuccess, d)
	return loaded, nil
}

// storeLoaded writes the entries of one batch load (nil: absent and not
// cached) to L2, then to L1, skipping keys written or deleted since the
// batch started. With a store that writes conditionally, each key is
// written only if L2 still holds what GetMany saw; either way all values go
// in one call (one round trip per node).
func (c *Cache[K, V]) storeLoaded(ctx context.Context, misses []lookup[K], entries []*entry[V]) {
	now := c.cfg.Now()
	sizes := make([]int, len(entries))
	frames := make([][]byte, len(entries))
	ttls := make([]time.Duration, len(entries))
	for i, e := range entries {
		if e == nil {
			continue
		}
		ttls[i] = c.ttl(e.notFound)
		e.expiry = now.Add(ttls[i]).UnixMilli()
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
func (c *Cache[K, V]) storeBatch(ctx context.Context, misses []lookup[K], entries []*entry[V], frames [][]byte, ttls []time.Duration, keep []bool) error {
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
			if err := c.tag(ctx, []string{t}, ks, c.cfg.TTL); err != nil {
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
