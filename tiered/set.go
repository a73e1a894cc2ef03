package tiered

import (
	"context"
	"fmt"

	"github.com/tiercache/tiercache/l2"
)

// Set stores value under key: in L2 first, then in L1. A Get in this
// instance that follows Set returns value (read-your-writes), unless L1
// refused it (then Get reads it from L2).
//
// When the L2 write fails, Set removes key from L1 too, so that this
// instance does not serve a value that L2 does not hold, and returns the
// error.
func (c *Cache[K, V]) Set(ctx context.Context, key K, value V) error {
	if c.closed.Load() {
		return ErrClosed
	}
	k := c.cfg.Key(key)
	now := c.cfg.Now()
	ttl := c.ttl(false)
	e := &entry[V]{value: value, expiry: now.Add(ttl).UnixMilli()}
	frame, size, err := c.encode(e, now)
	if err != nil {
		return err
	}
	h := c.gens.hash(k)
	defer c.gens.lock(h)()
	// Bump before the L2 write too: a load of the key that is running
	// sees it and keeps its (older) value out of L2.
	c.gens.bump(h)
	c.flights.Forget(k)
	if c.cfg.L2 != nil {
		if err := c.cfg.L2.Set(ctx, c.l2Key(k), frame, ttl); err != nil {
			c.gens.bump(h)
			c.l1.Delete(k)
			c.l2Failed("set", err)
			return fmt.Errorf("tiered: %s: set: %w", c.cfg.Name, err)
		}
		c.l2OK()
	}
	c.gens.bump(h)
	c.l1.Set(k, e, c.cost(k, e, size), c.l1TTL(e, now))
	c.l1.Wait()
	return nil
}

// SetMany stores every value of items, in L2 with as few round trips as the
// store allows, then in L1. On an L2 error none of the keys is left in L1
// (some may have been written to L2) and the error is returned.
func (c *Cache[K, V]) SetMany(ctx context.Context, items map[K]V) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if len(items) == 0 {
		return nil
	}
	type pending struct {
		k    string
		h    uint64
		e    *entry[V]
		size int
	}
	now := c.cfg.Now()
	batch := make([]pending, 0, len(items))
	l2items := make([]l2.Item, 0, len(items))
	for key, value := range items {
		k := c.cfg.Key(key)
		ttl := c.ttl(false)
		e := &entry[V]{value: value, expiry: now.Add(ttl).UnixMilli()}
		frame, size, err := c.encode(e, now)
		if err != nil {
			return err
		}
		batch = append(batch, pending{k: k, h: c.gens.hash(k), e: e, size: size})
		l2items = append(l2items, l2.Item{Key: c.l2Key(k), Value: frame, TTL: ttl})
	}
	hs := make([]uint64, len(batch))
	for i, p := range batch {
		hs[i] = p.h
	}
	defer c.gens.lock(hs...)()
	for _, p := range batch {
		c.gens.bump(p.h)
		c.flights.Forget(p.k)
	}
	if c.cfg.L2 != nil {
		if err := c.cfg.L2.SetMany(ctx, l2items); err != nil {
			for _, p := range batch {
				c.gens.bump(p.h)
				c.l1.Delete(p.k)
			}
			c.l2Failed("set", err)
			return fmt.Errorf("tiered: %s: set many: %w", c.cfg.Name, err)
		}
		c.l2OK()
	}
	for _, p := range batch {
		c.gens.bump(p.h)
		c.l1.Set(p.k, p.e, c.cost(p.k, p.e, p.size), c.l1TTL(p.e, now))
	}
	c.l1.Wait()
	return nil
}

// Delete removes the keys from L2, then from L1. Loads of these keys that
// are running keep their result away from both tiers. On an L2 error the
// keys are still removed from L1 and the error is returned.
func (c *Cache[K, V]) Delete(ctx context.Context, keys ...K) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if len(keys) == 0 {
		return nil
	}
	ks := make([]string, len(keys))
	hs := make([]uint64, len(keys))
	for i, key := range keys {
		ks[i] = c.cfg.Key(key)
		hs[i] = c.gens.hash(ks[i])
	}
	defer c.gens.lock(hs...)()
	for i := range ks {
		c.gens.bump(hs[i])
		c.flights.Forget(ks[i])
	}
	var err error
	if c.cfg.L2 != nil {
		l2keys := make([]string, len(ks))
		for i, k := range ks {
			l2keys[i] = c.l2Key(k)
		}
		if err = c.cfg.L2.Delete(ctx, l2keys...); err != nil {
			c.l2Failed("delete", err)
			err = fmt.Errorf("tiered: %s: delete: %w", c.cfg.Name, err)
		} else {
			c.l2OK()
		}
	}
	for i, k := range ks {
		c.gens.bump(hs[i])
		c.l1.Delete(k)
	}
	return err
}
