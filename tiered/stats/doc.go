// Package stats is how a tiered cache reports what it does: every hit and
// miss per tier, every load, every call of the remote tier (its [Op],
// [Outcome] and duration), and what its invalidation bus does (messages
// sent and received, broken and restored subscriptions, flushes).
//
// The cache calls a [Recorder]. A Recorder shared by several caches that
// implements [PerCache] is asked once, when each cache is created, for the
// Recorder of that cache's name, so that an adapter labels by cache
// without a lookup per event. [Noop] is the default; [Counter] keeps
// in-memory totals readable with [Counter.Snapshot]; the Prometheus adapter
// (a separate package) exports them. The package uses the standard library
// only, so that core code never depends on a metrics system.
//
// Recorders are called on the cache's hot path, from many goroutines: they
// must be fast and safe for concurrent use.
//
//	var st stats.Counter
//	c, _ := tiered.New(&tiered.Options[string, User]{Name: "user", Stats: &st})
//	...
//	fmt.Println(st.Snapshot().Get(stats.L1Hit))
package stats
