// Package tiered is a typed two-tier cache: decoded values in an in-process
// L1 (ristretto by default) in front of a shared L2 (Redis, through
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
// When L2 fails, reads go on without it: the error is counted
// (stats.L2Error), reads skip L2 for Options.L2Cooldown, then one read tries
// it again. A value in L2 that cannot be decoded (foreign, truncated or
// corrupt bytes) is counted (stats.L2Corrupt), deleted, and treated as a
// miss, so the load that follows repairs it.
//
// # Stampedes and freshness
//
// With an L2 store that keeps leases (l2.Leaser; redisstore does), the
// instances that miss one key at once load it once: the one that gets the
// key's lease in L2 loads, the others wait for its value (Options.LeaseTTL).
// A hot value is refreshed in the background before it expires, so that
// readers never wait for its load (XFetch, Options.Beta). An expired value
// can be served while it is refreshed (Options.StaleWhileRevalidate) or
// when its load fails (Options.StaleIfError).
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
// # Invalidation across instances
//
// With a Bus (invalidate/redisbus), every instance drops from its L1 the
// keys that another instance wrote or deleted. Whenever messages may have
// been lost (a reconnection, a Cluster failover, a gap in a publisher's
// sequence numbers) the instance flushes its L1. Options.L1TTL bounds how
// long a value can outlive its replacement when everything else failed.
//
// InvalidateTags removes every value written with a tag (Options.Tags,
// SetTagged) from L2 and from every L1; InvalidatePrefix removes the keys
// that start with a prefix; Flush empties the namespace.
//
// # Values are shared
//
// L1 hands the same V to every caller: treat values as read-only, or copy
// them before changing them.
package tiered
