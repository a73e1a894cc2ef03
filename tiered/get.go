package tiered

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Get returns the value of key: from L1, else from L2, else from the Loader
// (one load per key at a time across all callers of this instance).
//
// It returns ErrNotFound (possibly wrapped) when the loader says the key does
// not exist, ErrMiss when there is no Loader and neither tier holds the key,
// the loader's error when it fails, and ctx.Err() when ctx ends first (the
// load goes on for other callers). An L2 failure is never returned by Get:
// it is counted, and the read goes on without L2.
func (c *Cache[K, V]) Get(ctx context.Context, key K) (V, error) {
	var zero V
	if c.closed.Load() {
		return zero, ErrClosed
	}
	k := c.cfg.Key(key)
	if v, ok := c.l1.Get(k); ok {
		c.cfg.Stats.Add(stats.L1Hit, 1)
		e := v.(*entry[V])
		if e.notFound {
			return zero, ErrNotFound
		}
		return e.value, nil
	}
	c.cfg.Stats.Add(stats.L1Miss, 1)

	h := c.gens.hash(k)
	gen := c.gens.load(h)
	e, _, err := c.readL2(ctx, k, h, gen, true)
	if err != nil {
		return zero, err
	}
	if e == nil {
		if c.cfg.Loader == nil {
			return zero, ErrMiss
		}
		e, err = c.loadOne(ctx, key, k, h, gen)
		if err != nil {
			return zero, err
		}
	}
	if e.notFound {
		return zero, ErrNotFound
	}
	return e.value, nil
}

// observed is what a reader found in L2 where it found no value to serve:
// the condition of a load's write (see l2.Conditional).
type observed struct {
	ok    bool   // L2 answered; false: L2 was skipped or failed
	frame []byte // what it held (a tombstone, an expired value); nil: nothing
}

// readL2 returns k's entry from L2 and puts it into L1, or nil and what L2
// held instead when it has no value to serve (or is unavailable). It fails
// only when ctx ends. count says whether to count the hit or miss (a
// load's second look does not).
func (c *Cache[K, V]) readL2(ctx context.Context, k string, h, gen uint64, count bool) (*entry[V], observed, error) {
	if c.cfg.L2 == nil {
		return nil, observed{}, nil
	}
	if !c.breaker.allow() {
		if count {
			c.cfg.Stats.Add(stats.L2Skipped, 1)
		}
		return nil, observed{}, nil
	}
	l2ctx, cancel := c.l2Context(ctx)
	b, err := c.cfg.L2.Get(l2ctx, c.l2Key(k))
	if cancel != nil {
		cancel()
	}
	if err != nil {
		if errors.Is(err, l2.ErrMiss) {
			c.l2OK()
			if count {
				c.cfg.Stats.Add(stats.L2Miss, 1)
			}
			return nil, observed{ok: true}, nil
		}
		if ctx.Err() != nil {
			return nil, observed{}, ctx.Err()
		}
		c.l2Failed("get", err)
		return nil, observed{}, nil
	}
	c.l2OK()
	now := c.cfg.Now()
	e, size, err := c.decode(b)
	if err != nil {
		c.dropCorrupt(ctx, k, err)
		return nil, observed{}, nil
	}
	ttl := c.l1TTL(e, now)
	// A tombstone, or a value logically expired: the writer's clock is
	// ahead of ours, or L2 kept it.
	if e.tombstone || ttl == 0 {
		if count {
			c.cfg.Stats.Add(stats.L2Miss, 1)
		}
		return nil, observed{ok: true, frame: b}, nil
	}
	if count {
		c.cfg.Stats.Add(stats.L2Hit, 1)
	}
	c.fillL1(k, h, gen, e, size, ttl)
	return e, observed{}, nil
}

// fillL1 puts an entry read or loaded by a reader into L1, unless a write or
// delete of the key happened since the reader noted gen (then the entry may
// be older than that write). The check is repeated after the Set, and what
// was set is evicted if a write slipped in between: evicting is always safe.
func (c *Cache[K, V]) fillL1(k string, h, gen uint64, e *entry[V], size int, ttl time.Duration) {
	if c.gens.load(h) != gen {
		return
	}
	c.l1.Set(k, e, c.cost(k, e, size), ttl)
	if c.gens.load(h) != gen {
		c.l1.Delete(k)
	}
}

// dropCorrupt counts a value that failed to decode and deletes it from L2,
// so that the load that follows repairs the key.
func (c *Cache[K, V]) dropCorrupt(ctx context.Context, k string, err error) {
	c.cfg.Stats.Add(stats.L2Corrupt, 1)
	c.cfg.Logger.LogAttrs(ctx, slogWarn, "tiercache: undecodable value in L2, deleting it",
		attrCache(c.cfg.Name), attrKey(k), attrErr(err))
	if derr := c.cfg.L2.Delete(context.WithoutCancel(ctx), c.l2Key(k)); derr != nil {
		c.l2Failed("delete", derr)
	}
}

// loadOne loads key through the flight group: one load per key at a time.
//
// The flight looks at L2 once more before it calls the loader. A caller that
// missed L2 just before another flight of the key finished would otherwise
// start a second load of a value that L2 now holds; the second look costs
// one L2 round trip per load and makes "one load per key" hold across the
// end of a flight (and across instances whose loads do not overlap).
func (c *Cache[K, V]) loadOne(ctx context.Context, key K, k string, h, gen uint64) (*entry[V], error) {
	e, err, _ := c.flights.Do(ctx, k, func() (*entry[V], error) {
		lctx, cancel := c.loadContext(ctx)
		defer cancel()
		e, seen, err := c.readL2(lctx, k, h, gen, false)
		if e != nil || err != nil {
			return e, err
		}
		return c.load(lctx, key, k, h, gen, seen)
	})
	return e, err
}

// load calls the loader, then writes its answer to L2 and L1, unless the
// key was written meanwhile: in this instance (its generation moved), or
// in any (L2 no longer holds what the flight saw before it called the
// loader, seen).
func (c *Cache[K, V]) load(ctx context.Context, key K, k string, h, gen uint64, seen observed) (*entry[V], error) {
	start := c.cfg.Now()
	v, err := c.cfg.Loader.Load(ctx, key)
	now := c.cfg.Now()
	delta := now.Sub(start)
	e := &entry[V]{value: v, delta: delta}
	switch {
	case err == nil:
		c.cfg.Stats.Observe(stats.LoadSuccess, delta)
	case errors.Is(err, ErrNotFound):
		c.cfg.Stats.Observe(stats.LoadNotFound, delta)
		if c.cfg.NotFoundTTL == 0 {
			return nil, err
		}
		var zero V
		e.value, e.notFound = zero, true
	default:
		c.cfg.Stats.Observe(stats.LoadFailure, delta)
		return nil, fmt.Errorf("tiered: %s: load: %w", c.cfg.Name, err)
	}
	ttl := c.ttl(e.notFound)
	e.expiry = now.Add(ttl).UnixMilli()
	frame, size, err := c.encode(e, now)
	if err != nil {
		return nil, err
	}
	if c.gens.load(h) != gen {
		return e, nil // written or deleted meanwhile: hand the value to the waiters only
	}
	if c.cfg.L2 != nil && c.breaker.allow() {
		stored, err := c.storeL2(ctx, key, k, e, frame, ttl, seen)
		if err != nil {
			c.l2Failed("set", err)
		} else {
			c.l2OK()
			if !stored {
				return e, nil // another instance wrote or deleted the key since the flight looked
			}
		}
	}
	c.fillL1(k, h, gen, e, size, c.l1TTL(e, now))
	return e, nil
}

// storeL2 writes a loaded entry to L2: only if L2 still holds what the load
// saw before it called the loader, when the store can write conditionally.
// The entry's tags are indexed first, so that an InvalidateTags that runs
// between the index and the write finds the key (its tombstone then makes
// the write fail).
func (c *Cache[K, V]) storeL2(ctx context.Context, key K, k string, e *entry[V], frame []byte, ttl time.Duration, seen observed) (bool, error) {
	if c.cond != nil && !seen.ok {
		return false, nil // L2 was not read: nothing to compare with
	}
	if !e.notFound && c.tagger != nil {
		if tags := c.tagsOf(key, e.value, nil); len(tags) > 0 {
			if err := c.tag(ctx, tags, []string{k}, ttl); err != nil {
				return false, err
			}
		}
	}
	if c.cond == nil {
		return true, c.cfg.L2.Set(ctx, c.l2Key(k), frame, ttl)
	}
	return c.cond.SetIf(ctx, c.l2Key(k), seen.frame, frame, ttl)
}

// l2Context bounds an L2 read by L2Timeout, when set.
func (c *Cache[K, V]) l2Context(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.cfg.L2Timeout <= 0 {
		return ctx, nil
	}
	return context.WithTimeout(ctx, c.cfg.L2Timeout)
}

// loadContext returns the context of a load: ctx's values (trace IDs) but
// not its cancellation, bounded by LoadTimeout and ended by Close.
func (c *Cache[K, V]) loadContext(ctx context.Context) (context.Context, context.CancelFunc) {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.LoadTimeout)
	stop := context.AfterFunc(c.lifetime, cancel)
	return lctx, func() {
		stop()
		cancel()
	}
}

// l2OK records a successful L2 call.
func (c *Cache[K, V]) l2OK() {
	if c.breaker.success() {
		c.cfg.Logger.LogAttrs(context.Background(), slogInfo, "tiercache: L2 is back", attrCache(c.cfg.Name))
	}
}

// l2Failed records a failed L2 call: reads skip L2 for L2Cooldown.
func (c *Cache[K, V]) l2Failed(op string, err error) {
	c.cfg.Stats.Add(stats.L2Error, 1)
	if c.breaker.failure() {
		c.cfg.Logger.LogAttrs(context.Background(), slogWarn, "tiercache: L2 failed, reads skip it for a while",
			attrCache(c.cfg.Name), attrOp(op), attrErr(err), attrCooldown(c.cfg.L2Cooldown))
	}
}
