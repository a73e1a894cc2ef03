package tiered

import (
	"context"
	"errors"

	"github.com/tiercache/tiercache/tiered/stats"
)

// Delete removes the keys from L2, then from L1, then tells the other
// instances to drop them. Loads of these keys that are running keep their
// result away from both tiers, in this instance and, when the L2 store
// supports conditional writes, in every other: the deleted value is
// replaced by a tombstone (see Options.TombstoneTTL) that makes their write
// fail, and the keys' leases end.
//
// On an L2 error the keys still leave L1, the invalidation is still
// published, and the error is returned; the cache keeps the keys unsettled
// and writes their tombstones as soon as L2 takes writes again, whatever
// the caller does with the error, and until then no instance serves what
// L2 holds for them (see the package documentation).
func (c *Cache[K, V]) Delete(ctx context.Context, keys ...K) (err error) {
	if c.cfg.Tracer != nil {
		var sp stats.Span
		ctx, sp = c.span(ctx, "delete")
		defer func() { endSpan(sp, stats.SpanEnd{Keys: len(keys)}, err) }()
	}
	if c.closed.Load() {
		return ErrClosed
	}
	if len(keys) == 0 {
		return nil
	}
	ws := make([]write[V], len(keys))
	for i, key := range keys {
		k := c.cfg.Key(key)
		if len(k) > MaxKeySize {
			return c.errKey(k)
		}
		ws[i] = write[V]{k: k}
	}
	return errors.Join(c.apply(ctx, "delete", ws, nil))
}

// deletes returns the writes that delete the L1 keys ks.
func deletes[V any](ks []string) []write[V] {
	ws := make([]write[V], len(ks))
	for i, k := range ks {
		ws[i] = write[V]{k: k}
	}
	return ws
}
