package tiered

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tiercache/tiercache/tiered/stats"
)

// Defaults of [ObserverOptions].
const (
	// DefaultObserverSample is the fraction of Get's L1 hits the observer
	// checks: one in a thousand.
	DefaultObserverSample = 0.001
	// DefaultObserverGrace is how long the observer waits before it
	// confirms a disagreement: see ObserverOptions.Grace.
	DefaultObserverGrace = time.Second
	// DefaultObserverQueue bounds the hits waiting for their check.
	DefaultObserverQueue = 1024
)

// ObserverOptions turn on the consistency observer (Options.Observer): a
// sample of Get's L1 hits is checked in the background against L2, and
// against the source when asked, so that an operator sees how consistent
// the cache is in production. A hit whose value L2 contradicts (another
// value, or a tombstone: the key was deleted) is checked again after
// Grace; if L1 still serves that entry and L2 still contradicts it, the
// disagreement is counted (stats.Disagreed) and logged at warning level
// with the key and the value's age. A key that L2 does not hold (evicted,
// expired) is not judged. Checks run on one goroutine, which Close stops.
//
// Values are compared by their encoding (Options.Codec): a codec whose
// encoding of one value varies (msgpack of a map, for one) makes equal
// values disagree.
type ObserverOptions struct {
	// Sample is the fraction of L1 hits checked, in (0, 1]. Default
	// DefaultObserverSample.
	Sample float64
	// Grace is how long a disagreement may last before it counts: a write
	// reaches L2 before its invalidation reaches the other instances.
	// Default DefaultObserverGrace.
	Grace time.Duration
	// Source: check the sampled hits against the Loader too (one loader
	// call per sampled hit, with LoadTimeout). Default false.
	Source bool
	// Queue bounds the hits waiting for their check; a hit sampled while
	// it is full is not checked. Default DefaultObserverQueue.
	Queue int
}

// config returns o with its defaults, or the first problem found.
func (o ObserverOptions) config() (ObserverOptions, error) {
	if o.Sample < 0 || o.Sample > 1 || o.Sample != o.Sample {
		return o, fmt.Errorf("%w: Observer.Sample must be within (0, 1], got %v", ErrInvalidOptions, o.Sample)
	}
	if err := checkDuration("Observer.Grace", o.Grace, false); err != nil {
		return o, err
	}
	if o.Queue < 0 {
		return o, fmt.Errorf("%w: Observer.Queue must not be negative, got %d", ErrInvalidOptions, o.Queue)
	}
	if o.Sample == 0 {
		o.Sample = DefaultObserverSample
	}
	if o.Grace == 0 {
		o.Grace = DefaultObserverGrace
	}
	if o.Queue == 0 {
		o.Queue = DefaultObserverQueue
	}
	return o, nil
}

// observer is the consistency observer of a cache (see ObserverOptions).
type observer[K comparable, V any] struct {
	opts ObserverOptions
	in   chan observation[K, V]
}

// observation is an L1 hit under check.
type observation[K comparable, V any] struct {
	key K
	k   string
	e   *entry[V] // what L1 served
	due time.Time // when a disagreement found is confirmed
	why string    // what disagreed: "l2" or "source"
}

// observe hands an L1 hit of key (L1 key k, entry e) to the observer, if
// it is sampled and the queue has room. Called on the hit path: no
// allocation, no wait.
func (c *Cache[K, V]) observe(key K, k string, e *entry[V]) {
	if c.cfg.Rand() >= c.obs.opts.Sample {
		return
	}
	select {
	case c.obs.in <- observation[K, V]{key: key, k: k, e: e}:
		c.stats.Add(stats.ObserveQueued, 1)
	default:
	}
}

// runObserver checks the observations, until Close.
func (c *Cache[K, V]) runObserver() {
	defer c.bg.Done()
	var pending []observation[K, V] // disagreements waiting for their grace, oldest first
	for {
		var wake <-chan time.Time
		var timer *time.Timer
		if len(pending) > 0 {
			timer = time.NewTimer(time.Until(pending[0].due))
			wake = timer.C
		}
		select {
		case <-c.lifetime.Done():
			return
		case ob := <-c.obs.in:
			if why := c.contradicts(ob); why != "" && len(pending) < c.obs.opts.Queue {
				ob.due, ob.why = time.Now().Add(c.obs.opts.Grace), why
				pending = append(pending, ob)
				continue
			}
			c.stats.Add(stats.ObserveChecked, 1)
		case <-wake:
			for len(pending) > 0 && !time.Now().Before(pending[0].due) {
				ob := pending[0]
				pending = pending[1:]
				if why := c.contradicts(ob); why != "" {
					c.disagreed(ob, why)
				}
				c.stats.Add(stats.ObserveChecked, 1)
			}
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// contradicts checks an observation: it returns what contradicts the
// entry L1 served ("l2", "source"), or "" when nothing does, or nothing
// can tell (L1 no longer holds the entry, L2 holds nothing or failed).
func (c *Cache[K, V]) contradicts(ob observation[K, V]) string {
	if v, ok := c.l1.Get(ob.k); !ok || v != any(ob.e) {
		return "" // replaced or dropped since: nothing to judge
	}
	ctx, cancel := context.WithTimeout(c.lifetime, c.cfg.LoadTimeout)
	defer cancel()
	if c.remote != nil {
		frame, ok, _, err := c.remote.getLease(ctx, ob.k, true, nil)
		if err == nil && ok && frame != nil {
			if e2, _, err := c.decode(ob.k, frame); err == nil && !c.agree(ob.e, e2.tombstone, e2.notFound, e2.value) {
				return "l2"
			}
		}
	}
	if c.obs.opts.Source && c.cfg.Loader != nil {
		v, err := c.cfg.Loader.Load(ctx, ob.key)
		notFound := errors.Is(err, ErrNotFound)
		if (err == nil || notFound) && !c.agree(ob.e, false, notFound, v) {
			return "source"
		}
	}
	return ""
}

// agree reports whether e, served from L1, agrees with what another tier
// holds: a tombstone, a "not found", or value.
func (c *Cache[K, V]) agree(e *entry[V], tombstone, notFound bool, value V) bool {
	switch {
	case tombstone:
		return e.notFound
	case notFound || e.notFound:
		return notFound == e.notFound
	}
	a, err1 := c.cfg.Codec.Marshal(nil, e.value)
	b, err2 := c.cfg.Codec.Marshal(nil, value)
	return err1 != nil || err2 != nil || bytes.Equal(a, b)
}

// disagreed counts and logs a confirmed disagreement.
func (c *Cache[K, V]) disagreed(ob observation[K, V], why string) {
	c.stats.Add(stats.Disagreed, 1)
	now := c.cfg.Now()
	// The value's age, from its expiry and the cache's TTL (a value
	// stored with a TTL of its own reads older or younger).
	age := now.Sub(time.UnixMilli(ob.e.expiry).Add(-c.cfg.TTL))
	msg := "tiercache: L1 serves a value that L2 contradicts"
	if why == "source" {
		msg = "tiercache: L1 serves a value that the source contradicts"
	}
	c.cfg.Logger.LogAttrs(c.lifetime, slogWarn, msg,
		attrCache(c.cfg.Name), attrKey(ob.k), slog.Duration("age", age), slog.String("against", why))
}
