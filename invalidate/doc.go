// Package invalidate keeps the in-process L1 tiers of several instances
// coherent: when one instance writes or deletes keys, it publishes a
// [Message] naming them, and every other instance that shares the L2 drops
// those entries from its L1.
//
// A [Message] names what to drop in one namespace (a cache): keys, tags, a
// key prefix, or everything (Flush). The [Bus] that carries it stamps it
// with its origin (the publishing bus's ID), a sequence number per origin
// and namespace, and the time it was sent. [Message.MarshalBinary] and
// [Message.UnmarshalBinary] give it a compact msgpack encoding; decoding
// refuses malformed input with [ErrMalformed], in time and memory linear
// in the input whatever counts it claims. [Message.EncodedLen] measures an
// encoding, and [Message.Split] cuts a message for a bus that caps their
// size.
//
// A [Bus] is one instance's connection to the others. Caches subscribe a
// [Handler] per namespace; the bus calls [Handler.Receive] with each message
// of the namespace, one call at a time.
//
// # At most once, and Lost
//
// Delivery is at most once: a disconnect or a full buffer loses messages,
// and nothing resends them. Instead the bus tells the handler whenever it
// may have missed one, through [Handler.Lost], and the handler forgets
// everything it holds for the namespace. Losing a message thus costs some
// L1 hits, never a stale read. The reasons ([LostReason]):
//
//   - [Subscribed]: the subscription is in place; what the handler cached
//     before may have missed messages.
//   - [Resubscribed]: the subscription was re-established after a
//     disconnect; whatever was published in between is gone.
//   - [Gap]: a sequence number of an origin was skipped. A [Tracker]
//     detects it: a bus keeps one per subscription and feeds it every
//     message's origin and number. A number far from the origin's last
//     one is a gap too, and does not move the tracker: a forged number
//     costs a flush, but cannot switch detection off.
//   - [Malformed]: a message could not be decoded.
//   - [Interrupted]: the subscription broke; messages are being missed
//     until [Resubscribed].
//
// A bus that keeps a log of the messages (redisbus's LogLength) says
// [Suspended] instead of [Interrupted], and [Resumed] once it replayed
// through Receive what it missed: the handler stops trusting what it
// holds between the two, but drops only what the replayed messages name.
// It falls back to the reasons above when the log cannot tell what was
// missed. [LostReason.Drops] tells the two kinds apart.
//
// A bus that authenticates its messages drops a forged one before it
// reaches the handler, and reports it to an [Observer] as [Rejected].
//
// # Implementations
//
// [github.com/tiercache/tiercache/invalidate/redisbus] is the Redis
// implementation, on Redis Pub/Sub. [MemBus] is an in-memory one for unit
// tests: the buses made by one [Hub] deliver to each other synchronously,
// through the wire encoding, and inject faults on demand
// ([MemBus.DropNext], [MemBus.SetPublishError], [MemBus.Reconnect]).
//
//	hub := invalidate.NewHub()
//	a, b := hub.NewBus("a"), hub.NewBus("b")
//	defer a.Close()
//	defer b.Close()
//	unsubscribe, err := b.Subscribe("users", handler) // handler.Lost(invalidate.Subscribed)
//	...
//	err = a.Publish(ctx, &invalidate.Message{Namespace: "users", Keys: []string{"42"}})
//	// handler.Receive has been called with Origin "a", Seq 1, Keys ["42"]
package invalidate
