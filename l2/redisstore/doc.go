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
// The value of logical key k lives under the Redis key "{" + prefix + k +
// "}" ([Store.Key]; the prefix is [DefaultPrefix] unless [Options] says
// otherwise, and always ends with ':'). Redis Cluster hashes only a key's
// hash tag when it has one: the bytes between the first '{' and the first
// '}' after it, if there are any. Here the first '{' is always the key's
// first byte, so the tag is the prefix followed by k up to its first '}' (or
// all of k when it has none), and companion keys built by appending to the
// Redis key, such as "{tc:user:42}:lease", hash to the same slot: a Lua
// script or MULTI may use both.
//
// A '}' inside k is safe. For k = "a}b" the key is "{tc:a}b}" and the tag is
// "tc:a"; every key derived from it starts with the same bytes, so its tag,
// computed the same way, is "tc:a" too. Keys stay distinct, since the Redis
// key holds all of k; "a}b" merely shares its slot with "a". A '{' inside k
// changes nothing, as the tag starts at the first one. The prefix, which
// comes before k, must not contain '}'.
//
// Every Redis key of the store ends in a way that tells its kind, whatever
// bytes the keys and tags hold: a value's key ends with '}', its lease's
// ([Store.LeaseKey]) with "}:lease", its queued value's
// ([Store.QueuedKey]) with "}:queued", the claim of its queued value
// ([Store.ClaimKey]) with "}:claim", and a tag index, "{" + prefix + ns +
// "|tag|" + T + "}:tags" ([Store.TagKey]), with "}:tags". No value key
// equals a tag index, and DeletePrefix tells them apart by their last bytes:
// a value stored under "|tag|x" is a value like any other. DeletePrefix
// deletes values and leases only: queued values and claims outlive it.
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
// # Round trips
//
// GetMany and Delete batch their keys: one MGET or UNLINK on a single node;
// on a Cluster one command per hash slot, all in one pipeline, which go-redis
// sends to the nodes in parallel; on a Ring, one command per key in one
// pipeline. SetMany sends one SET PX per item in one pipeline. TTLs are
// rounded up to whole milliseconds. Every other command goes through the
// client's AutoPipeliner (see [Options].NoAutoPipeline): concurrent Gets,
// lease and conditional writes of different keys share round trips.
//
// # Optional interfaces
//
// A Store and its views implement every optional interface of l2 and
// declare them all ([Store.Abilities] is [l2.All]). SetIf is SET NX PX when
// the key must be absent, and otherwise a Lua script that compares and
// sets; SetManyIf sends the same commands for a batch in one pipeline.
// The lease of a key that holds a value lives beside it, under
// [Store.LeaseKey], which holds the holder's token (and one byte more once
// another caller was refused the lease: the waited mark); the lease of a
// key that holds no value lives in the key itself, so that GetLease can
// read a key and take its lease in one native command (SET NX GET), and
// Get and GetMany read it as a miss. Lease, SetLeased and Release run one
// Lua script call per key, and Revoke sends SET PX and DEL. The scripts
// that compare a key with what the caller read (SetIf, Lease, SetLeased)
// get its length and SHA-1, not the value itself. The index of a tag is a
// Redis set under [Store.TagKey], filled and given its lifetime by a Lua
// script (one call per tag) and emptied by SPOP with a count.
// DeletePrefix walks the keyspace of every master with SCAN MATCH, deletes
// the values and leases it finds with UNLINK and leaves tag indexes,
// queued values and claims alone. Write-behind's queued values
// ([l2.Stager]) live beside their values, under [Store.QueuedKey], with
// their sequence numbers as 20-digit strings (Lua's numbers are doubles),
// and their claims under [Store.ClaimKey]; Stage, Claim and Unstage run
// one Lua script call per key, and Lease's script reads the queued key
// too, so that it never grants the lease of a key with a queued value.
//
// Every script call goes the same way. An operation on one key (or one
// tag) sends one command, a batch one pipeline (one round trip per node):
// EVALSHA for each script call, beside the plain commands of the batch
// (SetManyIf's SET NX PX for items whose Old is nil). The script calls that
// a server answers NOSCRIPT (it restarted, or is a replica promoted since
// the script was loaded) go again as EVAL, in a second round trip.
//
// # Errors
//
// A missing key is [l2.ErrMiss]. Other errors name the operation
// ("redisstore: get: ...") and wrap the go-redis error; once the client is
// closed they also wrap [l2.ErrClosed].
//
// Errors that concern a key and not the store wrap [l2.ErrKeyFault]: the
// replies WRONGTYPE (a key holds a hash, a list or another type where the
// store keeps a string or a set, answered by a command or by one that a Lua
// script called), a Lua error raised while a script ran on its keys,
// TRYAGAIN (a command on several keys of a slot under migration, some of
// them moved) and ASK or MOVED when go-redis gives up following them during
// a migration (it follows ASK with the command ASKING, which the Redis user
// must be allowed: +asking). Transport errors, timeouts, a closed client, a
// canceled context and the other replies (CLUSTERDOWN, READONLY, LOADING,
// OOM, NOPERM...) are not key faults.
//
// A value's or a lease's key that answered WRONGTYPE holds nothing the
// store wrote: the operation deletes it with its companion (one UNLINK of
// the value's key and its lease's, in one more round trip) before it
// returns the fault, so that the next call on the key works; Tag deletes a
// tag index of the wrong type and runs its script once more, and PopTagged
// deletes it. MGET answers nil for
// a key of another type, which GetMany takes for a miss, and SET replaces a
// key of any type.
//
// A batch (GetMany, SetMany, SetManyIf, Lease, SetLeased, Release, Revoke,
// Delete, Tag, Stage, Claim, Unstage) whose failed commands all failed with key faults returns the
// results of the other keys with an [*l2.KeyFaults] that lists the
// positions the failed commands covered: one key for a script call or a SET,
// every key of its slot for an MGET or an UNLINK that a migration refused.
// When a command failed for another reason, the batch returns that error
// and no results.
//
// # Cluster failover
//
// A go-redis ClusterClient refreshes its slot map only every
// ClusterStateReloadInterval, 60 s by default, and on a MOVED reply; a dial
// error does not trigger a refresh. After a master dies, commands for its
// slots would fail against its address for up to a minute although a
// replica took over within seconds. So the Store asks the ClusterClient to
// reload its slot map (ReloadState, which runs in the background and which
// go-redis rate-limits) whenever an operation fails with an error that says
// a node may be gone or has changed role: a connection that fails, is
// refused, reset or closed, a pool timeout, or the replies CLUSTERDOWN,
// MASTERDOWN, READONLY, LOADING and TRYAGAIN (also a key fault). The errors
// of a caller's canceled or expired context, redis.Nil and other replies
// (WRONGTYPE, script errors) trigger no reload.
//
// With the default ClusterStateReloadInterval, then, the first operation
// on the dead master's slots after the promotion fails (with go-redis's
// default dial retries it takes a few seconds to), and the next ones reach
// the promoted replica: in the tests, with a node timeout of 1 s, the
// replica takes over about 2.5 s after a SIGKILL, and the Store serves its
// slots again about 2.5 s later. ClusterStateReloadInterval need not be
// shortened for the Store's sake.
//
// # Write-behind queue
//
// [NewQueue] makes the queue of write-behind's accepted writes (an
// [l2.Queue]) over Redis Streams: for namespace ns, [QueueOptions].Shards
// streams "{" + prefix + ns + "|wb|" + i + "}:queue" ([Queue.Keys]), each
// a hash tag of its own so that they spread over a Cluster's masters, with
// one entry per queued write, {k: key}, in stream CRC16(key) mod Shards,
// and one consumer group shared by every instance. They end with ":queue",
// not with '}': DeletePrefix (Flush) leaves them alone. Entries are
// deleted when they are acknowledged (XACK and XDEL), so XLEN is the
// depth.
//
// # Memory
//
// [Memory] reads what every server behind a client reports about its
// memory (one INFO memory stats replication per node, in parallel on a
// Cluster or a Ring): used and peak bytes, maxmemory and its policy, the
// keys evicted and expired, the node's role. [NodeMemory.Warnings] checks
// the production checklist: maxmemory set, and a volatile-* policy,
// neither noeviction (a full Redis refuses writes) nor allkeys-* (it may
// evict write-behind's queued values, which have no expiry).
//
//	nodes, err := redisstore.Memory(ctx, rdb) // err: the nodes that did not answer
//	for _, n := range nodes {
//		for _, w := range n.Warnings() {
//			logger.Warn(w)
//		}
//	}
//
// The Redis user needs +info. tiered/stats/promstats exports the same as
// Prometheus metrics (NewRedisCollector).
package redisstore
