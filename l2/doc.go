// Package l2 defines the shared, remote tier of a tiered cache: a [Store] of
// opaque byte values under string keys, with per-key TTLs.
//
// The package speaks bytes only; typed values, codecs and frames live in the
// caller ([github.com/tiercache/tiercache/tiered]). Implementations:
//
//   - [github.com/tiercache/tiercache/l2/redisstore]: Redis (one node,
//     Sentinel or Cluster) through go-redis v9, the production store.
//   - [github.com/tiercache/tiercache/l2/memstore]: an in-process map, for
//     tests and for measuring the cache's own CPU cost.
//
// Every implementation passes the conformance suite in
// [github.com/tiercache/tiercache/l2/l2test].
//
// # Optional abilities
//
// Beyond Store, a backend may offer optional abilities, each an interface,
// and declares which through [Store.Abilities]:
//
//   - [Namespacer] ([Namespaces]): key framing with the namespace in one
//     allocation.
//   - [Conditional] ([ConditionalWrites]): compare-and-set writes, which keep
//     a slow load from writing its older value over a newer write or a
//     delete (the tiered cache's tombstones rely on it).
//   - [Leaser] ([Leases]): per-key leases, so that of the instances that miss
//     a key at once one loads it; it embeds Conditional.
//   - [LeaseReader] ([LeaseReads]): a read that takes the key's lease when
//     the key holds no value, so that a miss costs two round trips; it
//     embeds Leaser.
//   - [Tagger] ([Tags]): tag indexes for InvalidateTags.
//   - [PrefixDeleter] ([Prefixes]): InvalidatePrefix and Flush.
//   - [Stager] ([Staging]): write-behind's queued values, kept beside
//     their keys until they are in the source of truth, so that no
//     instance loads a key whose write is queued; it embeds Leaser.
//
// The tiered cache calls [Check] once, when it is created: a Store that
// declares an ability it does not implement (typically a wrapper that
// embeds another Store, and so inherits its Abilities method but not its
// optional methods) is refused with an error, instead of silently losing
// tombstones and leases. Both implementations offer every ability.
//
// # Errors
//
// A Store translates its backend's errors at the boundary: a missing key is
// always [ErrMiss] (test it with errors.Is), any other error means the tier
// could not answer.
//
//	v, err := store.Get(ctx, "user:42")
//	switch {
//	case errors.Is(err, l2.ErrMiss):
//		// not stored
//	case err != nil:
//		// the tier is unavailable
//	}
package l2
