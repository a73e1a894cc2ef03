// Package l2 defines the shared, remote tier of a tiered cache: a [Store] of
// opaque byte values under string keys, with per-key TTLs.
//
// The package speaks bytes only; typed values, codecs and envelopes live in
// the caller ([github.com/tiercache/tiercache/tiered]). Implementations:
//
//   - [github.com/tiercache/tiercache/l2/redisstore]: Redis (one node,
//     Sentinel or Cluster) through go-redis v9, the production store.
//   - [github.com/tiercache/tiercache/l2/memstore]: an in-process map, for
//     tests and for measuring the cache's own CPU cost.
//
// Every implementation passes the conformance suite in
// [github.com/tiercache/tiercache/l2/l2test].
//
// Beyond Store, a backend may offer optional abilities, each an interface the
// cache looks for with a type assertion: [Namespacer] (key framing in one
// allocation), [Conditional] (compare-and-set writes, which keep a slow load
// from overwriting a newer write or a delete), [Tagger] (tag indexes for
// InvalidateTags) and [PrefixDeleter] (InvalidatePrefix and Flush). Both
// implementations offer all four.
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
