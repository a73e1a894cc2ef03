package tiered

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tiercache/tiercache/tiered/stats"
)

// Set stores value under key: in L2 first, then in L1, then it tells the
// other instances (Options.Bus) to drop their copy. A Get in this instance
// that follows Set returns value (read-your-writes), unless L1 refused it
// (then Get reads it from L2).
//
// When the L2 write fails, Set removes key from L1 too, returns the error,
// and keeps the key unsettled: the cache deletes it from L2 as soon as L2
// takes writes again, and until then no instance serves what L2 holds for
// it (see the package documentation). When only the publication fails,
// the value is stored, the error says so, and the bus sends the
// invalidation again later. A value larger than Options.MaxValueSize is
// not stored: the key is deleted instead and the error wraps
// ErrValueTooLarge.
//
// Set after a write to the source of truth is not safe when several
// instances write one key at once: their Sets may reach L2 in either order,
// leaving the older value. Delete after the source write (cache-aside) is
// safe: the next read loads the current value.
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
	return c.setItems(ctx, "set", []setItem[K, V]{{key: key, value: value, tags: extra}})
}

// SetMany stores every value of items, in L2 with as few round trips as the
// store allows, then in L1, then publishes one invalidation for all keys.
// On an L2 error none of the keys is left in L1, the keys are kept
// unsettled (see Set), and the error is returned. A value larger than
// Options.MaxValueSize is not stored: its key is deleted instead, the
// others are stored, and the error wraps ErrValueTooLarge.
func (c *Cache[K, V]) SetMany(ctx context.Context, items map[K]V) error {
	if len(items) == 0 {
		return c.errIfClosed()
	}
	all := make([]setItem[K, V], 0, len(items))
	for key, value := range items {
		all = append(all, setItem[K, V]{key: key, value: value})
	}
	return c.setItems(ctx, "set many", all)
}

// setItem is a value to store, with tags of its own (SetTagged) and the
// options of SetWith: ttl and l1ttl replace Options.TTL and L1TTL (0: they
// do not), noL1 keeps the value out of this instance's L1.
type setItem[K comparable, V any] struct {
	key        K
	value      V
	tags       []string
	ttl, l1ttl time.Duration
	noL1       bool
}

// setItems is Set and SetMany: it checks the keys and tags, encodes the
// values and hands them to the write path in one batch. op names the
// operation in errors.
func (c *Cache[K, V]) setItems(ctx context.Context, op string, items []setItem[K, V]) (err error) {
	if c.cfg.Tracer != nil {
		var sp stats.Span
		ctx, sp = c.span(ctx, spanName(op))
		defer func() { endSpan(sp, stats.SpanEnd{Keys: len(items)}, err) }()
	}
	if err := c.errIfClosed(); err != nil {
		return err
	}
	now := c.cfg.Now()
	ws := make([]write[V], 0, len(items))
	var tooLarge []error
	for _, it := range items {
		k := c.cfg.Key(it.key)
		if len(k) > MaxKeySize {
			return c.errKey(k)
		}
		tags := c.tagsOf(it.key, it.value, it.tags)
		if len(tags) > 0 && (c.remote == nil || c.remote.tagger == nil) {
			return c.errNoTags()
		}
		w, err := c.valueWrite(k, it.value, tags, it.ttl, now)
		w.l1ttl, w.noL1 = it.l1ttl, it.noL1
		switch {
		case errors.Is(err, ErrValueTooLarge):
			tooLarge = append(tooLarge, err)
		case err != nil:
			return err
		}
		ws = append(ws, w)
	}
	l2err, puberr := c.apply(ctx, op, ws, nil)
	return errors.Join(l2err, puberr, errors.Join(tooLarge...))
}

// errIfClosed returns ErrClosed after Close.
func (c *Cache[K, V]) errIfClosed() error {
	if c.closed.Load() {
		return ErrClosed
	}
	return nil
}

// valueWrite returns the write of value under the L1 key k, with a TTL of
// ttl (0: Options.TTL, with Jitter). A value larger than MaxValueSize
// becomes a delete of k, with an error that wraps ErrValueTooLarge.
func (c *Cache[K, V]) valueWrite(k string, value V, tags []string, ttl time.Duration, now time.Time) (write[V], error) {
	if ttl <= 0 {
		ttl = c.ttl(false)
	}
	e := &entry[V]{value: value, expiry: now.Add(ttl).UnixMilli()}
	frame, size, err := c.encode(k, e, now)
	switch {
	case errors.Is(err, ErrValueTooLarge):
		c.stats.Add(stats.ValueTooLarge, 1)
		return write[V]{k: k}, fmt.Errorf("%w (key %q deleted instead)", err, k)
	case err != nil:
		return write[V]{}, err
	}
	return write[V]{k: k, e: e, frame: frame, size: size, ttl: c.l2TTL(ttl), tags: tags}, nil
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

func (c *Cache[K, V]) errNoTags() error {
	return fmt.Errorf("tiered: %s: tags need an L2 store that keeps tag indexes (l2.Tagger): %w",
		c.cfg.Name, errors.ErrUnsupported)
}
