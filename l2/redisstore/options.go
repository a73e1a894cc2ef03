package redisstore

// DefaultPrefix is the key prefix of a Store whose Options leave Prefix empty.
const DefaultPrefix = "tc:"

// Options configures a [Store]. The zero value is valid; New accepts nil.
type Options struct {
	// Prefix is put before every logical key, inside the hash tag: key k is
	// stored under "{" + Prefix + k + "}". It separates the cache from other
	// data in the same database, and one cache from another. It must not
	// contain '}', which would end the hash tag inside the prefix and put
	// every key in one slot. Default: DefaultPrefix.
	Prefix string
}
