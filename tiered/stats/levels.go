package stats

// Levels are a cache's current levels: what its L1 holds and the state of
// its parts. They are not events: a [Poller] reads them when it needs them
// (a Prometheus scrape), so that the hot path never pays for them.
type Levels struct {
	// L1Entries is how many entries L1 holds, -1 when its store does not
	// count them (l1.Ristretto counts them only with Options.Metrics).
	L1Entries int64
	// L1Cost is the total cost of L1's entries (bytes, by default), -1
	// when unknown; L1MaxCost its capacity, 0 when unknown.
	L1Cost, L1MaxCost int64
	// L1Evictions counts the entries L1 dropped to make room or because
	// they expired, since the cache was created (deletes and flushes
	// excluded); L1Rejections the values its admission policy refused.
	// Both are -1 when the store does not count them.
	L1Evictions, L1Rejections int64
	// L2 says the cache has an L2. L2Down: reads skip it, because it
	// failed recently (the breaker is open until its cool-down ends).
	L2, L2Down bool
	// L1Off: L1 serves and takes nothing, because the bus's subscription
	// is not in place (before the first one, or while a broken one comes
	// back).
	L1Off bool
	// Unsettled is how many keys whose write or delete has not reached L2
	// this instance retries.
	Unsettled int
}

// Poller is implemented by a Recorder that reads a cache's [Levels] when
// it needs them. A cache whose Recorder (the one [ForCache] returned)
// implements it calls Poll once, when it is created, with the function
// that reads its levels, and calls the returned stop function when it is
// closed. The levels function is safe for concurrent use; it takes the
// cache's locks briefly, so call it per scrape, not per event.
type Poller interface {
	Poll(levels func() Levels) (stop func())
}
