package tiered

import (
	"context"
	"fmt"
	"time"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/tiered/stats"
)

// receiver applies the Bus's messages to a cache's L1. It is a type of its
// own so that Receive and Lost do not join the Cache's API.
type receiver[K comparable, V any] struct{ c *Cache[K, V] }

var _ invalidate.Handler = receiver[string, int]{}

// Receive drops the keys of another instance's message from L1. Each key's
// generation moves first, so that a read of the old value that is still on
// its way to L1 does not land there after the message.
func (r receiver[K, V]) Receive(m *invalidate.Message) {
	c := r.c
	if m.Origin == c.busID {
		c.cfg.Stats.Add(stats.Skipped, 1)
		return
	}
	if m.Flush || m.Prefix != "" || len(m.Tags) > 0 {
		// L1 cannot list its entries by prefix or tag.
		c.flushL1()
		c.cfg.Stats.Add(stats.FlushRemote, 1)
	}
	c.dropL1(m.Keys)
	c.cfg.Stats.Add(stats.Received, 1)
	c.cfg.Stats.Add(stats.ReceivedKeys, len(m.Keys))
	if m.Sent > 0 {
		c.cfg.Stats.Observe(stats.InvalidationLag, time.Duration(time.Now().UnixNano()-m.Sent))
	}
}

// Lost flushes L1: messages of the namespace may have been missed.
func (r receiver[K, V]) Lost(reason invalidate.LostReason) {
	c := r.c
	if reason == invalidate.Subscribed {
		// Nothing was missed since the subscription, but L1 may hold what
		// was read before it: flush L1, not the loads on their way to L2.
		c.gens.markLive()
		c.l1.Clear()
		c.cfg.Stats.Add(stats.Subscribed, 1)
		return
	}
	c.flushL1()
	switch reason {
	case invalidate.Resubscribed:
		c.cfg.Stats.Add(stats.FlushResubscribed, 1)
	default:
		c.cfg.Stats.Add(stats.FlushGap, 1)
	}
	c.cfg.Logger.LogAttrs(context.Background(), slogInfo, "tiercache: L1 flushed, invalidations may have been missed",
		attrCache(c.cfg.Name), attrReason(reason.String()))
}

// dropL1 removes keys from L1 after moving their generations, and forgets
// their running loads (later Gets must not join a load of the old value).
func (c *Cache[K, V]) dropL1(keys []string) {
	for _, k := range keys {
		c.gens.bump(c.gens.hash(k))
		c.flights.Forget(k)
		c.l1.Delete(k)
	}
}

// flushL1 empties L1. The generation of every key moves first, so that no
// value read before the flush lands in L1 after it.
func (c *Cache[K, V]) flushL1() {
	c.gens.bumpAll()
	c.l1.Clear()
}

// publish tells the other instances to drop keys from their L1. It returns
// nil without a Bus.
func (c *Cache[K, V]) publish(ctx context.Context, m *invalidate.Message) error {
	if c.cfg.Bus == nil {
		return nil
	}
	m.Namespace = c.cfg.Name
	if err := c.cfg.Bus.Publish(ctx, m); err != nil {
		c.cfg.Stats.Add(stats.PublishError, 1)
		return fmt.Errorf("tiered: %s: publish invalidation: %w", c.cfg.Name, err)
	}
	c.cfg.Stats.Add(stats.Published, 1)
	return nil
}
