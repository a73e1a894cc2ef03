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
}

// Noop is a Recorder that records nothing. It is the cache's default.
type Noop struct{}

// Add does nothing.
func (Noop) Add(Event, int) {}

// Observe does nothing.
func (Noop) Observe(Event, time.Duration) {}

var _ Recorder = Noop{}
