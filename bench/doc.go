// Package bench sets tiercache beside the libraries a Go service would pick
// instead, on the same Redis, the same keys and the same value type, so that
// every figure has its alternatives measured in the same run.
//
// Each library is a [Library]: a name and a constructor of a [Peer], one
// cache instance with its own local tier and Redis connections, configured
// as the library's documentation recommends for two tiers:
//
//   - tiercache: ristretto L1, Redis L2, invalidation over Redis pub/sub,
//     leases and early refresh at their defaults.
//   - go-redis-cache: github.com/go-redis/cache/v9, a TinyLFU local cache of
//     encoded bytes in front of Redis, loads deduplicated by Once.
//   - rueidis: github.com/redis/rueidis with server-assisted client-side
//     caching (DoCache); loads by hand (GET, load, SET).
//   - go-redis-csc: go-redis v9's experimental client-side cache
//     (Options.ClientSideCacheConfig, RESP3); loads by hand.
//   - ristretto: a raw ristretto v2 cache of decoded values, no Redis.
//   - go-redis+msgpack: raw go-redis and msgpack, no local tier.
//
// The scenarios are benchmarks in this package's tests; `make bench` at the
// repository root runs them and draws the chart (cmd/benchreport). This is
// its own Go module, so that none of the peers reaches tiercache's users.
package bench
