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
	case c.cfg.BatchLoader != nil && c.leaser != nil:
		return out, c.loadBatchLeased(ctx, misses, out)
	case c.cfg.BatchLoader != nil:
		return out, c.loadBatchInto(ctx, misses, nil, out)

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

// loadBatchInto loads misses with one BatchLoader call, stores the values
// in L2 (under the leases of token, when not nil) and L1, and puts them
// into out. When the load fails it serves, in out, the expired values that
// StaleIfError allows, and returns the error unless every miss had one.
func (c *Cache[K, V]) loadBatchInto(ctx context.Context, misses []lookup[K, V], token []byte, out map[K]V) error {
	ks := make([]K, len(misses))
	for i, m := range misses {
		ks[i] = m.key
	}
	loaded, took, err := c.loadBatch(ctx, ks)
	if err != nil {
		return c.rescueMany(ctx, misses, err, out)
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
	c.storeLoaded(ctx, misses, entries, token)
	for i, m := range misses {
		if e := entries[i]; e != nil && !e.notFound {
			out[m.key] = e.value
		}
	}
	return nil
}

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
func (c *Cache[K, V]) storeLoaded(ctx context.Context, misses []lookup[K, V], entries []*entry[V], token []byte) {
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
	keep := make([]bool, len(entries)) // whether the entry may be stored (fillL1 checks again)
	for i, e := range entries {
		keep[i] = e != nil && !c.gens.dataMoved(misses[i].h, misses[i].gen)
	}
	// Under leases, the keys whose values go to L2 (SetLeasedMany ends
	// their leases) and the others, whose leases are released.
	var sent []bool
	if token != nil {
		sent = make([]bool, len(entries))
		for i := range entries {
			sent[i] = keep[i] && misses[i].seen.ok
		}
	}
	if c.cfg.L2 != nil && c.breaker.allow() {
		if err := c.storeBatch(context.WithoutCancel(ctx), misses, entries, frames, ttls, keep, token); err != nil {
			c.l2Failed("set many", err) // L1 still takes the entries, as in Get
		} else {
			c.l2OK()
			for i := range sent {
				if sent[i] && !keep[i] {
					c.cfg.Stats.Add(stats.LeaseLost, 1)
				}
			}
		}
	} else {
		clear(sent)
	}
	if token != nil {
		var rest []string
		for i, m := range misses {
			if !sent[i] {
				rest = append(rest, c.l2Key(m.k))
			}
		}
		c.releaseMany(ctx, token, rest)
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
func (c *Cache[K, V]) storeBatch(ctx context.Context, misses []lookup[K, V], entries []*entry[V], frames [][]byte, ttls []time.Duration, keep []bool, token []byte) error {
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
	var stored []bool
	var err error
	if token != nil {
		stored, err = c.leaser.SetLeasedMany(ctx, token, items)
	} else {
		stored, err = c.cond.SetManyIf(ctx, items)
	}
	if err != nil {
		return err
	}
	for j, i := range idx {
		keep[i] = stored[j]
	}
	return nil
}

// loadBatchLeased loads misses with the BatchLoader under L2 leases, so that
// of the instances that miss the same keys at once, one loads each key. It
// asks for the leases of every miss in one call: the keys it gets are loaded
// in one BatchLoader call and stored under the leases; a key whose value
// another instance stored meanwhile is served from it; the keys whose lease
// another instance holds are asked for again, after 2 ms doubling to 50 ms,
// until their values are there (or their leases end: then those keys go to
// a BatchLoader call of their own). Keys that L2 was not read for (it was
// skipped or failed) go to the first BatchLoader call without leases.
// Waiting is bounded by LoadTimeout and by ctx.
func (c *Cache[K, V]) loadBatchLeased(ctx context.Context, misses []lookup[K, V], out map[K]V) error {
	var pending, unleased []lookup[K, V]
	for _, m := range misses {
		if m.seen.ok {
			pending = append(pending, m)
		} else {
			unleased = append(unleased, m)
		}
	}
	wctx, cancel := c.loadContext(ctx) // bounds the waiting
	defer cancel()
	token := newToken()
	poll := leasePollMin
	waited := make(map[string]bool)
	for round := 0; ; round++ {
		var granted []lookup[K, V]
		if len(pending) > 0 {
			l2keys := make([]string, len(pending))
			olds := make([][]byte, len(pending))
			for i, m := range pending {
				l2keys[i], olds[i] = c.l2Key(m.k), m.seen.frame
			}
			answers, err := c.leaser.LeaseMany(wctx, token, c.cfg.LeaseTTL, l2keys, olds)
			if err != nil && round == 0 && wctx.Err() == nil {
				// L2 failed: load the keys without leases (their values
				// stay out of L2, whose state is unknown).
				c.l2Failed("lease", err)
				for _, m := range pending {
					m.seen = observed[V]{}
					unleased = append(unleased, m)
				}
				pending = nil
			} else if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return c.rescueMany(ctx, pending, fmt.Errorf("tiered: %s: waiting for other instances' loads: %w", c.cfg.Name, err), out)
			} else {
				c.l2OK()
				held := pending[:0]
				for i, m := range pending {
					switch a := answers[i]; a.State {
					case l2.LeaseGranted:
						granted = append(granted, m)
					case l2.LeaseChanged:
						if e := c.adopt(ctx, m.k, m.h, m.gen, a.Value, nil); e != nil {
							if !e.notFound {
								out[m.key] = e.value
							}
							continue
						}
						m.seen = observed[V]{ok: true, frame: a.Value, stale: m.seen.stale}
						held = append(held, m) // ask again
					default:
						if !waited[m.k] {
							waited[m.k] = true
							c.cfg.Stats.Add(stats.LeaseWaited, 1)
						}
						held = append(held, m)
					}
				}
				pending = held
				c.cfg.Stats.Add(stats.LeaseGranted, len(granted))
			}
		}
		if batch := append(granted, unleased...); len(batch) > 0 {
			unleased = nil
			if err := c.loadBatchInto(ctx, batch, token, out); err != nil {
				c.releaseMany(ctx, token, l2KeysOf(c, granted))
				if len(pending) > 0 {
					// Serve what StaleIfError allows for the keys not waited
					// for: the error stands either way.
					_ = c.rescueMany(ctx, pending, err, out)
				}
				return err
			}
		}
		if len(pending) == 0 {
			return nil
		}
		t := time.NewTimer(poll)
		select {
		case <-t.C:
		case <-wctx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return c.rescueMany(ctx, pending, fmt.Errorf("tiered: %s: waiting for other instances' loads: %w", c.cfg.Name, wctx.Err()), out)
		}
		poll = min(2*poll, leasePollMax)
	}
}

// l2KeysOf returns the L2 keys of ls.
func l2KeysOf[K comparable, V any](c *Cache[K, V], ls []lookup[K, V]) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = c.l2Key(l.k)
	}
	return out
}
