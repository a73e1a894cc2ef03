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
// It implements [l2.Namespacer], [l2.Conditional], [l2.Leaser],
// [l2.LeaseReader], [l2.Tagger] and [l2.PrefixDeleter], and declares them
// ([Store.Abilities]); only write-behind's queued values ([l2.Stager])
// need l2/redisstore for now.
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
// Keys: the value of key k lives under "{" + prefix + k + "}", its lease
// (while it holds a value) under that + ":lease", and the index of tag T
// under "{" + prefix + "|tag|" + T + "}:tags" ([Store.TagKey]), as in
// l2/redisstore; a key that holds no value keeps its lease in itself, a
// value that starts with "\x00TCL" and the holder's token, which Get and
// GetMany read as no value. The scripts are those of internal/redislua.
package rueidisstore
