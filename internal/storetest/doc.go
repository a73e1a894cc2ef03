// Package storetest holds the checks that every Redis-backed l2 store
// (l2/redisstore, l2/rueidisstore) passes beyond the l2 conformance suite
// (l2/l2test): those that reach under the store, to the Redis keys it
// shares with the other, through a client of their own. The stores' tests
// run them on miniredis and on a real redis-server.
package storetest
