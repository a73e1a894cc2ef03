// Package rueidisstore is an [l2.Store] on a rueidis client
// (github.com/redis/rueidis), for Redis standalone, Sentinel or Cluster:
// the same keys, values and Lua scripts as l2/redisstore, so that caches
// on either store share a namespace, over a client that sends the
// commands of all goroutines on one pipelined connection per node.
//
// It lives in a module of its own, so that a service that uses
// l2/redisstore never builds rueidis. Measured in bench/'s mixed Zipf
// workload (90% reads, 10% writes, L1 1% of 1M keys), tiercache over it
// served about 1.4x the operations per second of tiercache over
// l2/redisstore, most of the difference being go-redis's client CPU per
// command on that 2-core machine (see the README's performance section).
//
// [Store.Publish] lets an invalidate/redisbus bus publish on the store's
// connection too (redisbus.Options.Publish), pipelined with the cache's
// commands instead of in round trips of go-redis's own.
//
// It implements every optional interface of l2 that l2/redisstore does
// ([l2.Namespacer], [l2.Conditional], [l2.Leaser], [l2.LeaseReader],
// [l2.Tagger], [l2.PrefixDeleter] and [l2.Stager], write-behind's queued
// values), and declares them ([Store.Abilities]). Durable write-behind
// (tiered's WriteBehindOptions.Queue) needs, besides the queued values
// that the store keeps, an [l2.Queue] of the writes, which this module
// does not provide: use l2/redisstore.NewQueue (Redis Streams, on a
// go-redis client, such as the one the bus subscribes on) beside the
// store.
//
//	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:6379"}, DisableCache: true})
//	if err != nil {
//		return err
//	}
//	defer client.Close()
//	store := rueidisstore.New(client, nil)
//	bus, err := redisbus.New(rdb, &redisbus.Options{Publish: store.Publish}) // rdb: a go-redis client, for the subscriptions
//	if err != nil {
//		return err
//	}
//	defer bus.Close()
//	cache, err := tiered.New(&tiered.Options[int64, User]{Name: "user", L2: store, Bus: bus, Loader: load})
//
// Keys, as in l2/redisstore: the value of key k lives under "{" + prefix
// + k + "}" ([Store.Key]), its lease (while it holds a value) under that +
// ":lease" ([Store.LeaseKey]), its queued value (write-behind) under that
// + ":queued" ([Store.QueuedKey]), the claim of its queued value under
// that + ":claim" ([Store.ClaimKey]), and the index of tag T under "{" +
// prefix + "|tag|" + T + "}:tags" ([Store.TagKey]). A key that holds no
// value keeps its lease in itself, a value that starts with "\x00TCL" and
// the holder's token, which Get and GetMany read as no value. The scripts
// are those of internal/redislua.
//
//	{tc:user:42}          the value (SET PX; Stage sets it without expiry),
//	                      or, while the key holds no value, its lease:
//	                      "\x00TCL" + token [+ "w"] (PX: the lease's life)
//	{tc:user:42}:lease    the lease of a key that holds a value:
//	                      token [+ "w"] (PX: the lease's life)
//	{tc:user:42}:queued   "q" + seq (20 digits) + value, without expiry;
//	                      after Unstage "r" + seq (PX l2.StageMemory)
//	{tc:user:42}:claim    the claiming token (PX: the claim's life)
//	{tc:user|tag|t}:tags  a tag index: a set of keys
//
// DeletePrefix deletes values and leases only: queued values and claims
// outlive it.
package rueidisstore
