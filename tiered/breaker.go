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
// One probe runs at a time: the next comes a cool-down after the last
// failure, once the running probe's call has returned (probed). A probe
// against a server that fails slowly (go-redis dials 5 times, 100 ms apart,
// before it gives up) used to be followed by another every cool-down, each
// holding its reader for the length of its failure: with a 50 ms cool-down
// every reader of an instance ended up in a probe, and reads stalled for
// seconds during an outage (TestConsistency_RedisRestart, on a busy
// machine). A probe whose call has not returned after probeLimit (a store
// without timeouts) no longer holds the next one back.
type breaker struct {
	cooldown  time.Duration
	now       func() time.Time
	openUntil atomic.Int64 // unix nanoseconds; 0 when closed
	probe     atomic.Int64 // when the running probe started, unix nanoseconds; 0: none
}

// probeLimit bounds how long a probe that has not returned holds back the
// next one.
const probeLimit = 10 * time.Second

// allow reports whether a read may use L2 now. probe is not 0 when the read
// is the probe: its caller calls probed(probe) once the call returned.
func (b *breaker) allow() (ok bool, probe int64) {
	until := b.openUntil.Load()
	if until == 0 {
		return true, 0
	}
	now := b.now().UnixNano()
	if now < until {
		return false, 0
	}
	if p := b.probe.Load(); p != 0 && now-p < int64(probeLimit) {
		return false, 0
	}
	if !b.openUntil.CompareAndSwap(until, now+int64(b.cooldown)) {
		return false, 0
	}
	b.probe.Store(now)
	return true, now
}

// probed ends the probe that allow started at probe (0: none).
func (b *breaker) probed(probe int64) {
	if probe != 0 {
		b.probe.CompareAndSwap(probe, 0)
	}
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
