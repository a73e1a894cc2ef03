// Package redisstore is the Redis [l2.Store], over a go-redis v9
// redis.UniversalClient: one node, Sentinel (redis.NewFailoverClient),
// Cluster or Ring.
//
//	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
//	defer rdb.Close()
//	store := redisstore.New(rdb, nil)
//	err := store.Set(ctx, "user:42", b, 10*time.Minute) // SET {tc:user:42} b PX 600000
//	b, err = store.Get(ctx, "user:42")                  // l2.ErrMiss when absent
//
// # Keys
//
// The value of logical key k lives under the Redis key "{" + prefix + k + "}"
// ([Store.Key]; the prefix is [DefaultPrefix] unless [Options] says
// otherwise). Redis Cluster hashes only a key's hash tag when it has one: the
// bytes between the first '{' and the first '}' after it, if there are any.
// Here the first '{' is always the key's first byte, so the tag is the prefix
// followed by k up to its first '}' (or all of k when it has none), and
// companion keys built by appending to the Redis key, such as
// "{tc:user:42}:lease", hash to the same slot: a Lua script or MULTI may use
// both.
//
// A '}' inside k is safe. For k = "a}b" the key is "{tc:a}b}" and the tag is
// "tc:a"; every key derived from it starts with the same bytes, so its tag,
// computed the same way, is "tc:a" too. Keys stay distinct, since the Redis
// key holds all of k; "a}b" merely shares its slot with "a". A '{' inside k
// changes nothing, as the tag starts at the first one. The prefix, which
// comes before k, must not contain '}'.
//
// # Round trips
//
// GetMany and Delete batch their keys: one MGET or UNLINK on a single node;
// on a Cluster one command per hash slot, all in one pipeline, which go-redis
// sends to the nodes in parallel; on a Ring, one command per key in one
// pipeline. SetMany sends one SET PX per item in one pipeline. TTLs are
// rounded up to whole milliseconds.
//
// # Optional interfaces
//
// A Store and its views implement [l2.Conditional], [l2.Tagger] and
// [l2.PrefixDeleter]. SetIf is SET NX PX when the key must be absent, and
// otherwise a Lua script that compares and sets (EVALSHA, or EVAL when the
// server lost its scripts); SetManyIf sends the same commands for a batch
// in one pipeline, and EVAL in a second one for the items that need it.
// The index of a tag is a Redis set under [Store.TagKey], filled and given
// its lifetime by a Lua script (one call per tag, all in one pipeline) and
// emptied by SPOP with a count.
// DeletePrefix walks the keyspace of every master with SCAN MATCH, deletes
// what it finds with UNLINK and leaves tag indexes alone.
//
// # Errors
//
// A missing key is [l2.ErrMiss]. Other errors name the operation
// ("redisstore: get: ...") and wrap the go-redis error; once the client is
// closed they also wrap [l2.ErrClosed].
//
// A go-redis ClusterClient refreshes its view of the cluster every
// ClusterStateReloadInterval, 60 s by default, and a dial error does not
// trigger a refresh: after a master dies, commands for its slots may fail
// for up to a minute although a replica took over within seconds. Set a
// shorter interval (1 s) where that matters.
package redisstore
