// Package l2test is the conformance suite for [l2.Store] implementations.
//
// Every Store in this module passes [Run], and so should any other:
//
//	func TestConformance(t *testing.T) {
//		l2test.Run(t, l2test.Harness{
//			New: func(t *testing.T) l2.Store {
//				s := memstore.New(nil)
//				t.Cleanup(func() { s.Close() })
//				return s
//			},
//		})
//	}
//
// Run checks the contract of [l2.Store]: [l2.ErrMiss] for absent keys, values
// copied in and out, TTLs, GetMany order with misses and duplicates, Delete,
// canceled contexts, keys that naive framing would confuse, and concurrent
// use (run it with -race). Its subtests run in parallel, each on its own
// store from [Harness].New, except those that call [Harness].Advance.
//
// For a store that declares optional abilities ([l2.Store.Abilities]), Run
// checks the declaration ([l2.Check] accepts it, each view has the
// abilities of its store) and the contract of each interface declared, and
// skips the tests of the others: [l2.Conditional] (SetIf and SetManyIf on
// absent, present, different and expired values; one winner among
// concurrent writers), [l2.Tagger] (popping in batches without duplicates,
// tags apart from keys and from other views' tags, index lifetimes
// extended and never shortened), [l2.PrefixDeleter] (glob characters in
// the prefix, each key reported once, fn's error, tag indexes and other
// namespaces spared), [l2.Leaser] (one holder per key, grants only
// while the key holds what the caller read, SetLeased refused after a
// write or a takeover, Revoke ending every lease, lease lifetimes, one
// winner among concurrent callers; calls of many keys answer as calls of
// one key each do, in order; the waited mark, set by a LeaseHeld answer,
// kept by a grant to the holder, reported by the holder's SetLeased and
// Release, and ended with the lease), [l2.LeaseReader] (a read that takes
// the lease of a key with no value and only then, marks nothing, keeps
// the holder's lease without renewing it, and leaves the key valueless
// for Get and GetMany) and [l2.Stager] (a queued value
// becomes the key's value without expiry and ends its lease; sequence
// numbers ordered exactly up to the largest uint64, a Seq of 0 taking the
// next, the number remembered after Unstage; Lease never granted while a
// value is queued, answering the queued value and putting it back after a
// Delete, a tombstone, another value or DeletePrefix; one claim at a time,
// renewed by its holder and expiring with its TTL; Unstage of the matching
// number only, giving the value its TTL (deleting it for a TTL that is
// not positive) when it still holds the queued bytes; batches answering as
// calls of one key each). The tests of views need an [l2.Namespacer].
//
// [RunQueue] is the suite of [l2.Queue] implementations (write-behind's
// queue): sequence numbers increasing per key across writers, entries
// handed out again only after the claim timeout (a dead reader's taken
// over, with their delivery counts), acknowledged entries gone for good,
// Depth and the oldest entry, namespaces apart, a reader restarted under
// its name. memstore's QueueBackend and redisstore's NewQueue pass it.
package l2test
