// Package l1 is the in-process tier of a tiered cache: a bounded store of
// decoded values under string keys, each with its own TTL.
//
// [Store] is the interface the cache uses. [Otter], over
// github.com/maypok86/otter/v2, is the tiered cache's default: it is
// [Synchronous] (a Set is visible at once). [Ristretto], over
// github.com/dgraph-io/ristretto/v2, is the other. The package knows
// nothing of codecs or Redis: values are opaque, and costs are whatever the
// caller says (bytes, by default in the tiered cache).
//
// Ristretto buffers new entries and applies them on a background goroutine,
// so a Get right after a Set may miss. [Store.Wait] closes that gap: once it
// returns, every earlier Set is visible (unless the admission policy rejected
// it). The tiered cache calls it after its own writes, which gives
// read-your-writes inside one instance, and skips it when it only fills L1
// after a read.
//
//	s, err := l1.NewRistretto(l1.Options{MaxCost: 64 << 20})
//	if err != nil { ... }
//	defer s.Close()
//	s.Set("user:42", u, 120, time.Minute)
//	s.Wait()
//	v, ok := s.Get("user:42") // ok is true
package l1
