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
// store from [Harness].New.
package l2test
