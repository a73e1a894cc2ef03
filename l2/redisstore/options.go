package redisstore

// DefaultPrefix is the key prefix of a Store whose Options leave Prefix empty.
const DefaultPrefix = "tc:"

// Options configures a [Store]. The zero value is valid; New accepts nil.
type Options struct {
	// Prefix is put before every logical key, inside the hash tag: key k is
	// stored under "{" + Prefix + k + "}". It separates the cache from other
	// data in the same database, and one cache from another. New appends
	// ':' to a Prefix that does not end with one: since namespaces hold no
	// ':' (the tiered cache's names are made of [A-Za-z0-9_.-]), the prefix
	// of a namespace's keys, Prefix + ns + ":", then tells Prefix and ns
	// apart, and Prefix "app" with namespace "users" never meets Prefix
	// "appu" with namespace "sers". Two caches in one database need
	// prefixes of which neither starts the other ("app:" and "app:x:"
	// share keys). Prefix must not contain '}', which would end the hash
	// tag inside the prefix and put every key in one slot. Default:
	// DefaultPrefix.
	Prefix string

	// NoAutoPipeline sends each command that goes alone on a connection
	// of its own, as the client does by default. Otherwise (the default)
	// those commands (Get, Set, the lease and conditional scripts; not
	// GetMany's and SetMany's own pipelines) go through the client's
	// AutoPipeliner, go-redis's: the commands that callers send while a
	// batch is in flight go to Redis together in the next pipeline, per
	// node, and a command sent alone goes at once. With 64 goroutines
	// reading from one node it doubles the reads per second and divides
	// Redis's CPU per read by 5 (bench: BenchmarkGet_L2HitConcurrent).
	//
	// Only a *redis.Client (one node, or Sentinel) is auto-pipelined, with
	// its AutoPipeliner configured by its Options.AutoPipelineOptions
	// (go-redis marks it experimental). A *redis.ClusterClient is not,
	// yet: under a CLUSTER FAILOVER in the middle of a load, the cache's
	// consistency test (TestConsistency_ClusterFailover) ran 8 times
	// slower with it and an invalidation message was lost, which the same
	// test without it never showed. Nor is a client with
	// ContextTimeoutEnabled: the AutoPipeliner does not bound a queued
	// command by its context's deadline (it fails a command whose context
	// has already ended, as the client does).
	NoAutoPipeline bool
}
