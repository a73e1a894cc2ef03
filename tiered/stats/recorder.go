package stats

import "time"

// Recorder receives a cache's events. Implementations must be safe for
// concurrent use and fast: they run on the cache's hot path, outside its
// locks.
//
// Embed [Noop] in an implementation to stay source compatible if methods are
// added.
type Recorder interface {
	// Add counts n occurrences of ev.
	Add(ev Event, n int)
	// Observe records one occurrence of ev that took d (loads).
	Observe(ev Event, d time.Duration)
	// ObserveL2 records one call of the remote tier: which operation, how
	// it ended, and how long it took.
	ObserveL2(op Op, outcome Outcome, d time.Duration)
}

// Gauger is implemented by a Recorder that also takes gauges: values that
// go up and down (the depth of the write-behind queue, the age of its
// oldest write). The cache sets them with Gauge when the Recorder
// implements it, and leaves them out otherwise.
type Gauger interface {
	// Gauge sets ev's current value (a count, or nanoseconds for an age).
	Gauge(ev Event, value int64)
}

// PerCache is implemented by a Recorder that several caches share and that
// tells them apart (a metrics adapter labelling by cache name): the cache
// calls ForCache once, when it is created, with its name, and records
// through the Recorder it returns from then on.
type PerCache interface {
	ForCache(name string) Recorder
}

// ForCache returns the Recorder that the cache called name uses: r's
// ForCache(name) when r is a [PerCache], r itself otherwise, and [Noop]
// for nil.
func ForCache(r Recorder, name string) Recorder {
	switch r := r.(type) {
	case nil:
		return Noop{}
	case PerCache:
		if scoped := r.ForCache(name); scoped != nil {
			return scoped
		}
	}
	return r
}

// Noop is a Recorder that records nothing. It is the cache's default.
type Noop struct{}

// Add does nothing.
func (Noop) Add(Event, int) {}

// Observe does nothing.
func (Noop) Observe(Event, time.Duration) {}

// ObserveL2 does nothing.
func (Noop) ObserveL2(Op, Outcome, time.Duration) {}

var _ Recorder = Noop{}
