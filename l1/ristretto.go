package l1

import (
	"errors"
	"fmt"
	"sync"
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
)

// Options configures a [Ristretto] store. The zero value is valid.
type Options struct {
	// MaxCost bounds the sum of the costs of stored entries. Default
	// DefaultMaxCost.
	MaxCost int64

	// AverageCost is the expected cost of one entry. With MaxCost it sets
	// how many keys the admission policy tracks (ten times MaxCost /
	// AverageCost, as ristretto recommends). Default DefaultAverageCost.
	AverageCost int64
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
}

var _ Store = (*Ristretto)(nil)

// ErrInvalidOptions is wrapped by the errors of NewRistretto.
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
	c, err := ristretto.NewCache(&ristretto.Config[string, any]{
		NumCounters:        counters,
		MaxCost:            opts.MaxCost,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	return &Ristretto{c: c}, nil
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
