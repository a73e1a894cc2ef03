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
// Unlike Ristretto, it is synchronous: a Set is visible to the next Get
// at once, and Wait does nothing. Costs are taken as given, up to
// math.MaxUint32 per entry (otter's weights are 32 bits); an entry whose
// cost is above MaxCost is refused.
type Otter struct {
	c       *otter.Cache[string, otterItem]
	maxCost int64
	closed  atomic.Bool
	// Counted in otter's atomic deletion handler: entries evicted for
	// room or expired.
	evictions atomic.Int64
}

var (
	_ Store = (*Otter)(nil)
	_ Meter = (*Otter)(nil)
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
	if opts.MaxCost < 0 || opts.AverageCost < 0 {
		return nil, fmt.Errorf("%w: MaxCost and AverageCost must not be negative", ErrInvalidOptions)
	}
	if opts.MaxCost == 0 {
		opts.MaxCost = DefaultMaxCost
	}
	o := &Otter{maxCost: opts.MaxCost}
	c, err := otter.New(&otter.Options[string, otterItem]{
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

// Close stops otter's goroutines. It is idempotent; a closed store misses
// on every Get and ignores writes.
func (o *Otter) Close() {
	if !o.closed.Swap(true) {
		o.c.InvalidateAll()
		o.c.StopAllGoroutines()
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
