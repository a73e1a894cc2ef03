package tiered

import (
	"errors"
	"fmt"

	"github.com/tiercache/tiercache/l1"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Health is the state of a cache, for a service's readiness and liveness
// probes (see Cache.Health).
type Health struct {
	// Closed: Close was called.
	Closed bool
	// L2: the cache has an L2; L2Available: its last call worked, or its
	// cool-down is over (reads use it).
	L2, L2Available bool
	// Bus: the cache has a Bus; Subscribed: its subscription is in place,
	// so L1 is in use (from the first subscription, and but for the time
	// a broken subscription takes to come back).
	Bus, Subscribed bool
	// Unsettled is how many keys whose write or delete did not reach L2
	// this instance retries; Doubted how many other instances announced.
	// Reads load them rather than read them from L2.
	Unsettled, Doubted int
}

// Health reports the cache's state. It takes a lock briefly; it is meant
// for probes, not for every request.
func (c *Cache[K, V]) Health() Health {
	h := Health{
		Closed:     c.closed.Load(),
		L2:         c.remote != nil,
		Bus:        c.cfg.Bus != nil && c.unsubscribe != nil,
		Subscribed: !c.l1off.Load(),
	}
	if h.L2 {
		h.L2Available = c.remote.breaker.openUntil.Load() == 0
	}
	h.Unsettled, h.Doubted = c.unsettled.counts()
	return h
}

// Ready reports whether the cache serves reads: it is not closed. A cache
// whose L2 or bus is down still serves (from the loader, and without L1);
// see Err for those.
func (h Health) Ready() bool { return !h.Closed }

// Err returns nil when every part of the cache works, and otherwise an
// error that says what does not: closed, L2 in its cool-down, the bus's
// subscription not in place (L1 off), invalidations not yet in L2.
func (h Health) Err() error {
	var errs []error
	if h.Closed {
		errs = append(errs, ErrClosed)
	}
	if h.L2 && !h.L2Available {
		errs = append(errs, errors.New("tiered: L2 failed recently: reads skip it for its cool-down"))
	}
	if h.Bus && !h.Subscribed {
		errs = append(errs, errors.New("tiered: the bus's subscription is not in place: L1 is off"))
	}
	if h.Unsettled > 0 {
		errs = append(errs, fmt.Errorf("tiered: %d keys' invalidations have not reached L2 yet", h.Unsettled))
	}
	return errors.Join(errs...)
}

// levels reads the cache's stats.Levels, for a Recorder that polls them.
func (c *Cache[K, V]) levels() stats.Levels {
	h := c.Health()
	lv := stats.Levels{
		L1Entries: -1, L1Cost: -1, L1Evictions: -1, L1Rejections: -1,
		L2: h.L2, L2Down: h.L2 && !h.L2Available,
		L1Off:     !h.Subscribed,
		Unsettled: h.Unsettled,
	}
	if m, ok := c.l1.(l1.Meter); ok && !h.Closed {
		u := m.Usage()
		lv.L1Entries, lv.L1Cost, lv.L1MaxCost = u.Entries, u.Cost, u.MaxCost
		lv.L1Evictions, lv.L1Rejections = u.Evictions, u.Rejections
	}
	return lv
}
