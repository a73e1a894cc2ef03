// Package writecheck runs the write-through check of the tiered cache on a
// real Redis: instances with their own L1, connections and bus share a
// Redis and a source of truth; writers write through (and delete through)
// while readers read through; then every instance must read what the
// source holds for every key, and no read may ever see a value the source
// refused. The tests of package tiered run it over an in-memory source
// that delays, reorders and refuses writes, and the bench module over a
// PostgreSQL table.
//
// The check runs in rounds: in each, the writers write a few keys at once
// (so that most writes of a key overlap another's, in the source and in
// the cache), then stop; once every instance heard every instance's fence
// message (every invalidation published before has arrived), every
// instance reads every key.
package writecheck
