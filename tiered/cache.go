package tiered

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tiercache/tiercache/l1"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/loader"
)

// Cache is a typed two-tier cache: decoded values in an in-process L1 in
// front of a shared L2, filled by a loader once per missing key however many
// callers ask. It is safe for concurrent use.
//
// Values returned by Get and GetMany may be shared with other callers and
// with L1: treat them as read-only.
type Cache[K comparable, V any] struct {
	cfg      Options[K, V] // validated, defaults applied
	l1       l1.Store
	l2prefix string // Name + ":", or "" when the L2 store namespaces keys itself
	// The optional abilities of the L2 store (nil when it lacks them).
	cond     l2.Conditional
	tagger   l2.Tagger
	prefixes l2.PrefixDeleter
	leaser   l2.Leaser // nil also when leases are off (LeaseTTL < 0)
	fresh    freshness
	gens     *generations
	breaker  breaker
	flights  loader.Group[string, *entry[V]]
	reads    readGroup // L2 reads shared by the readers that miss L1 at once

	// lifetime ends at Close; every load runs under it.
	lifetime context.Context
	stop     context.CancelFunc
	closed   atomic.Bool

	busID       string // "" without a Bus
	unsubscribe func()
	passes      sync.WaitGroup // the second passes of InvalidateTags
	// bgMu guards closing: background work (second passes, refreshes)
	// starts under it only while closing is false, so that none starts
	// after Close began to wait.
	bgMu    sync.Mutex
	closing bool
}

// New returns a cache configured by opts; see [Options] for the defaults.
func New[K comparable, V any](opts *Options[K, V]) (*Cache[K, V], error) {
	if opts == nil {
		return nil, fmt.Errorf("%w: nil Options", ErrInvalidOptions)
	}
	cfg, err := opts.config()
	if err != nil {
		return nil, err
	}
	store := opts.L1
	if store == nil {
		r, err := l1.NewRistretto(l1.Options{})
		if err != nil {
			return nil, fmt.Errorf("tiered: %s: %w", cfg.Name, err)
		}
		store = r
	}
	l2prefix := cfg.Name + ":"
	if ns, ok := cfg.L2.(l2.Namespacer); ok {
		// The store adds the namespace with its own key framing: one
		// allocation per L2 key instead of two.
		cfg.L2, l2prefix = ns.Namespace(cfg.Name), ""
	}
	lifetime, stop := context.WithCancel(context.Background())
	c := &Cache[K, V]{
		cfg:      cfg,
		l1:       store,
		l2prefix: l2prefix,
		fresh:    newFreshness(&cfg),
		gens:     newGenerations(),
		breaker:  breaker{cooldown: cfg.L2Cooldown, now: cfg.Now},
		lifetime: lifetime,
		stop:     stop,
	}
	if cfg.L2 != nil {
		c.cond, _ = cfg.L2.(l2.Conditional)
		c.tagger, _ = cfg.L2.(l2.Tagger)
		c.prefixes, _ = cfg.L2.(l2.PrefixDeleter)
		if cfg.LeaseTTL > 0 && c.cond != nil {
			c.leaser, _ = cfg.L2.(l2.Leaser)
		}
	}
	if cfg.Tags != nil && c.tagger == nil {
		stop()
		if opts.L1 == nil {
			store.Close()
		}
		return nil, fmt.Errorf("%w: Tags needs an L2 store that keeps tag indexes (l2.Tagger)", ErrInvalidOptions)
	}
	if cfg.Bus != nil {
		c.busID = cfg.Bus.ID()
		unsubscribe, err := cfg.Bus.Subscribe(cfg.Name, receiver[K, V]{c})
		if err != nil {
			stop()
			if opts.L1 == nil {
				store.Close()
			}
			return nil, fmt.Errorf("tiered: %s: subscribe: %w", cfg.Name, err)
		}
		c.unsubscribe = unsubscribe
	}
	return c, nil
}

// Name returns the cache's namespace.
func (c *Cache[K, V]) Name() string { return c.cfg.Name }

// Close ends the cache's subscription to the Bus, cancels running loads and
// pending second passes of InvalidateTags, waits for them to return, and
// closes L1. Later calls return ErrClosed.
// Close is idempotent and returns nil.
func (c *Cache[K, V]) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if c.unsubscribe != nil {
		c.unsubscribe()
	}
	c.bgMu.Lock()
	c.closing = true
	c.bgMu.Unlock()
	c.stop()
	_ = c.flights.Wait(context.Background()) // cannot fail without a deadline
	c.passes.Wait()
	c.l1.Close()
	return nil
}

// l1Key returns the L1 key of an L2 key (as the store reports it).
func (c *Cache[K, V]) l1Key(key string) string {
	return strings.TrimPrefix(key, c.l2prefix)
}

// l2Key returns the L2 key of an L1 key.
func (c *Cache[K, V]) l2Key(key string) string {
	if c.l2prefix == "" {
		return key
	}
	return c.l2prefix + key
}
