package l1

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Defaults of [Options].
const (
	// DefaultMaxCost is the default capacity: 64 MiB when costs are bytes.
	DefaultMaxCost = 64 << 20
	// DefaultAverageCost is the default guess of an entry's cost (bytes),
	// used to size the admission policy's frequency counters.
	DefaultAverageCost = 512
	// DefaultClockResolution is how often an [Otter] store reads the
	// clock by default.
	DefaultClockResolution = 10 * time.Millisecond
)

// Options configures a [Ristretto] or an [Otter] store. The zero value is
// valid.
type Options struct {
	// MaxCost bounds the sum of the costs of stored entries. Default
	// DefaultMaxCost.
	MaxCost int64

	// AverageCost is the expected cost of one entry. With MaxCost it sets
	// how many keys Ristretto's admission policy tracks (ten times MaxCost
	// / AverageCost, as ristretto recommends). Default DefaultAverageCost.
	// Otter sizes its policy itself.
	AverageCost int64

	// ClockResolution is how often Otter reads the clock that it expires
	// entries by. It reads it on a goroutine of its own, so that a Get
	// costs a load of a variable rather than a clock read (about 35 ns,
	// 40% of a hit); an entry may then live up to ClockResolution past its
	// TTL. Default DefaultClockResolution. Ristretto reads the clock on
	// every Get of an entry with a TTL.
	ClockResolution time.Duration

	// Metrics turns on ristretto's own counters, which Usage needs to
	// count entries: they cost an atomic add on every Get (about 15% of an
	// L1 hit on two cores). Cost, evictions and rejections are counted
	// without them. Default false: Usage reports Entries as -1.
	Metrics bool
}

// Ristretto is a Store over github.com/dgraph-io/ristretto/v2: TinyLFU
// admission, sampled LFU eviction, cost-bounded, per-entry TTL.
//
// Costs are taken as given (ristretto's own per-entry overhead is not added).
// Set is asynchronous for new keys; see [Store.Wait].
type Ristretto struct {
	c *ristretto.Cache[string, any]
	// ristretto must not be used while, or after, it closes (its Close
	// closes channels that Get and Set send on), so every call enters the
	// guard and Close waits for those inside. The exclusive lock serializes
	// Close and Clear.
	guard     guard
	exclusive sync.Mutex

	// Counted in ristretto's callbacks, on its own goroutine: entries
	// evicted (for room or expired) and Sets refused. Clear evicts every
	// entry through the same callback: clearing keeps it from counting.
	evictions, rejections atomic.Int64
	clearing              atomic.Bool
}

var (
	_ Store = (*Ristretto)(nil)
	_ Meter = (*Ristretto)(nil)
)

// ErrInvalidOptions is wrapped by the errors of NewRistretto and NewOtter.
var ErrInvalidOptions = errors.New("l1: invalid options")

// NewRistretto returns a store configured by opts.
func NewRistretto(opts Options) (*Ristretto, error) {
	if opts.MaxCost < 0 || opts.AverageCost < 0 {
		return nil, fmt.Errorf("%w: MaxCost and AverageCost must not be negative", ErrInvalidOptions)
	}
	if opts.MaxCost == 0 {
		opts.MaxCost = DefaultMaxCost
	}
	if opts.AverageCost == 0 {
		opts.AverageCost = DefaultAverageCost
	}
	counters := 10 * (opts.MaxCost / opts.AverageCost)
	if counters < 1000 {
		counters = 1000
	}
	r := &Ristretto{}
	c, err := ristretto.NewCache(&ristretto.Config[string, any]{
		NumCounters:        counters,
		MaxCost:            opts.MaxCost,
		BufferItems:        64,
		IgnoreInternalCost: true,
		Metrics:            opts.Metrics,
		OnEvict: func(*ristretto.Item[any]) {
			if !r.clearing.Load() {
				r.evictions.Add(1)
			}
		},
		OnReject: func(*ristretto.Item[any]) { r.rejections.Add(1) },
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	r.c = c
	return r, nil
}

// Usage reports what the store holds. It takes the admission policy's
// lock briefly. Entries is -1 unless Options.Metrics is on.
func (r *Ristretto) Usage() Usage {
	u := Usage{
		Entries:    -1,
		Evictions:  r.evictions.Load(),
		Rejections: r.rejections.Load(),
	}
	g := r.guard.enter()
	if g == nil {
		return u
	}
	defer r.guard.leave(g)
	u.MaxCost = r.c.MaxCost()
	u.Cost = u.MaxCost - r.c.RemainingCost()
	if m := r.c.Metrics; m != nil {
		u.Entries = int64(m.KeysAdded() - m.KeysEvicted())
	}
	return u
}

// Get returns the value stored under key.
func (r *Ristretto) Get(key string) (any, bool) {
	g := r.guard.enter()
	if g == nil {
		return nil, false
	}
	v, hit := r.c.Get(key)
	r.guard.leave(g)
	return v, hit
}

// Set stores value under key. A new key becomes visible asynchronously (call
// Wait); an existing key is replaced at once.
func (r *Ristretto) Set(key string, value any, cost int64, ttl time.Duration) bool {
	if ttl < 0 {
		return false
	}
	g := r.guard.enter()
	if g == nil {
		return false
	}
	defer r.guard.leave(g)
	return r.c.SetWithTTL(key, value, cost, ttl)
}

// Wait blocks until every earlier Set is applied.
func (r *Ristretto) Wait() {
	if g := r.guard.enter(); g != nil {
		defer r.guard.leave(g)
		r.c.Wait()
	}
}

// Delete removes key.
func (r *Ristretto) Delete(key string) {
	if g := r.guard.enter(); g != nil {
		defer r.guard.leave(g)
		r.c.Del(key)
	}
}

// Clear removes every entry.
func (r *Ristretto) Clear() {
	r.exclusive.Lock()
	defer r.exclusive.Unlock()
	if g := r.guard.enter(); g != nil {
		defer r.guard.leave(g)
		r.clearing.Store(true)
		defer r.clearing.Store(false)
		r.c.Clear()
	}
}

// Close stops ristretto's goroutines and drops every entry. It is idempotent
// and safe to call while other goroutines use the store: they see a closed
// store from then on.
func (r *Ristretto) Close() {
	r.exclusive.Lock()
	defer r.exclusive.Unlock()
	if r.guard.close() {
		r.c.Close()
	}
}
