package tiered

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [WarmOptions].
const (
	// DefaultWarmBatchSize is how many keys Warm reads and loads at once.
	DefaultWarmBatchSize = 500
	// DefaultWarmConcurrency is how many batches Warm runs at once.
	DefaultWarmConcurrency = 4
)

// WarmOptions configures Warm. The zero value is valid.
type WarmOptions struct {
	// BatchSize is how many keys go through one batch: one L2 read and one
	// BatchLoader call. Default DefaultWarmBatchSize.
	BatchSize int
	// Concurrency is how many batches run at once. Default
	// DefaultWarmConcurrency.
	Concurrency int
	// Progress, when set, is called after each batch with the totals so
	// far, one call at a time (they grow from one call to the next), and
	// once more at the end when the totals changed since: its last call
	// gets what Warm returns. It runs on a batch's goroutine, outside the
	// cache's locks, and must be fast.
	Progress func(WarmProgress)
}

// WarmProgress counts what warming did so far. Each key taken from the
// sequence ends in one of InL1, FromL2, Loaded, NotFound, Missing and
// Failed, except the keys of a batch that never ran (Warm was cancelled,
// or the cache closed) and repeats of a key within a batch (warmed once).
type WarmProgress struct {
	Keys   int // keys taken from the sequence so far
	InL1   int // already in this instance's L1
	FromL2 int // read from L2 (no source call)
	// Loaded counts the keys that the load step served: loaded from the
	// source (Loader or BatchLoader), or, with leases, stored in L2 by
	// another instance that held their leases meanwhile.
	Loaded   int
	NotFound int // the loader reported ErrNotFound
	// Missing counts the keys in neither tier when the cache has no loader
	// (cache-aside): nothing could warm them.
	Missing int
	// Failed counts the keys whose batch, or whose load, failed (an L2
	// read that ctx ended, a loader error, ErrOverloaded, a key longer than
	// MaxKeySize for the whole batch).
	Failed int
	// SourceCalls counts the loader calls that this Warm's batches made:
	// one BatchLoader call counts once, a Loader call once per key.
	SourceCalls int
	// Elapsed is the time since Warm started (Options.Now's clock).
	Elapsed time.Duration
}

// Warm fills the cache with the values of keys, so that the reads that
// follow find them: it takes the keys from the sequence in batches of
// WarmOptions.BatchSize and runs each as GetMany does (L1, then one L2
// read of its misses, then one BatchLoader call for what is in neither
// tier, or the Loader, under leases), up to WarmOptions.Concurrency
// batches at once. Values loaded are stored in both tiers as GetMany
// stores them; values found in L2 go to L1. Warm's reads do not count as
// reads for Options.HotKeys.
//
// It returns the totals (see WarmProgress) and, when some batches failed,
// an error that wraps the first failure and says how many keys failed:
// the other batches go on. When ctx ends, Warm stops taking keys, waits
// for the batches running, and returns the totals and an error wrapping
// ctx.Err(); when the cache is or gets closed, it does the same with
// ErrClosed. Invalid options give an error wrapping ErrInvalidOptions.
//
// The sequence is read on the caller's goroutine, which waits for a free
// batch slot before it reads on; a nil sequence has no keys. A key
// repeated within a batch is warmed once. Without a loader, keys in
// neither tier are counted as Missing.
func (c *Cache[K, V]) Warm(ctx context.Context, keys iter.Seq[K], opts *WarmOptions) (WarmProgress, error) {
	if c.closed.Load() {
		return WarmProgress{}, ErrClosed
	}
	o, err := opts.config()
	if err != nil {
		return WarmProgress{}, err
	}
	w := &warming{progress: o.Progress, now: c.cfg.Now, start: c.cfg.Now()}
	bctx := context.WithValue(ctx, sourceCallsKey{}, &w.calls)
	slots := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	batch := make([]K, 0, o.BatchSize)
	stopped := func() bool { return ctx.Err() != nil || c.closed.Load() }
	// dispatch starts the batch once a slot is free; false: ctx ended or
	// the cache closed first.
	dispatch := func() bool {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return false
		case <-c.lifetime.Done():
			return false
		}
		if stopped() {
			<-slots
			return false
		}
		b := batch
		batch = make([]K, 0, o.BatchSize)
		w.taken(len(b))
		wg.Go(func() {
			defer func() { <-slots }()
			var p WarmProgress
			err := c.warmBatch(bctx, b, &p)
			w.done(p, err)
		})
		return true
	}
	for key := range orNone(keys) {
		if stopped() {
			break
		}
		if batch = append(batch, key); len(batch) == o.BatchSize && !dispatch() {
			break
		}
	}
	if len(batch) > 0 && (stopped() || !dispatch()) {
		w.taken(len(batch)) // taken, never warmed
	}
	wg.Wait()
	return w.finish(), c.warmErr(ctx, w)
}

// orNone returns keys, or an empty sequence for nil.
func orNone[K any](keys iter.Seq[K]) iter.Seq[K] {
	if keys == nil {
		return func(func(K) bool) {}
	}
	return keys
}

// config returns o with every default applied (nil: the defaults), or
// an error wrapping ErrInvalidOptions.
func (o *WarmOptions) config() (WarmOptions, error) {
	var w WarmOptions
	if o != nil {
		w = *o
	}
	if w.BatchSize < 0 || w.Concurrency < 0 {
		return w, fmt.Errorf("%w: WarmOptions.BatchSize and Concurrency must not be negative, got %d and %d",
			ErrInvalidOptions, w.BatchSize, w.Concurrency)
	}
	w.BatchSize = cmp.Or(w.BatchSize, DefaultWarmBatchSize)
	w.Concurrency = cmp.Or(w.Concurrency, DefaultWarmConcurrency)
	return w, nil
}

// warmBatch runs one batch of Warm through GetMany's steps, counting into
// p what each step served.
func (c *Cache[K, V]) warmBatch(ctx context.Context, keys []K, p *WarmProgress) error {
	keys = uniqueKeys(keys)
	out := make(map[K]V, len(keys))
	misses, err := c.getManyL1(ctx, keys, out)
	if err != nil {
		p.Failed = len(keys)
		return err
	}
	p.InL1 = len(keys) - len(misses)
	if len(misses) == 0 {
		return nil
	}
	rest, err := c.getManyL2(ctx, misses, out)
	if err != nil {
		p.Failed = len(misses)
		return c.errCtx("warm", err)
	}
	p.FromL2 = len(misses) - len(rest)
	switch {
	case len(rest) == 0:
		return nil
	case !c.canLoad():
		p.Missing = len(rest)
		return nil
	}
	var t loadTally
	err = c.loadMany(ctx, rest, out, &t)
	p.Loaded, p.NotFound = t.loaded, t.notFound
	p.Failed = len(rest) - t.loaded - t.notFound
	if err == nil && p.Failed > 0 {
		err = t.err // served stale (StaleIfError): the source failed all the same
	}
	return err
}

// uniqueKeys drops the repeated keys of keys, keeping the first.
func uniqueKeys[K comparable](keys []K) []K {
	seen := make(map[K]struct{}, len(keys))
	out := keys[:0]
	for _, k := range keys {
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	return out
}

// loadTally counts what loadMany served, for Warm: keys loaded, keys the
// loader said do not exist, and the first error of a key that failed.
// A nil *loadTally counts nothing.
type loadTally struct {
	loaded, notFound int
	err              error
}

// add counts one key's outcome, its load's error.
func (t *loadTally) add(err error) {
	switch {
	case t == nil:
	case err == nil:
		t.loaded++
	case errors.Is(err, ErrNotFound):
		t.notFound++
	case t.err == nil:
		t.err = err
	}
}

// sourceCallsKey is the context key of the counter of a Warm's loader
// calls (see countSourceCall).
type sourceCallsKey struct{}

// countSourceCall counts a loader call in the counter of the Warm whose
// batch ctx comes from, if any.
func countSourceCall(ctx context.Context) {
	if n, _ := ctx.Value(sourceCallsKey{}).(*atomic.Int64); n != nil {
		n.Add(1)
	}
}

// uncounted returns ctx without a Warm's counter of loader calls: for a
// background refresh that a Warm's read started, and that may outlive it.
func uncounted(ctx context.Context) context.Context {
	if ctx.Value(sourceCallsKey{}) == nil {
		return ctx
	}
	return context.WithValue(ctx, sourceCallsKey{}, nil)
}

// warming is the state of one Warm: its totals, guarded by mu, and its
// reports to Progress, one at a time under report.
type warming struct {
	progress func(WarmProgress)
	now      func() time.Time
	start    time.Time
	calls    atomic.Int64 // loader calls (countSourceCall)

	report sync.Mutex // held across a snapshot and its Progress call, so that calls see growing totals
	mu     sync.Mutex
	total  WarmProgress // without SourceCalls and Elapsed
	first  error        // the first batch error
	last   *WarmProgress
}

// taken counts n keys taken from the sequence.
func (w *warming) taken(n int) {
	w.mu.Lock()
	w.total.Keys += n
	w.mu.Unlock()
}

// done adds the counts of a batch that ended with err, and reports the
// totals.
func (w *warming) done(p WarmProgress, err error) {
	w.report.Lock()
	defer w.report.Unlock()
	w.mu.Lock()
	t := &w.total
	t.InL1 += p.InL1
	t.FromL2 += p.FromL2
	t.Loaded += p.Loaded
	t.NotFound += p.NotFound
	t.Missing += p.Missing
	t.Failed += p.Failed
	if err != nil && w.first == nil {
		w.first = err
	}
	snap := w.snapshotLocked()
	w.mu.Unlock()
	if w.progress != nil {
		w.last = &snap
		w.progress(snap)
	}
}

func (w *warming) snapshotLocked() WarmProgress {
	s := w.total
	s.SourceCalls = int(w.calls.Load())
	s.Elapsed = w.now().Sub(w.start)
	return s
}

// finish returns the final totals, after the last batch: the last report
// when nothing changed since, else a new one, reported too.
func (w *warming) finish() WarmProgress {
	w.report.Lock()
	defer w.report.Unlock()
	w.mu.Lock()
	snap := w.snapshotLocked()
	w.mu.Unlock()
	if w.last != nil {
		last, now := *w.last, snap
		last.Elapsed, now.Elapsed = 0, 0
		if last == now {
			return *w.last
		}
	}
	if w.progress != nil && (w.last != nil || snap.Keys > 0) {
		w.progress(snap)
	}
	return snap
}

// warmErr returns the error of a Warm that ended with w's totals: ErrClosed
// when the cache closed, ctx's error when ctx ended, and the first batch
// error when keys failed, each with the number of keys that failed.
func (c *Cache[K, V]) warmErr(ctx context.Context, w *warming) error {
	w.mu.Lock()
	failed, keys, first := w.total.Failed, w.total.Keys, w.first
	w.mu.Unlock()
	var stop error
	switch {
	case c.closed.Load():
		stop = ErrClosed
	case ctx.Err() != nil:
		stop = ctx.Err()
	}
	switch {
	case stop != nil && failed > 0:
		return fmt.Errorf("tiered: %s: warm: %w; %d of %d keys failed, the first with: %w", c.cfg.Name, stop, failed, keys, first)
	case stop != nil:
		return fmt.Errorf("tiered: %s: warm: %w", c.cfg.Name, stop)
	case failed > 0:
		return fmt.Errorf("tiered: %s: warm: %d of %d keys failed, the first with: %w", c.cfg.Name, failed, keys, first)
	}
	return nil
}
