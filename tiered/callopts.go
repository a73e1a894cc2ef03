package tiered

import (
	"context"
	"fmt"
	"time"

	"github.com/tiercache/tiercache/tiered/stats"
)

// GetOptions change one read (Cache.GetWith). The zero value is a plain
// Get.
type GetOptions struct {
	// TTL replaces Options.TTL for a value this read loads, in both tiers
	// (a read that joins a load already running gets that load's TTL; a
	// loader's Adapt has the last word). 0: Options.TTL.
	TTL time.Duration
	// L1TTL replaces Options.L1TTL for a value this read puts into L1
	// (loaded, or found in L2). 0: Options.L1TTL.
	L1TTL time.Duration
	// Tags are added to those Options.Tags gives for a value this read
	// loads (and to a loader's, see Adapt). They need an L2 store that
	// keeps tag indexes (l2.Tagger); without one, GetWith refuses them.
	Tags []string
	// SkipL1: the read neither looks at L1 nor puts anything there: L2,
	// then the loader, answer it.
	SkipL1 bool
	// Peek: the read never calls the loader, now or in the background: it
	// returns a fresh value of either tier, else ErrMiss (a value past its
	// expiry is a miss, and no lease is taken).
	Peek bool
	// Refresh: the read loads the key whatever the tiers hold. The key is
	// deleted first (in both tiers, and from the L1 of every instance, as
	// Delete does), then read through as a miss: the load stores its
	// value, under the key's lease, unless a write of the key overtakes
	// it. It cannot be combined with Peek.
	Refresh bool
}

// SetOptions change one write (Cache.SetWith). The zero value is a plain
// Set.
type SetOptions struct {
	// TTL replaces Options.TTL for this value, in both tiers (Jitter does
	// not apply). 0: Options.TTL.
	TTL time.Duration
	// L1TTL replaces Options.L1TTL for this value in this instance's L1.
	// 0: Options.L1TTL.
	L1TTL time.Duration
	// Tags are added to those Options.Tags gives, as SetTagged adds them.
	Tags []string
	// SkipL1: the value goes to L2 only; this instance's L1 drops the key
	// (the other instances drop it as after any write).
	SkipL1 bool
}

// check validates the durations of a per-call option.
func checkCallDurations(op string, ttl, l1ttl time.Duration) error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{op + ".TTL", ttl}, {op + ".L1TTL", l1ttl}} {
		if err := checkDuration(d.name, d.v, false); err != nil {
			return err
		}
	}
	return nil
}

// GetWith is Get changed by o: the TTLs of what it stores, L1 skipped, a
// read without a load (Peek), or a forced load (Refresh). It returns what
// Get returns, and ErrMiss for a Peek that finds no fresh value;
// ErrInvalidOptions when o is not valid.
func (c *Cache[K, V]) GetWith(ctx context.Context, key K, o GetOptions) (V, error) {
	var zero V
	if err := checkCallDurations("GetOptions", o.TTL, o.L1TTL); err != nil {
		return zero, err
	}
	if len(o.Tags) > 0 && (c.remote == nil || c.remote.tagger == nil) {
		return zero, c.errNoTags()
	}
	if o.Peek && o.Refresh {
		return zero, fmt.Errorf("%w: GetOptions: Peek and Refresh cannot be combined", ErrInvalidOptions)
	}
	var (
		e   *entry[V]
		err error
	)
	switch {
	case o.Peek:
		e, err = c.peek(ctx, key, &o)
	case o.Refresh:
		if err = c.Delete(ctx, key); err == nil {
			e, _, err = c.get(ctx, key, &o)
		}
	default:
		e, _, err = c.get(ctx, key, &o)
	}
	if err != nil {
		return zero, err
	}
	return e.result()
}

// SetWith is Set changed by o: the TTLs of the value, tags of its own, or
// L2 only. ErrInvalidOptions when o is not valid.
func (c *Cache[K, V]) SetWith(ctx context.Context, key K, value V, o SetOptions) error {
	if err := checkCallDurations("SetOptions", o.TTL, o.L1TTL); err != nil {
		return err
	}
	return c.setItems(ctx, "set", []setItem[K, V]{{key: key, value: value, tags: o.Tags, ttl: o.TTL, l1ttl: o.L1TTL, noL1: o.SkipL1}})
}

// peek is GetWith with Peek: a fresh value from L1, else from L2 (read
// without a lease), else ErrMiss.
func (c *Cache[K, V]) peek(ctx context.Context, key K, o *GetOptions) (*entry[V], error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	k := c.cfg.Key(key)
	if len(k) > MaxKeySize {
		return nil, c.errKey(k)
	}
	now := c.cfg.Now()
	if !o.SkipL1 {
		if v, ok := c.l1.Get(k); ok && c.live(v.(*entry[V])) && v.(*entry[V]).expiry > now.UnixMilli() {
			c.stats.Add(stats.L1Hit, 1)
			return v.(*entry[V]), nil
		}
		c.stats.Add(stats.L1Miss, 1)
	}
	if c.remote == nil || c.doubted(k) {
		return nil, ErrMiss
	}
	lk := c.newLookup(key, k, nil)
	frame, ok, _, err := c.remote.getLease(ctx, k, true, nil)
	switch {
	case err != nil:
		return nil, c.errCtx("peek", err)
	case !ok:
		return nil, ErrMiss
	}
	e, size := c.decodeL2(ctx, &lk, frame)
	if e == nil || e.tombstone || e.expiry <= now.UnixMilli() {
		c.stats.Add(stats.L2Miss, 1)
		return nil, ErrMiss
	}
	c.stats.Add(stats.L2Hit, 1)
	if !o.SkipL1 {
		c.fillL1(k, lk.h, lk.gen, e, size, c.l1TTLAt(e, now, o.L1TTL))
	}
	return e, nil
}

// Adaptation is what a loader may decide about the values it returns
// (adaptive caching): see Adapt.
type Adaptation struct {
	// TTL replaces Options.TTL (and the read's GetOptions.TTL) for every
	// value of the loader call, in both tiers: a value that changes often
	// can live shorter, one that never changes longer. 0: no change.
	TTL time.Duration
	// Tags are added to those Options.Tags gives, for every value of the
	// loader call.
	Tags []string
}

// adaptKey is the context key of a load's Adaptation.
type adaptKey struct{}

// Adapt returns the Adaptation of the loader call whose context is ctx, for
// the loader to fill in before it returns; nil when ctx is not a loader's
// context (the loader was called by something else than a Cache). A TTL
// that is negative or under a millisecond is ignored.
//
//	func (s *store) Load(ctx context.Context, id int64) (Price, error) {
//		p, err := s.db.Price(ctx, id)
//		if a := tiered.Adapt(ctx); a != nil && p.Volatile {
//			a.TTL = 10 * time.Second
//		}
//		return p, err
//	}
func Adapt(ctx context.Context) *Adaptation {
	a, _ := ctx.Value(adaptKey{}).(*Adaptation)
	return a
}

// adaptedTTL returns the TTL of a value of a loader call that a (its
// Adaptation) and lk (its read's options) leave: 0 for Options.TTL.
func adaptedTTL[K comparable, V any](a *Adaptation, lk *lookup[K, V]) time.Duration {
	if a != nil && a.TTL >= time.Millisecond {
		return a.TTL
	}
	return lk.ttl
}
