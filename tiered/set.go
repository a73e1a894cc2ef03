package tiered

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/tiered/internal/envelope"
)

// Set stores value under key: in L2 first, then in L1, then it tells the
// other instances (Options.Bus) to drop their copy. A Get in this instance
// that follows Set returns value (read-your-writes), unless L1 refused it
// (then Get reads it from L2).
//
// When the L2 write fails, Set removes key from L1 too, so that this
// instance does not serve a value that L2 does not hold, and returns the
// error. When only the publication fails, the value is stored, the error
// says so, and the bus sends the invalidation again later.
func (c *Cache[K, V]) Set(ctx context.Context, key K, value V) error {
	return c.set(ctx, key, value, nil)
}

// SetTagged is Set with tags, in addition to those Options.Tags gives:
// InvalidateTags of any of them removes the value from every tier of every
// instance. It needs an L2 store that keeps tag indexes (l2.Tagger).
func (c *Cache[K, V]) SetTagged(ctx context.Context, key K, value V, tags ...string) error {
	return c.set(ctx, key, value, tags)
}

func (c *Cache[K, V]) set(ctx context.Context, key K, value V, extra []string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	tags := c.tagsOf(key, value, extra)
	if len(tags) > 0 && c.tagger == nil {
		return c.errNoTags()
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
	unlock := c.gens.lock(h)
	// Bump before the L2 write too: a load of the key that is running
	// sees it and keeps its (older) value out of L2.
	c.gens.bump(h)
	c.flights.Forget(k)
	if c.cfg.L2 != nil {
		err := c.cfg.L2.Set(ctx, c.l2Key(k), frame, c.l2TTL(ttl))
		if err == nil && len(tags) > 0 {
			// Index after the write: InvalidateTags pops the index
			// atomically, so a key indexed after that pop stays indexed
			// for the next one (the other order could leave a value that
			// no index lists).
			err = c.tag(ctx, tags, []string{k}, c.l2TTL(ttl))
		}
		if err != nil {
			c.gens.bump(h)
			c.l1.Delete(k)
			unlock()
			c.l2Failed("set", err)
			// The write may have reached L2 anyway: tell the others.
			_ = c.publish(ctx, &invalidate.Message{Keys: []string{k}})
			return fmt.Errorf("tiered: %s: set: %w", c.cfg.Name, err)
		}
		c.l2OK()
	}
	c.gens.bump(h)
	c.l1.Set(k, e, c.cost(k, e, size), c.l1TTL(e, now))
	c.l1.Wait()
	c.ownL1(k, e)
	unlock()
	return c.publish(ctx, &invalidate.Message{Keys: []string{k}})
}

// ownL1 makes sure that L1 holds e under k, or nothing, once a write's Set
// has been applied (after Wait). ristretto drops the Set of a new key while
// an earlier Set of that key still waits in its buffer (its policy takes
// the second for a duplicate): a reader's fill of the value before this
// write would stay in L1, older than what L2 now holds, and no message
// would come to remove it (receivers skip their own).
func (c *Cache[K, V]) ownL1(k string, e *entry[V]) {
	if v, ok := c.l1.Get(k); ok && v != any(e) {
		c.l1.Delete(k)
	}
}

// SetMany stores every value of items, in L2 with as few round trips as the
// store allows, then in L1, then publishes one invalidation for all keys.
// On an L2 error none of the keys is left in L1 (some may have been written
// to L2) and the error is returned.
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
	var tagged map[string][]string // tag -> L1 keys
	for key, value := range items {
		k := c.cfg.Key(key)
		ttl := c.ttl(false)
		e := &entry[V]{value: value, expiry: now.Add(ttl).UnixMilli()}
		frame, size, err := c.encode(e, now)
		if err != nil {
			return err
		}
		for _, t := range c.tagsOf(key, value, nil) {
			if tagged == nil {
				tagged = make(map[string][]string)
			}
			tagged[t] = append(tagged[t], k)
		}
		batch = append(batch, pending{k: k, h: c.gens.hash(k), e: e, size: size})
		l2items = append(l2items, l2.Item{Key: c.l2Key(k), Value: frame, TTL: c.l2TTL(ttl)})
	}
	if len(tagged) > 0 && c.tagger == nil {
		return c.errNoTags()
	}
	hs := make([]uint64, len(batch))
	keys := make([]string, len(batch))
	for i, p := range batch {
		hs[i], keys[i] = p.h, p.k
	}
	unlock := c.gens.lock(hs...)
	for _, p := range batch {
		c.gens.bump(p.h)
		c.flights.Forget(p.k)
	}
	if c.cfg.L2 != nil {
		err := c.cfg.L2.SetMany(ctx, l2items)
		for t, ks := range tagged {
			if err != nil {
				break
			}
			err = c.tag(ctx, []string{t}, ks, c.l2TTL(c.cfg.TTL))
		}
		if err != nil {
			for _, p := range batch {
				c.gens.bump(p.h)
				c.l1.Delete(p.k)
			}
			unlock()
			c.l2Failed("set", err)
			_ = c.publish(ctx, &invalidate.Message{Keys: keys})
			return fmt.Errorf("tiered: %s: set many: %w", c.cfg.Name, err)
		}
		c.l2OK()
	}
	for _, p := range batch {
		c.gens.bump(p.h)
		c.l1.Set(p.k, p.e, c.cost(p.k, p.e, p.size), c.l1TTL(p.e, now))
	}
	c.l1.Wait()
	for _, p := range batch {
		c.ownL1(p.k, p.e)
	}
	unlock()
	return c.publish(ctx, &invalidate.Message{Keys: keys})
}

// Delete removes the keys from L2, then from L1, then tells the other
// instances to drop them. Loads of these keys that are running keep their
// result away from both tiers, in this instance and, when the L2 store
// supports conditional writes, in every other: the deleted value is
// replaced by a tombstone (see Options.TombstoneTTL) that makes their write
// fail. On an L2 error the keys still leave L1, the invalidation is still
// published, and the error is returned.
func (c *Cache[K, V]) Delete(ctx context.Context, keys ...K) error {
	if c.closed.Load() {
		return ErrClosed
	}
	if len(keys) == 0 {
		return nil
	}
	ks := make([]string, len(keys))
	for i, key := range keys {
		ks[i] = c.cfg.Key(key)
	}
	l2err, puberr := c.delete(ctx, ks)
	return errors.Join(l2err, puberr)
}

// delete removes the L1 keys ks from both tiers and publishes them. It
// returns L2's error and the bus's apart.
func (c *Cache[K, V]) delete(ctx context.Context, ks []string) (l2err, puberr error) {
	hs := make([]uint64, len(ks))
	for i, k := range ks {
		hs[i] = c.gens.hash(k)
	}
	unlock := c.gens.lock(hs...)
	for i := range ks {
		c.gens.bump(hs[i])
		c.flights.Forget(ks[i])
	}
	if c.cfg.L2 != nil {
		if l2err = c.removeL2(ctx, ks); l2err != nil {
			c.l2Failed("delete", l2err)
			l2err = fmt.Errorf("tiered: %s: delete: %w", c.cfg.Name, l2err)
		} else {
			c.l2OK()
		}
	}
	for i, k := range ks {
		c.gens.bump(hs[i])
		c.l1.Delete(k)
	}
	unlock()
	return l2err, c.publish(ctx, &invalidate.Message{Keys: ks})
}

// removeL2 replaces the values of the L1 keys ks in L2 with tombstones when
// the store can write conditionally (loads compare against what they read),
// and deletes them otherwise. With leases, it ends the keys' leases too.
func (c *Cache[K, V]) removeL2(ctx context.Context, ks []string) error {
	if c.cond == nil {
		l2keys := make([]string, len(ks))
		for i, k := range ks {
			l2keys[i] = c.l2Key(k)
		}
		return c.cfg.L2.Delete(ctx, l2keys...)
	}
	now := c.cfg.Now()
	h := envelope.Header{
		Flags:   envelope.FlagTombstone,
		Created: now.UnixMilli(),
		Expiry:  now.Add(c.cfg.TombstoneTTL).UnixMilli(),
	}
	if len(ks) == 1 && c.leaser == nil { // one command rather than a pipeline of one
		return c.cfg.L2.Set(ctx, c.l2Key(ks[0]), tombstone(h), c.cfg.TombstoneTTL)
	}
	items := make([]l2.Item, len(ks))
	for i, k := range ks {
		items[i] = l2.Item{Key: c.l2Key(k), Value: tombstone(h), TTL: c.cfg.TombstoneTTL}
	}
	if c.leaser != nil {
		// End the keys' leases too: their holders could not store their
		// values anyway (L2 no longer holds what they saw), and callers in
		// other instances waiting for those values stop waiting.
		return c.leaser.Revoke(ctx, items)
	}
	return c.cfg.L2.SetMany(ctx, items)
}

// tombstone returns a tombstone frame. Its random payload makes every
// tombstone different, so that a load that read one cannot mistake another
// for it.
func tombstone(h envelope.Header) []byte {
	var id [8]byte
	u := rand.Uint64()
	for i := range id {
		id[i] = byte(u >> (8 * i))
	}
	return envelope.Append(make([]byte, 0, envelope.HeaderSize+len(id)), h, id[:])
}

// tagsOf returns the tags of value: Options.Tags's and extra, without
// duplicates.
func (c *Cache[K, V]) tagsOf(key K, value V, extra []string) []string {
	var tags []string
	if c.cfg.Tags != nil {
		tags = c.cfg.Tags(key, value)
	}
	if len(extra) == 0 {
		return tags
	}
	if len(tags) == 0 {
		return extra
	}
	all := slices.Concat(tags, extra)
	slices.Sort(all)
	return slices.Compact(all)
}

// tag indexes the L1 keys ks under tags in L2, for at least ttl.
func (c *Cache[K, V]) tag(ctx context.Context, tags, ks []string, ttl time.Duration) error {
	if c.l2prefix != "" { // a store without namespaces: namespace tags and keys here
		tags = slices.Clone(tags)
		for i, t := range tags {
			tags[i] = c.l2Key(t)
		}
		l2keys := make([]string, len(ks))
		for i, k := range ks {
			l2keys[i] = c.l2Key(k)
		}
		ks = l2keys
	}
	return c.tagger.Tag(ctx, tags, ks, ttl)
}

func (c *Cache[K, V]) errNoTags() error {
	return fmt.Errorf("tiered: %s: tags need an L2 store that keeps tag indexes (l2.Tagger): %w",
		c.cfg.Name, errors.ErrUnsupported)
}
