package tiered

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Get returns the value of key: from L1, else from L2, else from the Loader
// (one load per key at a time across all callers of this instance, and,
// with leases, across the instances that share L2).
//
// A value close to its expiry is refreshed in the background (see
// Options.Beta), and an expired one may be served while it is refreshed or
// when its load fails (Options.StaleWhileRevalidate, StaleIfError).
//
// It returns ErrNotFound (possibly wrapped) when the loader says the key does
// not exist, ErrMiss when there is no Loader and neither tier holds the key,
// the loader's error when it fails, and ctx.Err() when ctx ends first (the
// load goes on for other callers). An L2 failure is never returned by Get:
// it is counted, and the read goes on without L2.
func (c *Cache[K, V]) Get(ctx context.Context, key K) (V, error) {
	var zero V
	if c.closed.Load() {
		return zero, ErrClosed
	}
	k := c.cfg.Key(key)
	var stale *entry[V] // an expired entry that may stand in for a failed load
	if v, ok := c.l1.Get(k); ok {
		e := v.(*entry[V])
		if !c.fresh.check(e.delta) || c.serves(ctx, key, k, e, c.cfg.Now().UnixMilli()) {
			c.cfg.Stats.Add(stats.L1Hit, 1)
			return e.result()
		}
		stale = e
	}
	c.cfg.Stats.Add(stats.L1Miss, 1)

	h := c.gens.hash(k)
	gen := c.gens.load(h)
	e, seen, err := c.readL2(ctx, key, k, h, gen, true)
	if err != nil {
		return zero, err
	}
	if e != nil {
		return e.result()
	}
	if c.cfg.Loader == nil {
		return zero, ErrMiss
	}
	if seen.stale != nil && (stale == nil || seen.stale.expiry > stale.expiry) {
		stale = seen.stale
	}
	e, err = c.loadOne(ctx, key, k, h, gen, seen)
	if err != nil {
		if c.rescue(ctx, stale, err) {
			return stale.result()
		}
		return zero, err
	}
	return e.result()
}

// result returns what a read of e returns.
func (e *entry[V]) result() (V, error) {
	if e.notFound {
		var zero V
		return zero, ErrNotFound
	}
	return e.value, nil
}

// serves reports whether a read at now may return e, which it found in L1
// or L2, and starts a background refresh of key when e is due for one (see
// freshness), with ctx's values. An expired entry is served only when a
// Loader can refresh it.
func (c *Cache[K, V]) serves(ctx context.Context, key K, k string, e *entry[V], now int64) bool {
	v, stale := c.fresh.judge(e.expiry, e.delta, now)
	switch {
	case v == serve:
		return true
	case v == serveRefresh && c.cfg.Loader != nil:
		c.refresh(ctx, key, k, e, !stale)
		if stale {
			c.cfg.Stats.Add(stats.StaleServed, 1)
		}
		return true
	case v == serveRefresh:
		return !stale
	}
	return false
}

// rescue reports whether stale, an expired entry, may be served in place of
// a load that failed with err (StaleIfError), and counts it when it may.
// It may not when the caller's context ended, or when the loader said that
// the key does not exist.
func (c *Cache[K, V]) rescue(ctx context.Context, stale *entry[V], err error) bool {
	if stale == nil || ctx.Err() != nil || errors.Is(err, ErrNotFound) ||
		!c.fresh.rescues(stale.expiry, c.cfg.Now().UnixMilli()) {
		return false
	}
	c.cfg.Stats.Add(stats.StaleServed, 1)
	return true
}

// observed is what a reader found in L2 where it found no value to serve:
// the condition of a load's write (see l2.Conditional).
type observed[V any] struct {
	ok    bool   // L2 answered; false: L2 was skipped or failed
	frame []byte // what it held (a tombstone, an expired value); nil: nothing
	// stale is frame decoded, when it is a value past its expiry (which
	// may stand in for a failed load).
	stale *entry[V]
}

// readL2 returns k's entry from L2 when a read may serve it (filling L1
// with it when it is fresh, and starting a refresh when it is due for one),
// or nil and what L2 held instead (or nothing when L2 is unavailable). It
// fails only when ctx ends. first says whether this is a caller's read,
// which counts its hit or miss and may serve an expired value, rather than
// the second look of a load.
func (c *Cache[K, V]) readL2(ctx context.Context, key K, k string, h, gen uint64, first bool) (*entry[V], observed[V], error) {
	var (
		frame []byte
		ok    bool
		err   error
	)
	if first {
		frame, ok, err = c.sharedGetL2(ctx, k, h, gen)
	} else {
		frame, ok, err = c.getL2(ctx, k, false)
	}
	if err != nil || !ok {
		return nil, observed[V]{}, err
	}
	seen := observed[V]{ok: true, frame: frame}
	if frame == nil {
		if first {
			c.cfg.Stats.Add(stats.L2Miss, 1)
		}
		return nil, seen, nil
	}
	now := c.cfg.Now()
	e, size, err := c.decode(frame)
	if err != nil {
		c.dropCorrupt(ctx, k, err)
		return nil, observed[V]{}, nil
	}
	if !e.tombstone {
		ms := now.UnixMilli()
		if e.expiry > ms {
			// Into L1 before serves may start a refresh, whose value must
			// not be overwritten by this older one. An expired entry stays
			// out of L1: its refresh is on the way.
			c.fillL1(k, h, gen, e, size, c.l1TTL(e, now))
		}
		if e.expiry > ms && !first || first && c.serves(ctx, key, k, e, ms) {
			if first {
				c.cfg.Stats.Add(stats.L2Hit, 1)
			}
			return e, observed[V]{}, nil
		}
		if e.expiry <= ms {
			seen.stale = e
		}
	}
	if first {
		c.cfg.Stats.Add(stats.L2Miss, 1)
	}
	return nil, seen, nil
}

// getL2 reads k from L2. ok reports whether L2 answered (frame nil: it
// holds nothing); L2 is skipped while the breaker is open, and its failures
// are counted, not returned. It fails only when ctx ends. count says
// whether to count a skip.
func (c *Cache[K, V]) getL2(ctx context.Context, k string, count bool) (frame []byte, ok bool, err error) {
	if c.cfg.L2 == nil {
		return nil, false, nil
	}
	if !c.breaker.allow() {
		if count {
			c.cfg.Stats.Add(stats.L2Skipped, 1)
		}
		return nil, false, nil
	}
	l2ctx, cancel := c.l2Context(ctx)
	b, err := c.cfg.L2.Get(l2ctx, c.l2Key(k))
	if cancel != nil {
		cancel()
	}
	if err != nil {
		if errors.Is(err, l2.ErrMiss) {
			c.l2OK()
			return nil, true, nil
		}
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		c.l2Failed("get", err)
		return nil, false, nil
	}
	c.l2OK()
	return b, true, nil
}

// fillL1 puts an entry read or loaded by a reader into L1, unless a write or
// delete of the key happened since the reader noted gen (then the entry may
// be older than that write). The check is repeated after the Set, and what
// was set is evicted if a write slipped in between: evicting is always safe.
// It reports whether the entry went in (as far as it knows).
func (c *Cache[K, V]) fillL1(k string, h, gen uint64, e *entry[V], size int, ttl time.Duration) bool {
	if c.gens.load(h) != gen {
		return false
	}
	c.l1.Set(k, e, c.cost(k, e, size), ttl)
	if c.gens.load(h) != gen {
		c.l1.Delete(k)
		return false
	}
	return true
}

// replaceL1 puts an entry that replaces the one L1 holds (a refresh, or a
// value another instance stored while this one waited) into L1, unless a
// write or delete of the key happened since gen was noted. It does so as a
// write does: under the key's write lock, moving its generation (so that a
// reader that read the replaced value cannot put it back), and checking
// after Wait that L1 took the entry (ristretto drops a Set while an earlier
// Set of the key waits in its buffer: see ownL1).
func (c *Cache[K, V]) replaceL1(k string, h, gen uint64, e *entry[V], size int, ttl time.Duration) {
	unlock := c.gens.lock(h)
	defer unlock()
	if c.gens.load(h) != gen {
		return
	}
	c.gens.bump(h)
	gen = c.gens.load(h)
	c.l1.Set(k, e, c.cost(k, e, size), ttl)
	c.l1.Wait()
	c.ownL1(k, e)
	if c.gens.load(h) != gen { // a message of another instance's write came in
		c.l1.Delete(k)
	}
}

// dropCorrupt counts a value that failed to decode and deletes it from L2,
// so that the load that follows repairs the key.
func (c *Cache[K, V]) dropCorrupt(ctx context.Context, k string, err error) {
	c.cfg.Stats.Add(stats.L2Corrupt, 1)
	c.cfg.Logger.LogAttrs(ctx, slogWarn, "tiercache: undecodable value in L2, deleting it",
		attrCache(c.cfg.Name), attrKey(k), attrErr(err))
	if derr := c.cfg.L2.Delete(context.WithoutCancel(ctx), c.l2Key(k)); derr != nil {
		c.l2Failed("delete", derr)
	}
}

// loadOne loads key through the flight group: one load per key at a time.
// seen is what the caller found in L2.
func (c *Cache[K, V]) loadOne(ctx context.Context, key K, k string, h, gen uint64, seen observed[V]) (*entry[V], error) {
	e, err, _ := c.flights.Do(ctx, k, func() (*entry[V], error) {
		lctx, cancel := c.loadContext(ctx)
		defer cancel()
		return c.fetch(lctx, key, k, h, gen, seen, nil)
	})
	return e, err
}

// refresh starts a background load of key, whose entry cur a read has just
// served, unless a load of key is running or the cache is closing. early
// says that XFetch asked for it (cur has not expired). The load keeps the
// values of ctx, the reader's context (trace IDs), but not its
// cancellation, like every load.
func (c *Cache[K, V]) refresh(ctx context.Context, key K, k string, cur *entry[V], early bool) {
	h := c.gens.hash(k)
	gen := c.gens.load(h)
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.closing {
		return
	}
	started := c.flights.Start(k, func() (*entry[V], error) {
		ctx, cancel := c.loadContext(ctx)
		defer cancel()
		return c.fetch(ctx, key, k, h, gen, observed[V]{}, cur)
	})
	if started && early {
		c.cfg.Stats.Add(stats.EarlyRefresh, 1)
	}
}

// fetch runs in the flight of key. It loads the key and stores the value in
// L2 and L1, unless L2 turns out to hold a value to serve. seen is what the
// caller found in L2 (for a miss); cur is the entry a refresh replaces (nil
// for a miss).
//
// Before it calls the loader, it looks at L2 once more: a caller that missed
// L2 just before an earlier flight of the key stored its value would
// otherwise load the key a second time. With leases, taking the lease is
// that look (the lease is granted only if L2 still holds what the caller
// saw).
func (c *Cache[K, V]) fetch(ctx context.Context, key K, k string, h, gen uint64, seen observed[V], cur *entry[V]) (*entry[V], error) {
	switch {
	case cur != nil:
		e, s, err := c.recheck(ctx, k, h, gen, cur)
		if e != nil || err != nil {
			return e, err
		}
		seen = s
	case c.leaser == nil || !seen.ok:
		e, s, err := c.readL2(ctx, key, k, h, gen, false)
		if e != nil || err != nil {
			return e, err
		}
		seen = s
	}
	if c.leaser == nil || !seen.ok {
		return c.load(ctx, key, k, h, gen, seen, nil, cur != nil)
	}
	return c.leased(ctx, key, k, h, gen, seen, cur)
}

// recheck is a refresh's look at L2: when L2 holds a fresh value other than
// cur (another instance refreshed or wrote it), that value goes into L1 and
// is returned; otherwise it returns what L2 holds.
func (c *Cache[K, V]) recheck(ctx context.Context, k string, h, gen uint64, cur *entry[V]) (*entry[V], observed[V], error) {
	frame, ok, err := c.getL2(ctx, k, false)
	if err != nil || !ok {
		return nil, observed[V]{}, err
	}
	if e := c.adopt(ctx, k, h, gen, frame, cur); e != nil {
		return e, observed[V]{}, nil
	}
	return nil, observed[V]{ok: true, frame: frame}, nil
}

// adopt returns the entry of frame, put into L1, when it is a fresh value
// other than cur; nil otherwise.
func (c *Cache[K, V]) adopt(ctx context.Context, k string, h, gen uint64, frame []byte, cur *entry[V]) *entry[V] {
	if frame == nil {
		return nil
	}
	now := c.cfg.Now()
	e, size, err := c.decode(frame)
	switch {
	case err != nil:
		c.dropCorrupt(ctx, k, err)
		return nil
	case e.tombstone || e.expiry <= now.UnixMilli():
		return nil
	case cur != nil && e.expiry == cur.expiry:
		return nil // the value cur came from
	}
	c.replaceL1(k, h, gen, e, size, c.l1TTL(e, now))
	return e
}

// Lease polling: a flight that finds another instance's lease on its key
// looks again after leasePollMin, doubling up to leasePollMax, until the
// value is there or the lease is gone.
const (
	leasePollMin = 2 * time.Millisecond
	leasePollMax = 50 * time.Millisecond
	// leaseChanges bounds how often a flight retries for a lease after
	// finding that L2 holds something new (another tombstone, another
	// expired value); then it loads without one.
	leaseChanges = 8
	// releaseTimeout bounds the release of a lease after a failed load.
	releaseTimeout = time.Second
)

// newToken returns a lease token: 16 random bytes.
func newToken() []byte {
	id := make([]byte, 16)
	for i := range 2 {
		u := rand.Uint64()
		for j := range 8 {
			id[8*i+j] = byte(u >> (8 * j))
		}
	}
	return id
}

// leased takes the L2 lease on key, loads it and stores the value under
// the lease. When another instance holds the lease, a refresh gives up
// (that instance's value will come) and a miss waits for the value, or for
// the lease to end and then takes it.
func (c *Cache[K, V]) leased(ctx context.Context, key K, k string, h, gen uint64, seen observed[V], cur *entry[V]) (*entry[V], error) {
	token := newToken()
	poll, waited, changes := leasePollMin, false, 0
	for {
		state, now, err := c.leaser.Lease(ctx, c.l2Key(k), seen.frame, token, c.cfg.LeaseTTL)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("tiered: %s: lease: %w", c.cfg.Name, ctx.Err())
			}
			c.l2Failed("lease", err)
			return c.load(ctx, key, k, h, gen, observed[V]{}, nil, cur != nil)
		}
		c.l2OK()
		switch state {
		case l2.LeaseGranted:
			c.cfg.Stats.Add(stats.LeaseGranted, 1)
			return c.load(ctx, key, k, h, gen, seen, token, cur != nil)
		case l2.LeaseChanged:
			if e := c.adopt(ctx, k, h, gen, now, cur); e != nil {
				return e, nil
			}
			seen = observed[V]{ok: true, frame: now}
			if changes++; changes > leaseChanges {
				return c.load(ctx, key, k, h, gen, seen, nil, cur != nil)
			}
		default: // held by another instance
			if cur != nil {
				return cur, nil
			}
			if !waited {
				waited = true
				c.cfg.Stats.Add(stats.LeaseWaited, 1)
			}
			t := time.NewTimer(poll)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("tiered: %s: waiting for another instance's load: %w", c.cfg.Name, ctx.Err())
			case <-t.C:
			}
			poll = min(2*poll, leasePollMax)
		}
	}
}

// load calls the loader, then writes its answer to L2 and L1, unless the
// key was written meanwhile: in this instance (its generation moved), or
// in any (L2 no longer holds what the flight saw before it called the
// loader, seen). token is the flight's lease (nil: none). A refresh
// publishes its value, as Set does, so that other instances drop the value
// it replaces.
func (c *Cache[K, V]) load(ctx context.Context, key K, k string, h, gen uint64, seen observed[V], token []byte, refresh bool) (*entry[V], error) {
	start := c.cfg.Now()
	v, err := c.callLoader(ctx, key, k, token)
	now := c.cfg.Now()
	delta := now.Sub(start)
	e := &entry[V]{value: v, delta: delta}
	switch {
	case err == nil:
		c.cfg.Stats.Observe(stats.LoadSuccess, delta)
	case errors.Is(err, ErrNotFound):
		c.cfg.Stats.Observe(stats.LoadNotFound, delta)
		if c.cfg.NotFoundTTL == 0 {
			c.release(ctx, k, token)
			return nil, err
		}
		var zero V
		e.value, e.notFound = zero, true
	default:
		c.cfg.Stats.Observe(stats.LoadFailure, delta)
		c.release(ctx, k, token)
		return nil, fmt.Errorf("tiered: %s: load: %w", c.cfg.Name, err)
	}
	ttl := c.ttl(e.notFound)
	e.expiry = now.Add(ttl).UnixMilli()
	frame, size, err := c.encode(e, now)
	if err != nil {
		c.release(ctx, k, token)
		return nil, err
	}
	if c.gens.dataMoved(h, gen) {
		c.release(ctx, k, token)
		return e, nil // written or deleted meanwhile: hand the value to the waiters only
	}
	if c.cfg.L2 != nil && (token != nil || c.breaker.allow()) {
		stored, err := c.storeL2(ctx, key, k, e, frame, ttl, seen, token)
		if err != nil {
			c.l2Failed("set", err)
		} else {
			c.l2OK()
			if !stored {
				if token != nil {
					c.cfg.Stats.Add(stats.LeaseLost, 1)
				}
				return e, nil // another instance wrote or deleted the key since the flight looked
			}
		}
	}
	if !refresh {
		c.fillL1(k, h, gen, e, size, c.l1TTL(e, now))
		return e, nil
	}
	c.replaceL1(k, h, gen, e, size, c.l1TTL(e, now))
	_ = c.publish(ctx, &invalidate.Message{Keys: []string{k}}) // the bus retries a failed message
	return e, nil
}

// callLoader calls the loader. When the loader panics (or calls
// runtime.Goexit), the flight's lease is released before the panic goes on
// to the flight's callers.
func (c *Cache[K, V]) callLoader(ctx context.Context, key K, k string, token []byte) (V, error) {
	returned := false
	defer func() {
		if !returned {
			c.release(ctx, k, token)
		}
	}()
	v, err := c.cfg.Loader.Load(ctx, key)
	returned = true
	return v, err
}

// release ends the lease token (nil: none) on k after a load that stores
// nothing, so that another instance need not wait for the lease to expire.
// It runs even when ctx has ended (Close), for a short while.
func (c *Cache[K, V]) release(ctx context.Context, k string, token []byte) {
	if token != nil {
		c.releaseMany(ctx, token, []string{c.l2Key(k)})
	}
}

// releaseMany ends the leases of token on the L2 keys l2keys, as release.
func (c *Cache[K, V]) releaseMany(ctx context.Context, token []byte, l2keys []string) {
	if len(l2keys) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := c.leaser.Release(rctx, token, l2keys...); err != nil {
		c.l2Failed("release", err)
	}
}

// storeL2 writes a loaded entry to L2: under the flight's lease when it
// holds one, else only if L2 still holds what the load saw before it called
// the loader, when the store can write conditionally. The entry's tags are
// indexed first, so that an InvalidateTags that runs between the index and
// the write finds the key (its tombstone then makes the write fail).
func (c *Cache[K, V]) storeL2(ctx context.Context, key K, k string, e *entry[V], frame []byte, ttl time.Duration, seen observed[V], token []byte) (bool, error) {
	if c.cond != nil && !seen.ok {
		return false, nil // L2 was not read: nothing to compare with
	}
	ttl = c.l2TTL(ttl)
	if !e.notFound && c.tagger != nil {
		if tags := c.tagsOf(key, e.value, nil); len(tags) > 0 {
			if err := c.tag(ctx, tags, []string{k}, ttl); err != nil {
				return false, err
			}
		}
	}
	switch {
	case token != nil:
		return c.leaser.SetLeased(ctx, c.l2Key(k), token, seen.frame, frame, ttl)
	case c.cond == nil:
		return true, c.cfg.L2.Set(ctx, c.l2Key(k), frame, ttl)
	}
	return c.cond.SetIf(ctx, c.l2Key(k), seen.frame, frame, ttl)
}

// l2Context bounds an L2 read by L2Timeout, when set.
func (c *Cache[K, V]) l2Context(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.cfg.L2Timeout <= 0 {
		return ctx, nil
	}
	return context.WithTimeout(ctx, c.cfg.L2Timeout)
}

// loadContext returns the context of a load: ctx's values (trace IDs) but
// not its cancellation, bounded by LoadTimeout and ended by Close.
func (c *Cache[K, V]) loadContext(ctx context.Context) (context.Context, context.CancelFunc) {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.LoadTimeout)
	stop := context.AfterFunc(c.lifetime, cancel)
	return lctx, func() {
		stop()
		cancel()
	}
}

// l2OK records a successful L2 call.
func (c *Cache[K, V]) l2OK() {
	if c.breaker.success() {
		c.cfg.Logger.LogAttrs(context.Background(), slogInfo, "tiercache: L2 is back", attrCache(c.cfg.Name))
	}
}

// l2Failed records a failed L2 call: reads skip L2 for L2Cooldown.
func (c *Cache[K, V]) l2Failed(op string, err error) {
	c.cfg.Stats.Add(stats.L2Error, 1)
	if c.breaker.failure() {
		c.cfg.Logger.LogAttrs(context.Background(), slogWarn, "tiercache: L2 failed, reads skip it for a while",
			attrCache(c.cfg.Name), attrOp(op), attrErr(err), attrCooldown(c.cfg.L2Cooldown))
	}
}
