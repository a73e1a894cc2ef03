// Package redisbus is an [invalidate.Bus] over Redis pub/sub, through
// go-redis v9 (a *redis.Client, a failover client for Sentinel, or a
// *redis.ClusterClient).
//
// Each namespace has a channel, Options.Prefix + namespace ("tc:inv:users").
// On Redis Cluster the bus uses sharded pub/sub (SPUBLISH, SSUBSCRIBE): a
// message reaches the shard that owns its channel instead of being
// broadcast over the cluster bus to every node.
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
// Usage:
//
//	bus, err := redisbus.New(rdb, nil)
//	if err != nil { ... }
//	defer bus.Close()
//	users, err := tiered.New(&tiered.Options[int64, User]{Name: "users", L2: store, Bus: bus})
package redisbus
