package tiered

import (
	"sync/atomic"
	"time"
)

// breaker decides whether reads may use L2. After a failure, reads skip L2
// for a cool-down; then one read (the probe) tries it, and its outcome closes
// or reopens the breaker. Writes always try L2 and report to the breaker too.
// When closed, allow costs one atomic load.
type breaker struct {
	cooldown  time.Duration
	now       func() time.Time
	openUntil atomic.Int64 // unix nanoseconds; 0 when closed
	probing   atomic.Bool
}

// allow reports whether a read may use L2 now.
func (b *breaker) allow() bool {
	until := b.openUntil.Load()
	if until == 0 {
		return true
	}
	if b.now().UnixNano() < until {
		return false
	}
	return b.probing.CompareAndSwap(false, true)
}

// success records a working L2; it reports whether the breaker was open.
func (b *breaker) success() bool {
	if b.openUntil.Load() == 0 {
		return false
	}
	b.openUntil.Store(0)
	b.probing.Store(false)
	return true
}

// failure records an L2 failure; it reports whether the breaker was closed.
func (b *breaker) failure() bool {
	wasClosed := b.openUntil.Swap(b.now().Add(b.cooldown).UnixNano()) == 0
	b.probing.Store(false)
	return wasClosed
}
