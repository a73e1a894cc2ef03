package tiered

import (
	"context"
	"errors"
	"time"

	"github.com/tiercache/tiercache/tiered/stats"
)

// judge decides what a read does with frame, what L2 holds for lk's key
// (nil: nothing): it returns the entry to serve, or nil. On the way it
//
//   - decodes the frame: a damaged one is counted and deleted, another
//     schema's is counted and left alone (see undecodable);
//   - puts a fresh value into L1 (unless lk's key was written since the
//     lookup began);
//   - for a caller's read (first), starts a refresh when the value is due
//     for one, serves an expired value within StaleWhileRevalidate, and
//     counts the L2 hit or miss;
//   - notes in lk what L2 held (the condition of a load's write) and the
//     freshest expired value (for StaleIfError).
//
// Every read of L2 goes through it: Get's, each key of GetMany's, and the
// second look of a load. A flight's second look (first false) serves only
// fresh values. now is the time of the read, or zero: judge reads the
// clock when it needs it (GetMany reads it once for its keys).
func (c *Cache[K, V]) judge(ctx context.Context, lk *lookup[K, V], frame []byte, first bool, now time.Time) *entry[V] {
	lk.seen = observed{ok: true, frame: frame}
	e, size := c.decodeL2(ctx, lk, frame)
	if e == nil || e.tombstone {
		c.countL2(first, stats.L2Miss)
		return nil
	}
	if now.IsZero() {
		now = c.cfg.Now()
	}
	ms := now.UnixMilli()
	if e.expiry > ms {
		// Into L1 before serves may start a refresh, whose value must not
		// be overwritten by this older one. An expired entry stays out of
		// L1: its refresh is on the way.
		if !lk.noL1 {
			c.fillL1(lk.k, lk.h, lk.gen, e, size, c.l1TTLAt(e, now, lk.l1ttl))
		}
		if !first || c.serves(ctx, lk.key, lk.k, e, ms) {
			c.countL2(first, stats.L2Hit)
			return e
		}
	}
	lk.keepStale(e)
	if first && c.serves(ctx, lk.key, lk.k, e, ms) { // within StaleWhileRevalidate
		c.countL2(first, stats.L2Hit)
		return e
	}
	c.countL2(first, stats.L2Miss)
	return nil
}

// countL2 counts an L2 hit or miss of a caller's read.
func (c *Cache[K, V]) countL2(first bool, ev stats.Event) {
	if first {
		c.stats.Add(ev, 1)
	}
}

// decodeL2 decodes frame, read from L2 for lk's key, and returns its entry
// and payload size: nil when there is nothing it can use (nothing, another
// schema's value, a damaged value), noting in lk.seen what a load compares
// against.
func (c *Cache[K, V]) decodeL2(ctx context.Context, lk *lookup[K, V], frame []byte) (*entry[V], int) {
	if frame == nil {
		return nil, 0
	}
	e, size, err := c.decode(lk.k, frame)
	if err != nil {
		lk.seen = c.undecodable(ctx, lk.k, frame, err)
		return nil, 0
	}
	return e, size
}

// undecodable handles a frame of k that decode refused with err, and
// returns what a load that follows may assume L2 holds. Another schema's
// value is counted (stats.L2Foreign) and left alone: the load does not
// write over it; so is a value larger than MaxValueSize, which is not
// decoded (stats.ValueTooLarge). A damaged or foreign one is counted (stats.L2Corrupt),
// logged and deleted, so that the load that follows repairs the key.
func (c *Cache[K, V]) undecodable(ctx context.Context, k string, frame []byte, err error) observed {
	switch {
	case errors.Is(err, errForeign):
		c.stats.Add(stats.L2Foreign, 1)
		return observed{ok: true, frame: frame, foreign: true}
	case errors.Is(err, errTooLarge):
		c.stats.Add(stats.ValueTooLarge, 1)
		return observed{ok: true, frame: frame, foreign: true}
	}
	c.stats.Add(stats.L2Corrupt, 1)
	c.cfg.Logger.LogAttrs(ctx, slogWarn, "tiercache: undecodable value in L2, deleting it",
		attrCache(c.cfg.Name), attrKey(k), attrErr(err))
	if derr := c.remote.remove(context.WithoutCancel(ctx), []string{k}); derr != nil {
		return observed{} // L2's state is unknown
	}
	return observed{ok: true}
}

// adopt returns the entry of frame, which L2 holds for lk's key now, put
// into L1 as a write would put it (see replaceL1), when it is a fresh value
// other than cur (the value a refresh replaces); otherwise nil, and what a
// load may assume L2 holds. A refresh meets such a value when another
// instance refreshed or wrote the key first, a load that waited for
// another instance's lease when that instance stored its value.
func (c *Cache[K, V]) adopt(ctx context.Context, lk *lookup[K, V], frame []byte, cur *entry[V]) (*entry[V], observed) {
	if frame == nil {
		return nil, observed{ok: true}
	}
	e, size, err := c.decode(lk.k, frame)
	if err != nil {
		return nil, c.undecodable(ctx, lk.k, frame, err)
	}
	now := c.cfg.Now()
	switch {
	case e.tombstone || e.expiry <= now.UnixMilli():
		return nil, observed{ok: true, frame: frame}
	case cur != nil && e.expiry == cur.expiry:
		return nil, observed{ok: true, frame: frame} // the value cur came from
	}
	c.replaceL1(lk.k, lk.h, lk.gen, e, size, c.l1TTL(e, now))
	return e, observed{}
}
