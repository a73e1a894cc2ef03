// Package stats is how a tiered cache reports what it does: every hit and
// miss per tier, every load, every error of the remote tier.
//
// The cache calls a [Recorder]. [Noop] is the default; [Counter] keeps
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
