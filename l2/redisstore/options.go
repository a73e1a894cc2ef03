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
}
