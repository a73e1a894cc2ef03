package tiered

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered/stats"
)

// loaded is the outcome of a load for one key: its entry (nil when the load
// failed, or found that the key does not exist and NotFoundTTL is 0), and
// the loader's error (which wraps ErrNotFound for an absent key, even when
// the answer is cached).
type loaded[V any] struct {
	e   *entry[V]
	err error
}

// loadOne loads lk's key through the flight group: one load per key at a
// time in this instance. The load runs detached from ctx (other callers
// may wait for it), bounded by LoadTimeout and by Close. A caller that
// holds a stale entry it may serve in the load's place waits for at most
// LoadSoftTimeout (see softWait). A load that fails while such an entry is
// at hand holds it (see hold).
func (c *Cache[K, V]) loadOne(ctx context.Context, lk lookup[K, V]) (*entry[V], error) {
	wait, stop := c.softWait(ctx, &lk)
	defer stop()
	e, err, _ := c.flights.Do(wait, lk.k, func() (*entry[V], error) {
		release, err := c.loadSlot(ctx)
		if err != nil {
			if lk.seen.leased { // the read took the lease: give it back
				c.releaseLeases(ctx, *c.readToken, []string{lk.k})
			}
			c.hold(&lk, c.cfg.Now(), true)
			return nil, err
		}
		defer release()
		lctx, cancel := c.loadContext(ctx)
		defer cancel()
		e, err := c.fetch(lctx, &lk, nil)
		if err != nil && !errors.Is(err, ErrNotFound) {
			c.hold(&lk, c.cfg.Now(), true)
		}
		return e, err
	})
	if err != nil && wait != ctx && wait.Err() != nil && ctx.Err() == nil {
		c.stats.Add(stats.SoftTimeout, 1)
		return nil, fmt.Errorf("tiered: %s: load: %w after LoadSoftTimeout (%v); it goes on in the background",
			c.cfg.Name, wait.Err(), c.cfg.LoadSoftTimeout)
	}
	return e, err
}

// softWait returns the context a caller of loadOne waits for the load
// within, and the function that releases it: ctx, or, when the caller
// holds a stale entry that StaleIfError lets it serve in the load's place
// and LoadSoftTimeout is set, ctx bounded by LoadSoftTimeout.
func (c *Cache[K, V]) softWait(ctx context.Context, lk *lookup[K, V]) (context.Context, context.CancelFunc) {
	if c.cfg.LoadSoftTimeout <= 0 || lk.stale == nil || !c.fresh.rescues(lk.stale.expiry, c.cfg.Now().UnixMilli()) {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.cfg.LoadSoftTimeout)
}

// refresh starts a background load of key, whose entry cur a read has just
// served, unless a load of key is running or the cache is closing. early
// says that XFetch asked for it (cur has not expired). The load keeps the
// values of ctx, the reader's context (trace IDs), but not its
// cancellation, like every load. A refresh that fails is logged: nobody
// waits for its error.
func (c *Cache[K, V]) refresh(ctx context.Context, key K, k string, cur *entry[V], early bool) {
	lk := c.newLookup(key, k, nil)
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if c.closing || c.flights.InFlight(k) {
		return
	}
	release, ok := c.tryLoadSlot()
	if !ok { // a refresh is optional: no waiting for a slot
		c.stats.Add(stats.Overloaded, 1)
		return
	}
	started := c.flights.Start(k, func() (*entry[V], error) {
		defer release()
		lctx, cancel := c.loadContext(uncounted(ctx))
		defer cancel()
		var sp stats.Span
		if c.cfg.Tracer != nil {
			lctx, sp = c.span(lctx, "refresh")
		}
		e, err := c.fetch(lctx, &lk, cur)
		if now := c.cfg.Now().UnixMilli(); err != nil && !errors.Is(err, ErrNotFound) && now >= cur.expiry && c.fresh.rescues(cur.expiry, now) {
			// A stale value under revalidation: it goes on being served,
			// without another refresh, for FailSafeThrottle.
			lk.stale = cur
			c.hold(&lk, c.cfg.Now(), false)
		}
		if sp != nil {
			end := stats.SpanEnd{Keys: 1}
			if e != nil {
				end.Tier = e.tier()
			}
			endSpan(sp, end, err)
		}
		if err != nil && !errors.Is(err, ErrNotFound) && c.lifetime.Err() == nil {
			c.cfg.Logger.LogAttrs(ctx, slogWarn, "tiercache: background refresh failed, the current value stays",
				attrCache(c.cfg.Name), attrKey(k), attrErr(err))
		}
		return e, err
	})
	switch {
	case !started:
		release()
	case early:
		c.stats.Add(stats.EarlyRefresh, 1)
	}
}

// loadSlot takes one of the MaxLoads slots for a load, and returns the
// function that gives it back. When all are taken it waits, for at most
// LoadTimeout (detached from ctx's cancellation, like the load) or until
// Close, then fails with ErrOverloaded. The load's own LoadTimeout starts
// once it has its slot: a load that starts may finish and store its value.
func (c *Cache[K, V]) loadSlot(ctx context.Context) (release func(), err error) {
	if release, ok := c.tryLoadSlot(); ok {
		return release, nil
	}
	wctx, cancel := c.loadContext(ctx)
	defer cancel()
	select {
	case c.loadSlots <- struct{}{}:
		return c.freeSlot, nil
	case <-wctx.Done():
		c.stats.Add(stats.Overloaded, 1)
		return nil, fmt.Errorf("tiered: %s: load: %w (MaxLoads %d): %w", c.cfg.Name, ErrOverloaded, c.cfg.MaxLoads, context.Cause(wctx))
	}
}

// tryLoadSlot takes a load slot if one is free at once.
func (c *Cache[K, V]) tryLoadSlot() (release func(), ok bool) {
	if c.loadSlots == nil {
		return func() {}, true
	}
	select {
	case c.loadSlots <- struct{}{}:
		return c.freeSlot, true
	default:
		return nil, false
	}
}

func (c *Cache[K, V]) freeSlot() { <-c.loadSlots }

// fetch runs in the flight of lk's key. It loads the key and stores the
// value in L2 and L1, unless L2 turns out to hold a value to serve. cur is
// the entry a refresh replaces (nil for a miss).
//
// It looks at L2 once more before it calls the loader when the lookup's
// read tells too little: a refresh (cur), a read that was skipped or
// failed, or one that a load of the key may have overtaken (one ended
// since the lookup began, see generations.ended: a caller that missed L2
// just before an earlier flight of the key stored its value would
// otherwise load the key a second time). Otherwise a miss costs two round
// trips: the read, which took the key's lease (see Cache.readToken), and
// the load's conditional write. With leases and a read that did not take
// the lease, taking it is the second look (the lease is granted only if
// L2 still holds what the caller saw).
func (c *Cache[K, V]) fetch(ctx context.Context, lk *lookup[K, V], cur *entry[V]) (*entry[V], error) {
	defer c.gens.loadEnded(lk.h)
	if c.remote != nil && !c.doubted(lk.k) && (cur != nil || !lk.seen.ok || c.gens.ended(lk.h) != lk.ended) {
		token := c.readToken
		if cur != nil {
			token = nil // the key holds a value: there is no lease to take with it
		}
		frame, ok, granted, err := c.remote.getLease(ctx, lk.k, false, token)
		switch {
		case err != nil:
			return nil, fmt.Errorf("tiered: %s: load: %w", c.cfg.Name, err)
		case !ok:
			lk.seen = observed{}
		case cur != nil:
			e, seen := c.adopt(ctx, lk, frame, cur)
			if e != nil {
				return e, nil
			}
			lk.seen = seen
		default:
			if e := c.judge(ctx, lk, frame, false, time.Time{}); e != nil {
				return e, nil
			}
			lk.seen.leased = granted
		}
	}
	res := c.load(ctx, ctx, []*lookup[K, V]{lk}, cur, c.cfg.Loader == nil)
	return res[0].e, res[0].err
}

// load is the one load path: it loads the keys of lks (the key of a Get or
// of a refresh, or the misses of a GetMany with a BatchLoader: batch),
// stores what it loaded in L2 and L1, and returns one result per lookup.
//
// When L2 keeps leases, the keys whose L2 state is known go through them
// (see leased): a key this instance gets the lease of is loaded, a key
// another instance stored meanwhile is served from L2, and a key another
// instance holds is waited for, bounded by wait (the caller's context) and
// LoadTimeout. The other keys are loaded at once. ctx is the context of
// the loads and L2 calls.
//
// cur is the entry a refresh replaces (nil otherwise): a refresh gives up
// when another instance holds the lease (its value will come), and its
// value replaces cur in L1 and is announced to the other instances.
func (c *Cache[K, V]) load(ctx, wait context.Context, lks []*lookup[K, V], cur *entry[V], batch bool) []loaded[V] {
	res := make([]loaded[V], len(lks))
	var now, later []int // indexes into lks: to load at once; to lease first
	for i, lk := range lks {
		if c.wb != nil {
			// A write of the key queued in this process (memory mode):
			// the source's row is older. Durable mode's queued values
			// are served by L2's leases.
			if e := c.wb.queued(lk.k); e != nil {
				res[i] = loaded[V]{e: e}
				if e.notFound {
					res[i].err = fmt.Errorf("tiered: %s: %w (deleted behind)", c.cfg.Name, ErrNotFound)
				}
				if lk.seen.leased { // taken by the read, and not needed
					c.releaseLeases(ctx, *c.readToken, []string{lk.k})
				}
				continue
			}
		}
		if c.remote != nil && c.remote.leaser != nil && lk.seen.writable() {
			later = append(later, i)
		} else {
			now = append(now, i)
		}
	}
	if len(later) == 0 {
		c.loadAndStore(ctx, lks, now, nil, cur, batch, res)
		return res
	}
	c.leased(ctx, wait, lks, now, later, cur, batch, res)
	return res
}

// loadAndStore calls the loader once for the keys of lks at the indexes
// idx, stores what it returns in both tiers (see storeLoaded) and sets res
// for them. lease is the load's lease on some of the keys (nil: none). ctx
// is a load context (see loadContext).
func (c *Cache[K, V]) loadAndStore(ctx context.Context, lks []*lookup[K, V], idx []int, lease *leaseSet, cur *entry[V], batch bool, res []loaded[V]) {
	finished := false
	defer func() {
		if !finished && lease != nil { // the loader called runtime.Goexit
			var ks []string
			for _, i := range idx {
				ks = appendIf(ks, lease.holds(i), lks[i].k)
			}
			c.releaseLeases(ctx, lease.token, ks)
		}
	}()
	adapt := &Adaptation{}
	out, took := c.callLoader(context.WithValue(ctx, adaptKey{}, adapt), lks, idx, batch)
	finished = true

	now := c.cfg.Now()
	var (
		batchOut []pending[K, V]
		free     []string // leases to give back
	)
	for j, i := range idx {
		lk := lks[i]
		leased := lease.holds(i)
		e := &entry[V]{value: out[j].value, delta: took, loaded: true}
		if err := out[j].err; err != nil {
			res[i].err = err
			if !errors.Is(err, ErrNotFound) || c.cfg.NotFoundTTL <= 0 {
				free = appendIf(free, leased, lk.k)
				continue
			}
			var zero V
			e.value, e.notFound = zero, true
		}
		res[i].e = e
		ttl := c.ttl(e.notFound)
		var tags []string
		if !e.notFound { // adapt is read only after the loader returned a value
			ttl = cmp.Or(adaptedTTL(adapt, lk), ttl)
			tags = append(slices.Clip(adapt.Tags), lk.tags...)
		}
		e.expiry = now.Add(ttl).UnixMilli()
		frame, size, err := c.encode(lk.k, e, now)
		switch {
		case errors.Is(err, ErrValueTooLarge):
			c.stats.Add(stats.ValueTooLarge, 1) // served, cached in neither tier
			free = appendIf(free, leased, lk.k)
			continue
		case err != nil:
			res[i] = loaded[V]{err: err}
			free = appendIf(free, leased, lk.k)
			continue
		case c.gens.dataMoved(lk.h, lk.gen):
			// Written or deleted meanwhile: hand the value to the waiters
			// only.
			free = appendIf(free, leased, lk.k)
			continue
		}
		batchOut = append(batchOut, pending[K, V]{lk: lk, e: e, frame: frame, size: size, ttl: c.l2TTL(ttl), tags: tags, leased: leased})
	}
	var token l2.Token
	if lease != nil {
		token = lease.token
		c.releaseLeases(ctx, token, free)
	}
	c.storeLoaded(ctx, batchOut, token, cur, now)
}

// hasTags reports whether a loader gave tags to one of ps (Adapt).
func hasTags[K comparable, V any](ps []pending[K, V]) bool {
	for _, p := range ps {
		if len(p.tags) > 0 {
			return true
		}
	}
	return false
}

func appendIf(s []string, cond bool, k string) []string {
	if cond {
		return append(s, k)
	}
	return s
}

// pending is a loaded entry on its way to the tiers.
type pending[K comparable, V any] struct {
	lk     *lookup[K, V]
	e      *entry[V]
	frame  []byte
	size   int
	ttl    time.Duration // in L2
	tags   []string      // the loader's (Adapt), beside Options.Tags's
	leased bool          // the load holds the key's lease
	// refused: L2 refused the write (another write got there first, or
	// the lease was taken over): the entry stays out of L1 too.
	refused bool
}

// storeLoaded writes loaded entries to L2, then to L1.
//
// L2: a value goes to L2 only if L2 still holds what its lookup saw: under
// the load's lease when it holds one, conditionally otherwise (plainly,
// with a store that cannot write conditionally), in one call each (one
// round trip per node). Its tags are indexed first, so that an
// InvalidateTags that runs between the index and the write finds the key
// (its tombstone then makes the write fail). A value whose lookup did not
// read L2 (skipped or failed), or found another schema's value there,
// stays out of L2. Without a lease, a write is skipped while the breaker
// is open. Another instance that waited for one of the leases is told (see
// wake).
//
// L1: every entry that L2 did not refuse; a refresh's value replaces cur
// as a write would, and is announced so that other instances drop the
// value it replaces.
func (c *Cache[K, V]) storeLoaded(ctx context.Context, ps []pending[K, V], token l2.Token, cur *entry[V], now time.Time) {
	if c.remote != nil && len(ps) > 0 {
		if err := c.storeL2(ctx, ps, token); err != nil {
			// The values stay out of L2; L1 takes them, as when L2 is down.
			// The leases go back (if L2 takes that), so that the other
			// instances need not wait for them to expire.
			var held []string
			for _, p := range ps {
				held = appendIf(held, p.leased, p.lk.k)
			}
			c.releaseLeases(ctx, token, held)
		}
	}
	for _, p := range ps {
		switch {
		case p.refused:
		case cur != nil:
			c.replaceL1(p.lk.k, p.lk.h, p.lk.gen, p.e, p.size, c.l1TTL(p.e, now))
			_ = c.publish(ctx, &invalidate.Message{Keys: []string{p.lk.k}}) // the bus retries a failed message
		case p.lk.noL1:
		default:
			c.fillL1(p.lk.k, p.lk.h, p.lk.gen, p.e, p.size, c.l1TTLAt(p.e, now, p.lk.l1ttl))
		}
	}
}

// storeL2 is the L2 part of storeLoaded. It marks the entries that L2
// refused.
func (c *Cache[K, V]) storeL2(ctx context.Context, ps []pending[K, V], token l2.Token) error {
	var leased, cond []int // indexes into ps
	allow, probe := c.remote.breaker.allow()
	defer c.remote.breaker.probed(probe)
	for i, p := range ps {
		switch {
		case p.leased:
			leased = append(leased, i)
		case p.lk.seen.writable() && allow:
			cond = append(cond, i)
		}
	}
	if len(leased)+len(cond) == 0 {
		return nil
	}
	if c.remote.tagger != nil && (c.cfg.Tags != nil || hasTags(ps)) {
		tagged := make(map[string][]string)
		for _, i := range append(leased, cond...) {
			if p := ps[i]; !p.e.notFound {
				for _, t := range c.tagsOf(p.lk.key, p.e.value, p.tags) {
					tagged[t] = append(tagged[t], p.lk.k)
				}
			}
		}
		for t, ks := range tagged {
			if err := c.remote.tag(ctx, []string{t}, ks, c.l2TTL(c.cfg.TTL)); err != nil {
				return err
			}
		}
	}
	items := func(idx []int) []l2.CondItem {
		out := make([]l2.CondItem, len(idx))
		for j, i := range idx {
			p := ps[i]
			out[j] = l2.CondItem{Item: l2.Item{Key: p.lk.k, Value: p.frame, TTL: p.ttl}, Old: p.lk.seen.frame}
		}
		return out
	}
	var errs []error
	if len(leased) > 0 {
		results, err := c.remote.setLeased(ctx, token, items(leased))
		if err != nil {
			errs = append(errs, err)
		} else {
			var waited []string
			for j, i := range leased {
				if !results[j].Stored {
					ps[i].refused = true
					c.stats.Add(stats.LeaseLost, 1)
				}
				if results[j].Waited {
					waited = append(waited, ps[i].lk.k)
				}
			}
			c.wake(ctx, waited)
		}
	}
	if len(cond) > 0 {
		stored, err := c.remote.setIf(ctx, items(cond))
		if err != nil {
			errs = append(errs, err)
		} else {
			for j, i := range cond {
				ps[i].refused = !stored[j]
			}
		}
	}
	return errors.Join(errs...)
}

// loaderOut is what a loader call gave for one key.
type loaderOut[V any] struct {
	value V
	err   error
}

// callLoader calls the Loader for the key of the lookup at idx (one), or
// the BatchLoader for the keys of the lookups at idx (batch), and returns
// one value or error per key, and how long the call took. A key the
// BatchLoader leaves out is ErrNotFound. A panic of the loader becomes a
// *loader.PanicError for every key; both count as a failed load
// (stats.LoadFailure).
//
// The loader runs on a goroutine of its own, so that one that ignores its
// context cannot hold its callers, or Close, past the end of ctx (the
// load's LoadTimeout, or Close): they get ctx's error then, and the
// loader is abandoned (see abandon).
func (c *Cache[K, V]) callLoader(ctx context.Context, lks []*lookup[K, V], idx []int, batch bool) (out []loaderOut[V], took time.Duration) {
	if c.cfg.Tracer != nil {
		var sp stats.Span
		ctx, sp = c.span(ctx, "load")
		defer func() { endLoadSpan(sp, out) }()
	}
	type result struct {
		out  []loaderOut[V]
		took time.Duration
	}
	done := make(chan result, 1)
	var finished atomic.Bool
	start := c.cfg.Now()
	countSourceCall(ctx)
	go func() {
		var r result
		defer func() { // also after a runtime.Goexit in the loader
			if r.out == nil {
				r.out = failed[V](len(idx), fmt.Errorf("tiered: %s: load: %w", c.cfg.Name, loader.ErrGoexit))
			}
			finished.Store(true)
			done <- r
		}()
		r.out, r.took = c.runLoader(ctx, lks, idx, batch)
	}()
	select {
	case r := <-done:
		return r.out, r.took
	case <-ctx.Done():
	}
	select {
	case r := <-done: // it returned as ctx ended
		return r.out, r.took
	default:
	}
	c.abandon(ctx, lks[idx[0]].k, len(idx), &finished)
	return failed[V](len(idx), fmt.Errorf("tiered: %s: load: %w", c.cfg.Name, context.Cause(ctx))), c.cfg.Now().Sub(start)
}

// failed returns n loader outcomes that all failed with err.
func failed[V any](n int, err error) []loaderOut[V] {
	out := make([]loaderOut[V], n)
	for i := range out {
		out[i].err = err
	}
	return out
}

// abandonGrace is how long a loader may take to return once its context
// ended before it counts as abandoned: a loader that honours its context
// returns within it.
const abandonGrace = 100 * time.Millisecond

// abandon notes that the callers of a load of n keys (the first k) stopped
// waiting for its loader as the load's context ended: unless the loader
// returns within abandonGrace, it ignores its context, and is counted
// (stats.LoadAbandoned) and logged. Whatever it returns later is dropped.
func (c *Cache[K, V]) abandon(ctx context.Context, k string, n int, finished *atomic.Bool) {
	time.AfterFunc(abandonGrace, func() {
		if finished.Load() {
			return
		}
		c.stats.Add(stats.LoadAbandoned, 1)
		c.cfg.Logger.LogAttrs(ctx, slogWarn, "tiercache: loader ignored its context past LoadTimeout or Close; abandoned, its value will be dropped",
			attrCache(c.cfg.Name), attrKey(k), attrKeys(n))
	})
}

// runLoader calls the loader for callLoader, on its goroutine.
func (c *Cache[K, V]) runLoader(ctx context.Context, lks []*lookup[K, V], idx []int, batch bool) (out []loaderOut[V], took time.Duration) {
	out = make([]loaderOut[V], len(idx))
	start := c.cfg.Now()
	outcome := stats.LoadFailure
	returned := false
	defer func() {
		took = c.cfg.Now().Sub(start)
		if !returned { // a panic, or runtime.Goexit
			if r := recover(); r != nil {
				err := fmt.Errorf("tiered: %s: load: %w", c.cfg.Name, &loader.PanicError{Value: r, Stack: debug.Stack()})
				for i := range out {
					out[i].err = err
				}
			}
		}
		c.stats.Observe(outcome, took)
	}()
	if !batch {
		v, err := c.cfg.Loader.Load(ctx, lks[idx[0]].key)
		returned = true
		switch {
		case err == nil:
			out[0].value, outcome = v, stats.LoadSuccess
		case errors.Is(err, ErrNotFound):
			out[0].err, outcome = err, stats.LoadNotFound
		default:
			out[0].err = fmt.Errorf("tiered: %s: load: %w", c.cfg.Name, err)
		}
		return out, took
	}
	keys := make([]K, len(idx))
	for j, i := range idx {
		keys[j] = lks[i].key
	}
	c.stats.Add(stats.BatchLoadKeys, len(keys))
	m, err := c.cfg.BatchLoader.LoadMany(ctx, keys)
	returned = true
	if err != nil {
		err = fmt.Errorf("tiered: %s: batch load: %w", c.cfg.Name, err)
		for i := range out {
			out[i].err = err
		}
		return out, took
	}
	outcome = stats.LoadSuccess
	for i, k := range keys {
		v, ok := m[k]
		if !ok {
			out[i].err = ErrNotFound
			continue
		}
		out[i].value = v
	}
	return out, took
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
