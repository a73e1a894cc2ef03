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
// (without a log, the cache flushes its L1), and it subscribes again with a
// backoff.
// Sequence numbers per origin catch the messages lost otherwise (a full
// buffer, a failed publish).
//
// # The log: replaying instead of flushing
//
// With Options.LogLength, a flush is the exception. Each message is also
// appended to a Redis stream beside its channel ([Bus.LogKey], in the
// channel's Cluster slot), by the script that publishes it, so that the
// stream holds the messages in the order the subscribers hear them. A
// subscription that breaks tells the handler Lost(Suspended) (the cache
// serves nothing from L1 but keeps it); when it is back, it reads the log
// from its newest entry back to the newest message it had heard, hands
// the handler every message after it through Receive, and says
// Lost(Resumed). A gap in an origin's numbers is replayed the same way,
// without any Lost. The bus still says Lost(Resubscribed) or Lost(Gap),
// and the cache flushes, when the log cannot tell what was missed:
//
//   - it no longer reaches back to the last message heard (more than
//     LogLength messages were published meanwhile);
//   - a publisher heard among the last 256 messages has no entry in it (it
//     does not log: an instance without LogLength, or of an older release,
//     during a rolling deploy), since what it published meanwhile is in no
//     log;
//   - the server that holds it is not the one it was (another run ID: a
//     restart, a Sentinel failover, a Cluster master that died), since
//     replication is asynchronous and its last entries may be gone. A
//     Cluster replica promoted by a manual CLUSTER FAILOVER is the
//     exception: the bus checks that it continues the old master's
//     replication and that the old master follows it without a full
//     resynchronization, which proves that no entry was lost.
//
// A message then costs Redis a script instead of a PUBLISH (about 4 µs
// more of its CPU, and 5 µs more per round trip, on loopback with four
// subscribers: BenchmarkBus_Publish), paid once whatever the number of
// instances; the subscribers read the log only to replay. 10,000 entries
// take about 0.7 MB.
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
//	bus, err := redisbus.New(rdb, &redisbus.Options{
//		Keys:      [][]byte{key}, // 32 random bytes, shared by the instances
//		LogLength: 10_000,        // replay what a broken subscription missed
//	})
//	if err != nil { ... }
//	defer bus.Close()
//	users, err := tiered.New(&tiered.Options[int64, User]{Name: "users", L2: store, Bus: bus})
package redisbus
