// Package memstore is an in-process [l2.Store]: a map guarded by a
// sync.RWMutex, with a TTL per key.
//
// It stands in for Redis in tests of code built on the L2 tier, and lets
// benchmarks measure a cache's own CPU cost without a network. Values are
// copied in and out, like a remote store would, so callers can neither alias
// the stored bytes nor see later changes to their own buffers.
//
// Time comes from [Options].Now, so tests can drive expiry with a fake clock.
// [Store.FailWith], [Store.FailWhen] and [Store.SetDelay] inject faults: an
// unavailable tier, one that fails some operations only, or a slow one.
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
//
// A Store and its views also implement every optional interface of l2, as
// the Redis store does, and declare them all ([Store.Abilities] is
// [l2.All]): [l2.Namespacer], [l2.Conditional] (SetIf compares bytes under
// the lock, SetManyIf takes it once for the batch), [l2.Leaser] (leases are
// kept beside the entries, with their holder's token, their expiry and
// whether another token was refused them; each call takes the lock once
// for its batch), [l2.LeaseReader] (GetLease reads a key and leases it
// when it holds no value, under one lock, and never leases a key with a
// queued value), [l2.Tagger] (tag indexes are sets kept apart from the
// entries, so no key is reserved for them, and expire on the same clock),
// [l2.PrefixDeleter] and [l2.Stager] (queued values, their sequence
// numbers and claims are kept apart from the entries, so that Delete,
// DeletePrefix and expiry leave them alone; claims and the memory of
// unstaged sequence numbers expire on the same clock).
//
// [NewQueueBackend] keeps write-behind's queues ([l2.Queue]) in the
// process, for tests (and for data whose loss is acceptable): its
// [QueueBackend.Queue] views share the entries of a namespace, hand them
// out to any reader again once the claim timeout passed on the backend's
// clock, and lose everything with the process.
package memstore
