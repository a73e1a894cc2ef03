package memstore

import "time"

// Options configures a [Store]. The zero value is valid; New accepts nil.
type Options struct {
	// Now returns the current time, which decides expiry. Default: a wall
	// clock derived from the monotonic one (internal/clock.Mono), cheaper
	// than time.Now.
	// Tests pass a fake clock; it is called on every operation, from any
	// goroutine, and must be safe for concurrent use.
	Now func() time.Time
}
