// Package memstore is an in-process [l2.Store]: a map guarded by a
// sync.RWMutex, with a TTL per key.
//
// It stands in for Redis in tests of code built on the L2 tier, and lets
// benchmarks measure a cache's own CPU cost without a network. Values are
// copied in and out, like a remote store would, so callers can neither alias
// the stored bytes nor see later changes to their own buffers.
//
// Time comes from [Options].Now, so tests can drive expiry with a fake clock.
// [Store.FailWith] and [Store.SetDelay] inject faults: an unavailable or a
// slow tier.
//
//	now := time.Unix(0, 0)
//	s := memstore.New(&memstore.Options{Now: func() time.Time { return now }})
//	defer s.Close()
//	_ = s.Set(ctx, "user:42", []byte("v"), time.Minute)
//	now = now.Add(2 * time.Minute)
//	_, err := s.Get(ctx, "user:42") // errors.Is(err, l2.ErrMiss)
//
// Expired entries are dropped lazily, when a read finds them or a write
// touches their key; the store runs no goroutine.
package memstore
