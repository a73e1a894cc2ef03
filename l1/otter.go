package l1

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// Otter is a Store over github.com/maypok86/otter/v2: W-TinyLFU admission
// and eviction (S3-FIFO-like windows), bounded by cost, per-entry TTL.
//
// Unlike Ristretto, it is [Synchronous]: a Set is visible to the next Get
// at once, and Wait does nothing. Costs are taken as given, up to
// math.MaxUint32 per entry (otter's weights are 32 bits); an entry whose
// cost is above MaxCost is refused. TTLs are counted on a clock read every
// Options.ClockResolution.
type Otter struct {
	c       *otter.Cache[string, otterItem]
	maxCost int64
	closed  atomic.Bool
	clock   *otter.CoarseClock
	// Counted in otter's atomic deletion handler: entries evicted for
	// room or expired.
	evictions atomic.Int64
}

var (
	_ Store       = (*Otter)(nil)
	_ Meter       = (*Otter)(nil)
	_ Synchronous = (*Otter)(nil)
)

// otterItem is what Otter stores under a key: the value, and the cost and
// TTL that otter's weigher and expiry calculator read back.
type otterItem struct {
	value  any
	weight uint32
	ttl    time.Duration
}

// noExpiry stands for "no TTL": otter takes a duration per entry.
const noExpiry = 100 * 365 * 24 * time.Hour

// NewOtter returns a store configured by opts (AverageCost and Metrics do
// not apply: otter sizes itself, and always counts its entries).
func NewOtter(opts Options) (*Otter, error) {
	if opts.MaxCost < 0 || opts.AverageCost < 0 || opts.ClockResolution < 0 {
		return nil, fmt.Errorf("%w: MaxCost, AverageCost and ClockResolution must not be negative", ErrInvalidOptions)
	}
	if opts.MaxCost == 0 {
		opts.MaxCost = DefaultMaxCost
	}
	if opts.ClockResolution == 0 {
		opts.ClockResolution = DefaultClockResolution
	}
	o := &Otter{maxCost: opts.MaxCost, clock: otter.NewCoarseClock(opts.ClockResolution)}
	c, err := otter.New(&otter.Options[string, otterItem]{
		Clock:         o.clock,
		MaximumWeight: uint64(opts.MaxCost),
		Weigher:       func(_ string, it otterItem) uint32 { return it.weight },
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, otterItem]) time.Duration {
			return e.Value.ttl
		}),
		// Atomic: the plain handler runs on a goroutine of its own per
		// deletion (otter's default executor).
		OnAtomicDeletion: func(e otter.DeletionEvent[string, otterItem]) {
			if e.WasEvicted() {
				o.evictions.Add(1)
			}
		},
	})
	if err != nil {
		o.clock.Stop()
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	o.c = c
	return o, nil
}

// Get returns the value stored under key.
func (o *Otter) Get(key string) (any, bool) {
	if o.closed.Load() {
		return nil, false
	}
	it, ok := o.c.GetIfPresent(key)
	if !ok {
		return nil, false
	}
	return it.value, true
}

// Set stores value under key at once. It refuses a negative TTL and a cost
// above the store's MaxCost.
func (o *Otter) Set(key string, value any, cost int64, ttl time.Duration) bool {
	if ttl < 0 || cost > o.maxCost || o.closed.Load() {
		return false
	}
	if ttl == 0 {
		ttl = noExpiry
	}
	o.c.Set(key, otterItem{value: value, weight: uint32(min(max(cost, 0), math.MaxUint32)), ttl: ttl})
	return true
}

// Wait returns at once: Otter's writes are synchronous.
func (o *Otter) Wait() {}

// Synchronous reports true: a Set is applied before it returns.
func (o *Otter) Synchronous() bool { return true }

// Delete removes key at once.
func (o *Otter) Delete(key string) {
	if !o.closed.Load() {
		o.c.Invalidate(key)
	}
}

// Clear removes every key.
func (o *Otter) Clear() {
	if !o.closed.Load() {
		o.c.InvalidateAll()
	}
}

// Close stops otter's goroutines and the clock's. It is idempotent; a closed store misses
// on every Get and ignores writes.
func (o *Otter) Close() {
	if !o.closed.Swap(true) {
		o.c.InvalidateAll()
		o.c.StopAllGoroutines()
		o.clock.Stop()
	}
}

// Usage reports what the store holds, after otter's pending maintenance
// (evictions it has not applied yet); otter counts its entries itself.
// Rejections are -1: otter's admission evicts (counted in Evictions)
// rather than refuses.
func (o *Otter) Usage() Usage {
	if !o.closed.Load() {
		o.c.CleanUp()
	}
	return Usage{
		Entries:    int64(o.c.EstimatedSize()),
		Cost:       int64(o.c.WeightedSize()),
		MaxCost:    o.maxCost,
		Evictions:  o.evictions.Load(),
		Rejections: -1,
	}
}
