package tiered

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/tiered/stats"
)

// remote is the cache's one door to L2. It works out once, in New, what
// the store can do (l2.Check), puts the namespace in front of keys when the
// store does not (l2.Namespacer), and reports every call: its operation,
// duration and outcome to the Recorder, its failure or success to the
// breaker. The rest of the cache speaks L1 keys (namespace-relative) to it
// and never touches the store itself.
type remote struct {
	store  l2.Store
	can    l2.Ability
	cond   l2.Conditional   // nil without ConditionalWrites
	leaser l2.Leaser        // nil without Leases, or with leases turned off
	tagger l2.Tagger        // nil without Tags
	prefix l2.PrefixDeleter // nil without Prefixes
	stager l2.Stager        // nil without Staging, or with leases turned off
	// reader takes a key's lease as it reads the key (see getLease); nil
	// without LeaseReads, or with leases turned off.
	reader   l2.LeaseReader
	leaseTTL time.Duration
	// ns is "<Name>:" when the store does not namespace keys itself, "".
	ns string
	// hot and hotKey are where the list of hot keys lives (hotkeys.go):
	// the key "list" of the namespace "<Name>|hot", beside the cache's own
	// (names hold no '|', so it meets no other cache's keys).
	hot    l2.Store
	hotKey string

	name  string
	stats stats.Recorder
	// timed: the Recorder wants durations (it is not stats.Noop); without
	// one, calls do not read the clock (two reads cost ~100 ns here, half
	// of an L2 hit's own cost on an in-memory store).
	timed   bool
	logger  *slog.Logger
	breaker breaker
	timeout time.Duration // L2Timeout, for reads
	gate    *gate         // MaxL2Calls; nil: no limit
}

// newRemote checks store and returns the cache's view of it, or nil for a
// nil store.
func newRemote[K comparable, V any](cfg *Options[K, V]) (*remote, error) {
	if cfg.L2 == nil {
		return nil, nil
	}
	can, err := l2.Check(cfg.L2)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIncompatibleStore, err)
	}
	_, noop := cfg.Stats.(stats.Noop)
	r := &remote{
		store: cfg.L2, can: can, ns: cfg.Name + ":",
		name: cfg.Name, stats: cfg.Stats, timed: !noop, logger: cfg.Logger,
		breaker: breaker{cooldown: cfg.L2Cooldown, now: cfg.Now},
		timeout: cfg.L2Timeout,
		hot:     cfg.L2, hotKey: cfg.Name + hotNamespace + ":" + hotListKey,
	}
	if cfg.MaxL2Calls > 0 {
		r.gate = newGate(cfg.MaxL2Calls)
	}
	if can.Has(l2.Namespaces) {
		// The store adds the namespace with its own key framing: one
		// allocation per key instead of two.
		r.store, r.ns = cfg.L2.(l2.Namespacer).Namespace(cfg.Name), ""
		r.hot, r.hotKey = cfg.L2.(l2.Namespacer).Namespace(cfg.Name+hotNamespace), hotListKey
		if can, err = l2.Check(r.store); err != nil {
			return nil, fmt.Errorf("%w: the namespaced view: %w", ErrIncompatibleStore, err)
		}
		r.can = can
	}
	if r.can.Has(l2.ConditionalWrites) {
		r.cond = r.store.(l2.Conditional)
	}
	if r.can.Has(l2.Leases) && cfg.LeaseTTL > 0 {
		r.leaser = r.store.(l2.Leaser)
	}
	if r.can.Has(l2.Tags) {
		r.tagger = r.store.(l2.Tagger)
	}
	if r.can.Has(l2.LeaseReads) && r.leaser != nil {
		r.reader, r.leaseTTL = r.store.(l2.LeaseReader), cfg.LeaseTTL
	}
	if r.can.Has(l2.Staging) && r.leaser != nil {
		r.stager = r.store.(l2.Stager)
	}
	if r.can.Has(l2.Prefixes) {
		r.prefix = r.store.(l2.PrefixDeleter)
	}
	return r, nil
}

// key returns the store's key of the L1 key k.
func (r *remote) key(k string) string {
	if r.ns == "" {
		return k
	}
	return r.ns + k
}

// keys returns the store's keys of the L1 keys ks (ks itself when the
// store namespaces keys).
func (r *remote) keys(ks []string) []string {
	if r.ns == "" {
		return ks
	}
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = r.ns + k
	}
	return out
}

// local returns the L1 key of the store's key rk.
func (r *remote) local(rk string) string { return rk[len(r.ns):] }

// done reports a call of op that started at start and ended with err: to
// the Recorder, and to the breaker (a failure opens it, a success closes
// it; a call that ctx ended says nothing about L2). A miss is a success,
// and so is a key fault (l2.ErrKeyFault): it concerns one key, and the
// store answered.
func (r *remote) done(ctx context.Context, op stats.Op, start time.Time, err error) {
	outcome := stats.OK
	switch {
	case err == nil || errors.Is(err, l2.ErrMiss):
		if r.breaker.success() {
			r.logger.LogAttrs(context.Background(), slogInfo, "tiercache: L2 is back", attrCache(r.name))
		}
	case ctx.Err() != nil: // the caller's context ended: nothing to hold against L2
		outcome = stats.Canceled
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			outcome = stats.TimedOut
		}
	case errors.Is(err, l2.ErrKeyFault):
		// One key's trouble (a wrong type under it, a migrating slot):
		// the store answered, so L2 works for every other key.
		outcome = stats.Failed
		r.stats.Add(stats.L2KeyFault, 1)
		if r.breaker.success() {
			r.logger.LogAttrs(context.Background(), slogInfo, "tiercache: L2 is back", attrCache(r.name))
		}
	case errors.Is(err, context.DeadlineExceeded): // L2Timeout
		outcome = stats.TimedOut
		r.failed(op, err)
	default:
		outcome = stats.Failed
		r.failed(op, err)
	}
	if r.timed {
		r.stats.ObserveL2(op, outcome, time.Since(start))
	}
}

// start returns the start time of a call, or the zero time when nobody
// wants durations.
func (r *remote) start() time.Time {
	if !r.timed {
		return time.Time{}
	}
	return time.Now()
}

// failed records a failed call: reads skip L2 for L2Cooldown.
func (r *remote) failed(op stats.Op, err error) {
	r.stats.Add(stats.L2Error, 1)
	if r.breaker.failure() {
		r.logger.LogAttrs(context.Background(), slogWarn, "tiercache: L2 failed, reads skip it for a while",
			attrCache(r.name), attrOp(op.String()), attrErr(err), attrCooldown(r.breaker.cooldown))
	}
}

// enter takes an L2 call slot (see gate); high: a load's or a write's
// call. It fails only when ctx ends first. Every successful enter is
// followed by one exit.
func (r *remote) enter(ctx context.Context, high bool) error {
	if r.gate == nil {
		return nil
	}
	return r.gate.enter(ctx, high)
}

// exit gives back the slot of enter.
func (r *remote) exit() {
	if r.gate != nil {
		r.gate.leave()
	}
}

// busy counts n reads that found no L2 call slot before their deadline:
// L2 is saturated, not broken, so they go on without it and the breaker
// is not told.
func (r *remote) busy(n int) {
	r.stats.Add(stats.L2Skipped, n)
	r.stats.Add(stats.Overloaded, 1)
}

// readContext bounds a read by L2Timeout, when set.
func (r *remote) readContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.timeout <= 0 {
		return ctx, nil
	}
	return context.WithTimeout(ctx, r.timeout)
}

// getLease reads k: its frame, or nil when L2 holds nothing. ok reports
// whether L2 answered; L2 is skipped while the breaker is open (counted
// when count is set), and its failures are counted, not returned. It fails
// only when ctx ends. With a token and a store that reads and leases in
// one step (l2.LeaseReader), it also takes the key's lease for token when
// the key holds no value: granted reports that token holds it (frame is
// nil then).
func (r *remote) getLease(ctx context.Context, k string, count bool, token *l2.Token) (frame []byte, ok, granted bool, err error) {
	ok, probe := r.breaker.allow()
	defer r.breaker.probed(probe)
	if !ok {
		if count {
			r.stats.Add(stats.L2Skipped, 1)
		}
		return nil, false, false, nil
	}
	rctx, cancel := r.readContext(ctx)
	if cancel != nil {
		defer cancel()
	}
	if err := r.enter(rctx, !count); err != nil { // a load's second look goes first
		if ctx.Err() != nil {
			return nil, false, false, ctx.Err()
		}
		r.busy(1)
		return nil, false, false, nil
	}
	start := r.start()
	var b []byte
	if token != nil && r.reader != nil {
		b, granted, err = r.reader.GetLease(rctx, r.key(k), *token, r.leaseTTL)
		if err == nil && b == nil {
			err = l2.ErrMiss
		}
	} else {
		b, err = r.store.Get(rctx, r.key(k))
	}
	r.exit()
	r.done(ctx, stats.OpGet, start, err)
	switch {
	case err == nil:
		return b, true, false, nil
	case errors.Is(err, l2.ErrMiss), errors.Is(err, l2.ErrKeyFault):
		// A key fault is the key's miss: the load's write is
		// conditional, and L2 answers it with what the key really holds.
		return nil, true, granted, nil
	case ctx.Err() != nil:
		return nil, false, false, ctx.Err()
	}
	return nil, false, false, nil
}

// getMany reads the keys ks in one call: one frame (or nil) per key. ok
// reports whether L2 answered, as for get.
func (r *remote) getMany(ctx context.Context, ks []string) (frames [][]byte, ok bool, err error) {
	ok, probe := r.breaker.allow()
	defer r.breaker.probed(probe)
	if !ok {
		r.stats.Add(stats.L2Skipped, len(ks))
		return nil, false, nil
	}
	rctx, cancel := r.readContext(ctx)
	if cancel != nil {
		defer cancel()
	}
	if err := r.enter(rctx, false); err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		r.busy(len(ks))
		return nil, false, nil
	}
	start := r.start()
	frames, err = r.store.GetMany(rctx, r.keys(ks))
	r.exit()
	var kf *l2.KeyFaults
	if (err == nil || errors.As(err, &kf)) && len(frames) != len(ks) {
		err = fmt.Errorf("%w: GetMany returned %d values for %d keys", errBadStore, len(frames), len(ks))
	}
	r.done(ctx, stats.OpGetMany, start, err)
	switch {
	case err == nil, errors.As(err, &kf):
		// The keys of a KeyFaults are misses (see get); the others' frames
		// are there.
		return frames, true, nil
	case ctx.Err() != nil:
		return nil, false, ctx.Err()
	}
	return nil, false, nil
}

// getHotList reads the list of hot keys: nil when L2 holds none, or when
// it was skipped (the breaker is open) or failed (counted). It fails only
// when ctx ends.
func (r *remote) getHotList(ctx context.Context) ([]byte, error) {
	ok, probe := r.breaker.allow()
	defer r.breaker.probed(probe)
	if !ok {
		r.stats.Add(stats.L2Skipped, 1)
		return nil, nil
	}
	if err := r.enter(ctx, false); err != nil {
		return nil, err
	}
	start := r.start()
	b, err := r.hot.Get(ctx, r.hotKey)
	r.exit()
	r.done(ctx, stats.OpGet, start, err)
	switch {
	case err == nil:
		return b, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	return nil, nil
}

// setHotList writes the list of hot keys for ttl. Like a load's write, it
// is skipped while the breaker is open.
func (r *remote) setHotList(ctx context.Context, b []byte, ttl time.Duration) error {
	ok, probe := r.breaker.allow()
	defer r.breaker.probed(probe)
	if !ok {
		r.stats.Add(stats.L2Skipped, 1)
		return fmt.Errorf("tiered: %s: L2 failed lately: skipped for L2Cooldown", r.name)
	}
	if err := r.enter(ctx, false); err != nil {
		return err
	}
	defer r.exit()
	start := r.start()
	err := r.hot.Set(ctx, r.hotKey, b, ttl)
	r.done(ctx, stats.OpSet, start, err)
	return err
}

// errBadStore marks an L2 store that broke its contract.
var errBadStore = errors.New("tiered: L2 store broke its contract")

// write stores items (L1 keys): values or tombstones. With leases it
// revokes the keys' leases too (a holder's older value can no longer be
// stored, and its waiters stop waiting). Writes always try L2, whatever
// the breaker says.
func (r *remote) write(ctx context.Context, items []l2.Item) error {
	if err := r.enter(ctx, true); err != nil {
		return err
	}
	defer r.exit()
	items = r.items(items)
	start := r.start()
	var err error
	op := stats.OpSetMany
	switch {
	case r.leaser != nil:
		op = stats.OpRevoke
		err = r.leaser.Revoke(ctx, items)
	case len(items) == 1:
		op = stats.OpSet
		err = r.store.Set(ctx, items[0].Key, items[0].Value, items[0].TTL)
	default:
		err = r.store.SetMany(ctx, items)
	}
	r.done(ctx, op, start, err)
	return err
}

// remove deletes the keys ks, for a store without conditional writes
// (which gets no tombstones).
func (r *remote) remove(ctx context.Context, ks []string) error {
	if err := r.enter(ctx, true); err != nil {
		return err
	}
	defer r.exit()
	start := r.start()
	err := r.store.Delete(ctx, r.keys(ks)...)
	r.done(ctx, stats.OpDelete, start, err)
	return err
}

// items returns items with store keys (items itself when the store
// namespaces keys).
func (r *remote) items(items []l2.Item) []l2.Item {
	return withNamespace(r.ns, items, func(it *l2.Item) *string { return &it.Key })
}

// condItems returns items with store keys, as items.
func (r *remote) condItems(items []l2.CondItem) []l2.CondItem {
	return withNamespace(r.ns, items, func(it *l2.CondItem) *string { return &it.Key })
}

// withNamespace returns a copy of s in which ns is put in front of the key
// that key points at, or s itself when ns is empty.
func withNamespace[T any](ns string, s []T, key func(*T) *string) []T {
	if ns == "" {
		return s
	}
	out := slices.Clone(s)
	for i := range out {
		k := key(&out[i])
		*k = ns + *k
	}
	return out
}

// setIf stores each item only if its key still holds item.Old (see
// l2.Conditional), or, without conditional writes, as it is.
func (r *remote) setIf(ctx context.Context, items []l2.CondItem) ([]bool, error) {
	if err := r.enter(ctx, true); err != nil {
		return nil, err
	}
	defer r.exit()
	items = r.condItems(items)
	start := r.start()
	var (
		stored []bool
		err    error
		op     = stats.OpSetManyIf
	)
	switch {
	case r.cond == nil:
		op = stats.OpSetMany
		plain := make([]l2.Item, len(items))
		for i, it := range items {
			plain[i] = it.Item
		}
		if err = r.store.SetMany(ctx, plain); err == nil {
			stored = make([]bool, len(items))
			for i := range stored {
				stored[i] = true
			}
		}
	case len(items) == 1:
		op = stats.OpSetIf
		var ok bool
		ok, err = r.cond.SetIf(ctx, items[0])
		stored = []bool{ok}
	default:
		stored, err = r.cond.SetManyIf(ctx, items)
	}
	if err == nil && len(stored) != len(items) {
		err = fmt.Errorf("%w: %d answers for %d conditional writes", errBadStore, len(stored), len(items))
	}
	r.done(ctx, op, start, err)
	return stored, err
}

// lease asks for the leases of keys (L1 keys and what the caller saw). A
// *l2.KeyFaults error comes with the answers of the other keys.
func (r *remote) lease(ctx context.Context, token l2.Token, ttl time.Duration, keys []l2.Expect) ([]l2.LeaseAnswer, error) {
	if err := r.enter(ctx, true); err != nil {
		return nil, err
	}
	defer r.exit()
	keys = withNamespace(r.ns, keys, func(e *l2.Expect) *string { return &e.Key })
	start := r.start()
	answers, err := r.leaser.Lease(ctx, token, ttl, keys)
	var kf *l2.KeyFaults
	if (err == nil || errors.As(err, &kf)) && len(answers) != len(keys) {
		err = fmt.Errorf("%w: %d lease answers for %d keys", errBadStore, len(answers), len(keys))
	}
	r.done(ctx, stats.OpLease, start, err)
	return answers, err
}

// setLeased stores items under token's leases.
func (r *remote) setLeased(ctx context.Context, token l2.Token, items []l2.CondItem) ([]l2.LeaseResult, error) {
	if err := r.enter(ctx, true); err != nil {
		return nil, err
	}
	defer r.exit()
	items = r.condItems(items)
	start := r.start()
	res, err := r.leaser.SetLeased(ctx, token, items)
	if err == nil && len(res) != len(items) {
		err = fmt.Errorf("%w: %d answers for %d leased writes", errBadStore, len(res), len(items))
	}
	r.done(ctx, stats.OpSetLeased, start, err)
	return res, err
}

// release ends token's leases of the L1 keys ks and returns the keys that
// somebody waited for.
func (r *remote) release(ctx context.Context, token l2.Token, ks []string) ([]string, error) {
	if err := r.enter(ctx, true); err != nil {
		return nil, err
	}
	defer r.exit()
	start := r.start()
	waited, err := r.leaser.Release(ctx, token, r.keys(ks)...)
	r.done(ctx, stats.OpRelease, start, err)
	if err != nil {
		return nil, err
	}
	var out []string
	for i, w := range waited {
		if w && i < len(ks) {
			out = append(out, ks[i])
		}
	}
	return out, nil
}

// stage queues items (L1 keys) for the source (write-behind) and returns
// the sequence number each got (0: a later write of the key is queued).
func (r *remote) stage(ctx context.Context, items []l2.StageItem) ([]uint64, error) {
	if err := r.enter(ctx, true); err != nil {
		return nil, err
	}
	defer r.exit()
	items = withNamespace(r.ns, items, func(it *l2.StageItem) *string { return &it.Key })
	start := r.start()
	seqs, err := r.stager.Stage(ctx, items)
	if err == nil && len(seqs) != len(items) {
		err = fmt.Errorf("%w: %d answers for %d staged writes", errBadStore, len(seqs), len(items))
	}
	r.done(ctx, stats.OpStage, start, err)
	return seqs, err
}

// claim claims the queued values of the L1 keys ks for token.
func (r *remote) claim(ctx context.Context, token l2.Token, ttl time.Duration, ks []string) ([]l2.Staged, error) {
	if err := r.enter(ctx, true); err != nil {
		return nil, err
	}
	defer r.exit()
	start := r.start()
	staged, err := r.stager.Claim(ctx, token, ttl, r.keys(ks))
	if err == nil && len(staged) != len(ks) {
		err = fmt.Errorf("%w: %d answers for %d claims", errBadStore, len(staged), len(ks))
	}
	r.done(ctx, stats.OpClaim, start, err)
	return staged, err
}

// unstage ends the queued values of items (L1 keys) that reached the
// source, and token's claims on them.
func (r *remote) unstage(ctx context.Context, token l2.Token, items []l2.UnstageItem) error {
	if err := r.enter(ctx, true); err != nil {
		return err
	}
	defer r.exit()
	items = withNamespace(r.ns, items, func(it *l2.UnstageItem) *string { return &it.Key })
	start := r.start()
	err := r.stager.Unstage(ctx, token, items)
	r.done(ctx, stats.OpUnstage, start, err)
	return err
}

// tag indexes the L1 keys ks under tags, for at least ttl.
func (r *remote) tag(ctx context.Context, tags, ks []string, ttl time.Duration) error {
	if err := r.enter(ctx, true); err != nil {
		return err
	}
	defer r.exit()
	start := r.start()
	err := r.tagger.Tag(ctx, r.keys(tags), r.keys(ks), ttl)
	r.done(ctx, stats.OpTag, start, err)
	return err
}

// popTagged takes up to count keys (L1 keys) out of the index of tag.
func (r *remote) popTagged(ctx context.Context, tag string, count int) ([]string, error) {
	if err := r.enter(ctx, true); err != nil {
		return nil, err
	}
	defer r.exit()
	start := r.start()
	rks, err := r.tagger.PopTagged(ctx, r.key(tag), count)
	r.done(ctx, stats.OpPopTagged, start, err)
	if err != nil {
		return nil, err
	}
	for i, rk := range rks {
		rks[i] = r.local(rk)
	}
	return rks, nil
}

// deletePrefix deletes every key that starts with the L1 prefix p and
// calls fn with each batch of L1 keys deleted.
func (r *remote) deletePrefix(ctx context.Context, p string, count int, fn func(ks []string) error) error {
	if err := r.enter(ctx, true); err != nil {
		return err
	}
	defer r.exit()
	start := r.start()
	err := r.prefix.DeletePrefix(ctx, r.key(p), count, func(rks []string) error {
		for i, rk := range rks {
			rks[i] = r.local(rk)
		}
		return fn(rks)
	})
	r.done(ctx, stats.OpDeletePrefix, start, err)
	return err
}
