// Package redisbus is an [invalidate.Bus] over Redis pub/sub, through
// go-redis v9 (a *redis.Client, a failover client for Sentinel, a
// *redis.Ring or a *redis.ClusterClient).
//
// # Channels
//
// Each namespace has a channel ([Bus.Channel]):
//
//	Prefix [Scope ":"] ["db" N ":"] namespace
//
// "tc:inv:users" by default. Options.Scope names the application when
// several share a Redis server, and a client of a database other than 0
// adds its number by itself: Redis pub/sub ignores database numbers, and
// without it the caches of database 5 would hear those of database 0.
// On Redis Cluster the bus uses sharded pub/sub (SPUBLISH, SSUBSCRIBE): a
// message reaches the shard that owns its channel instead of being
// broadcast over the cluster bus to every node.
//
// # Publishing through another client
//
// Options.Publish hands every payload to a function of yours instead of
// the bus's client. The Publish method of l2/rueidisstore's Store is one:
// the messages then travel on the rueidis connection that carries the
// cache's own commands, pipelined with them, instead of a round trip of
// the bus's go-redis client (measured in bench/'s mixed Zipf workload: 4-6%
// more operations per second). The subscriptions stay on go-redis.
//
// # Lost messages
//
// Redis pub/sub delivers at most once: what is published while a subscriber
// is disconnected never reaches it. go-redis reconnects and resubscribes by
// itself without saying so, and after a Cluster failover it does not renew
// a sharded subscription at all. The bus reads every subscription
// confirmation and every unsubscription itself: each subscription after the
// first, and each one the server ended, makes it call the handler's Lost
// (the cache flushes its L1), and it subscribes again with a backoff.
// Sequence numbers per origin catch the messages lost otherwise (a full
// buffer, a failed publish).
//
// # Size
//
// No payload the bus publishes exceeds Options.MaxMessageSize (256 KiB by
// default): it splits a message that would into several, and merges
// messages only up to it. A receiver drops a larger payload before reading
// it, and decodes the others in time and memory linear in their length,
// whatever counts they claim.
//
// # Authentication
//
// Whoever may PUBLISH on the channels can, without Options.Keys:
//
//   - flush the L1 of every instance, with garbage, a Flush message, or a
//     forged sequence number (the cache coalesces the flushes; gap
//     detection survives forged numbers, see [invalidate.Tracker]);
//   - drop chosen keys from every L1 (each costs a read of L2);
//   - delay the messages behind its own by no more than their reading:
//     a payload over MaxMessageSize is dropped unread, a smaller one is
//     decoded in time and memory linear in its length;
//   - disconnect every subscriber, with a message larger than Redis's
//     output buffer limit for pub/sub clients ("client-output-buffer-limit
//     pubsub", 32 MB by default): the subscribers subscribe again and
//     flush their L1.
//
// With Options.Keys, every payload ends with a MAC (HMAC-SHA256 with the
// first key over the channel name, a 0 byte and the encoded message,
// truncated to 16 bytes), and a receiver drops unread every payload that
// none of the keys verifies: a forgery, or a message replayed from another
// channel. A publisher without the key can then do nothing to the caches
// but the last (and make each receiver compute a MAC per key over up to
// MaxMessageSize bytes). Against it, and against everything above where
// there are no keys, an ACL that lets only the instances publish on the
// channels (&tc:inv:*) is the remedy. A dropped payload reaches neither
// Receive nor Lost; it is reported to an [invalidate.Observer] as
// [invalidate.Rejected], and logged at most once a minute. Keys rotate
// without downtime: deploy [old, new] everywhere (sign with old, accept
// both), then [new, old], then [new].
//
// Usage:
//
//	bus, err := redisbus.New(rdb, &redisbus.Options{Keys: [][]byte{key}}) // key: 32 random bytes, shared by the instances
//	if err != nil { ... }
//	defer bus.Close()
//	users, err := tiered.New(&tiered.Options[int64, User]{Name: "users", L2: store, Bus: bus})
package redisbus
