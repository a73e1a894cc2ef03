// Package rediskey is the layout of the Redis keys that the Redis-backed
// l2 stores (l2/redisstore, l2/rueidisstore) share, so that caches on
// either store share a namespace: the suffixes that make the keys of a
// value's lease, queued value and claim, and of a tag index, from the key
// of a value ("{" + prefix + key + "}", a Cluster hash tag); what a key
// found by SCAN holds, as its last bytes tell; and the escaping of a
// literal SCAN MATCH pattern.
package rediskey
