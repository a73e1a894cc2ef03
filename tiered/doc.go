// Package tiered is a typed two-tier cache: decoded values in an in-process
// L1 (otter by default, or ristretto) in front of a shared L2 (Redis, through
// l2/redisstore), filled by a loader once per missing key.
//
//	bus, err := redisbus.New(rdb, nil) // one per instance; Close it last
//	users, err := tiered.New(&tiered.Options[int64, User]{
//		Name:   "user",
//		L2:     redisstore.New(rdb, nil),
//		Bus:    bus,
//		TTL:    time.Hour,
//		Loader: loader.Func[int64, User](db.User),
//	})
//	if err != nil { ... }
//	defer users.Close()
//	u, err := users.Get(ctx, 42) // L1, then L2, then the loader
//
// # Reads
//
// Get looks in L1, then L2, then calls the Loader. Concurrent Gets of one
// missing key share one load; a caller whose context ends stops waiting, and
// the load goes on for the others (bounded by Options.LoadTimeout and by
// Close). A loader panic reaches every waiter as an error. GetMany does the
// same for many keys with one L2 call and one BatchLoader call.
//
// GetWith and SetWith change one call (GetOptions, SetOptions): a TTL and an
// L1 TTL of its own, L1 skipped, a read that never loads (Peek), a forced
// load (Refresh). A loader decides the TTL and tags of what it returns with
// Adapt.
//
// When L2 fails, reads go on without it: the error is counted
// (stats.L2Error), reads skip L2 for Options.L2Cooldown, then one read tries
// it again. A value in L2 that cannot be decoded (foreign, truncated or
// corrupt bytes) is counted (stats.L2Corrupt), deleted, and treated as a
// miss, so the load that follows repairs it.
//
// Every value in L2 carries a fingerprint of its schema: the codec, and V's
// type (or Options.SchemaVersion). A cache that meets a value of another
// schema (a Name shared by two caches of different types, or two versions
// of a service during a rolling deploy) counts it (stats.L2Foreign),
// loads the key and serves its own value without writing it over the other
// one, so that the two versions never overwrite each other in a loop;
// Delete and Set of either reach both.
//
// # Stampedes and freshness
//
// With an L2 store that keeps leases (l2.Leaser; redisstore does), the
// instances that miss one key at once load it once: the one that gets the
// key's lease in L2 loads, the others wait for its value (Options.LeaseTTL).
// A hot value is refreshed in the background before it expires, so that
// readers never wait for its load (XFetch, Options.Beta). An expired value
// can be served while it is refreshed (Options.StaleWhileRevalidate) or
// when its load fails (Options.StaleIfError); then a read waits for the
// load only Options.LoadSoftTimeout, and the source is asked once per key
// per Options.FailSafeThrottle rather than once per read.
//
// # Writes
//
// Set, SetMany and Delete change L2 first, then L1, then publish the keys
// on Options.Bus, and return L2's errors (and the bus's). A Get right after
// a Set in the same instance returns the new value. A value read or loaded
// before a write of its key is kept out of L1 (a generation per key). A
// load that was running when the key was written or deleted, in any
// instance, does not write its older value to L2: Delete leaves a
// tombstone, and a load writes only if L2 still holds what it saw before it
// called the loader.
//
// A write or delete whose L2 part failed (a master died) is not forgotten,
// whatever the caller does with the error: the key becomes unsettled. The
// cache writes its tombstone again until L2 takes it, and until then no
// instance reads the key from L2 (which may still hold the older value):
// the message of the write says so (invalidate.Message.Unsettled), and
// they load the key instead. Health reports the keys still unsettled.
//
// With several instances, Set after a write to the source of truth can
// leave the older value when two instances write one key at once (their
// Sets may reach L2 in either order). Delete after the source write
// (cache-aside) is safe: the next read loads the current value.
//
// Write-through (WriteThrough, WriteThroughMany, DeleteThrough) writes the
// source first, through Options.Writer or Options.BatchWriter, then the
// cache, and is safe with several writers: before the source write it takes
// the key's lease in L2, and stores its value only if the lease held and
// nothing was written to the key meanwhile; otherwise it invalidates the
// key, and the next read loads what the source holds. When the source
// refuses the write, the cache is left as it was and the error wraps
// ErrWriteFailed.
//
// Write-behind (WriteBehind, DeleteBehind, FlushBehind; Options.WriteBehind)
// accepts a write and returns: every instance serves it at once, and a
// flusher writes it to the source later, in batches, coalescing the writes
// of a key, in order per key, with retries and a dead-letter hook. In
// durable mode (a WriteBehindOptions.Queue such as redisstore.NewQueue) an
// accepted write survives the instance, and no instance loads a key whose
// write is queued, also after its value left L2.
//
// A process without a typed cache of a namespace (a CDC consumer, an admin
// tool) removes its keys, tags and prefixes with an Invalidator, with the
// same guarantees as Delete.
//
// # Invalidation across instances
//
// With a Bus (invalidate/redisbus), every instance drops from its L1 the
// keys that another instance wrote or deleted. Whenever messages may have
// been lost (a reconnection, a Cluster failover, a gap in a publisher's
// sequence numbers) the instance flushes its L1; from the first sign that
// its subscription broke until it is back, L1 is off (reads go to L2), as
// it is before the first subscription. A bus with a log (redisbus
// Options.LogLength) replays what the subscription missed instead, and L1
// keeps everything else: it only stops serving while the subscription is
// away. Options.L1TTL bounds how long a
// value can outlive its replacement when everything else failed.
//
// InvalidateTags removes every value written with a tag (Options.Tags,
// SetTagged) from L2 and from every L1; InvalidatePrefix removes the keys
// that start with a prefix; Flush empties the namespace.
//
// # Warming
//
// [Cache.Warm] fills the cache before it takes traffic (after a deploy, a
// flush, a new region): it runs the keys of a sequence through GetMany's
// steps in batches, a few batches at a time, and counts what each tier
// served ([WarmProgress]). An instance that starts after another has
// warmed the same keys finds them in L2 and calls no loader. With
// Options.HotKeys, the cache records its most read keys (sampled) and
// saves the list to L2 every minute and on Close; [Cache.WarmHot] warms
// the keys of the last list saved under the cache's Name.
//
// # Operations
//
// Health reports whether L2 answers, whether the bus's subscription is in
// place and how many invalidations wait for L2, for readiness probes.
// Options.Observer checks a sample of L1 hits against L2 (and the source)
// in the background and counts the disagreements (stats.Disagreed).
// Options.Stats receives every hit, miss, load, L2 call (operation,
// outcome, duration) and bus event; a Recorder shared by several caches
// learns each one's name (stats.PerCache). Close the caches before the Bus
// and the Redis client they use.
//
// # Values are shared
//
// L1 hands the same V to every caller: treat values as read-only, or copy
// them before changing them.
package tiered
