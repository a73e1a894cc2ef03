package tiered

import (
	"sync/atomic"
	"time"
)

// breaker decides whether reads may use L2. After a failure, reads skip L2
// for a cool-down; then one read (the probe) tries it, and its outcome closes
// or reopens the breaker. Writes always try L2 and report to the breaker too.
// When closed, allow costs one atomic load.
//
// The probe moves the end of the cool-down forward by one more cool-down as
// it starts, so a probe that never reports (its caller gave up) delays the
// next probe instead of blocking L2 for good.
type breaker struct {
	cooldown  time.Duration
	now       func() time.Time
	openUntil atomic.Int64 // unix nanoseconds; 0 when closed
}

// allow reports whether a read may use L2 now.
func (b *breaker) allow() bool {
	until := b.openUntil.Load()
	if until == 0 {
		return true
	}
	now := b.now().UnixNano()
	if now < until {
		return false
	}
	return b.openUntil.CompareAndSwap(until, now+int64(b.cooldown))
}

// success records a working L2; it reports whether the breaker was open.
func (b *breaker) success() bool {
	if b.openUntil.Load() == 0 {
		return false
	}
	return b.openUntil.Swap(0) != 0
}

// failure records an L2 failure; it reports whether the breaker was closed.
func (b *breaker) failure() bool {
	return b.openUntil.Swap(b.now().Add(b.cooldown).UnixNano()) == 0
}
