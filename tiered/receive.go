package tiered

import (
	"context"
	"time"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/tiered/stats"
)

// receiver applies the Bus's messages and state to a cache. It is a type of
// its own so that Receive, Lost and Observe do not join the Cache's API.
type receiver[K comparable, V any] struct{ c *Cache[K, V] }

var (
	_ invalidate.Handler  = receiver[string, int]{}
	_ invalidate.Observer = receiver[string, int]{}
)

// Receive applies another instance's message: the keys leave L1 (each
// key's generation moves first, so that a read of the old value that is
// still on its way to L1 does not land there after the message), the loads
// that wait for their leases look again, and the keys' unsettled state is
// noted. A Wake message only wakes.
func (r receiver[K, V]) Receive(m *invalidate.Message) {
	c := r.c
	if m.Origin == c.busID {
		c.stats.Add(stats.Skipped, 1)
		return
	}
	if m.Wake { // not an invalidation: counted by the waits it ends (LeaseWoken)
		c.waiters.wake(m.Keys)
		return
	}
	c.unsettled.heard(m.Origin, m.Keys, m.Unsettled)
	if m.Flush || m.Prefix != "" || len(m.Tags) > 0 {
		// L1 cannot list its entries by prefix or tag.
		c.flushL1()
		c.stats.Add(stats.FlushRemote, 1)
	}
	c.dropL1(m.Keys)
	c.waiters.wake(m.Keys)
	// Counted once applied: a reader of the stats (a test, a benchmark)
	// may take Received as "L1 no longer holds the keys".
	c.stats.Add(stats.Received, 1)
	c.stats.Add(stats.ReceivedKeys, len(m.Keys))
	if m.Sent > 0 {
		c.stats.Observe(stats.InvalidationLag, time.Duration(time.Now().UnixNano()-m.Sent))
	}
}

// Lost applies the bus's news that messages may have been missed: L1 is
// flushed, and while the subscription is broken (from Interrupted or
// Suspended to Resubscribed or Resumed) L1 takes and serves nothing, since
// no invalidation could reach it. A bus with a log says Suspended: L1 keeps
// its entries, and serves them again at Resumed, once the messages missed
// meanwhile were replayed.
func (r receiver[K, V]) Lost(reason invalidate.LostReason) {
	c := r.c
	switch reason {
	case invalidate.Subscribed:
		// Nothing was missed since the subscription, but L1 may hold what
		// was read before it: flush L1, not the loads on their way to L2.
		c.gens.markLive()
		c.l1.Clear()
		c.l1off.Store(false)
		c.stats.Add(stats.Subscribed, 1)
		return
	case invalidate.Interrupted, invalidate.Suspended:
		c.l1off.Store(true)
		c.gens.pause()
		if reason == invalidate.Interrupted {
			c.flushL1()
		}
		c.stats.Add(stats.Interrupted, 1)
		c.cfg.Logger.LogAttrs(context.Background(), slogWarn, "tiercache: invalidation subscription broken, L1 off until it is back",
			attrCache(c.cfg.Name), attrReason(reason.String()))
		return
	case invalidate.Resumed:
		// What was missed has been replayed (Receive): what L1 kept is
		// good again.
		c.gens.resume()
		c.l1off.Store(false)
		c.stats.Add(stats.Resumed, 1)
		return
	case invalidate.Resubscribed:
		cleared := c.flushL1()
		c.gens.resume()
		c.l1off.Store(false)
		c.stats.Add(stats.FlushResubscribed, 1)
		c.logFlush(cleared, reason)
	default:
		cleared := c.flushL1()
		c.stats.Add(stats.FlushGap, 1)
		c.logFlush(cleared, reason)
	}
}

// logFlush logs a flush of L1 for reason, unless it was coalesced with an
// earlier one (a flood of reasons would flood the log too).
func (c *Cache[K, V]) logFlush(cleared bool, reason invalidate.LostReason) {
	if cleared {
		c.cfg.Logger.LogAttrs(context.Background(), slogInfo, "tiercache: L1 flushed, invalidations may have been missed",
			attrCache(c.cfg.Name), attrReason(reason.String()))
	}
}

// Observe counts how the namespace's messages fared on their way out.
func (r receiver[K, V]) Observe(ev invalidate.Event, _ int) {
	switch ev {
	case invalidate.Sent:
		r.c.stats.Add(stats.BusSent, 1)
	case invalidate.SendFailed:
		r.c.stats.Add(stats.BusSendFailed, 1)
	case invalidate.Rejected:
		r.c.stats.Add(stats.BusRejected, 1)
	}
}
