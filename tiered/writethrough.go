package tiered

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered/stats"
)

// WriteThrough writes value under key to the source of truth (through
// Options.Writer, or Options.BatchWriter without one), then to the cache:
// L2, this instance's L1 (read-your-writes), and every other instance's L1
// (the bus drops their copies). The cache never holds a value the source
// did not take.
//
// When the Writer fails, the cache is left as it was and the error wraps
// ErrWriteFailed and the Writer's error; when the Writer's error is a
// context error or a panic (the source may or may not have taken the
// write), the key is invalidated instead. Any other error comes from the
// cache after the source took the write, and is handled as Set's are: the
// key is kept unsettled and invalidated in L2 once L2 takes writes again.
//
// Writes of one key from several instances at once leave the cache as the
// source ends, whatever order they reach the cache in. Before the source
// write, WriteThrough takes the key's lease in L2 (as a load does, see
// Options.LeaseTTL): its value is stored only if the lease was unbroken
// and nothing was written to the key meanwhile. A write that finds the
// lease taken (another write, or a load, of the key is under way), or that
// loses it, invalidates the key after its source write instead of storing
// its value, and the next read loads what the source holds. Readers that
// miss the key while its lease is held wait for the writer's value rather
// than load the row being written. Without an L2 that keeps leases, every
// write-through invalidates. stats.ThroughStored and
// stats.ThroughInvalidated count the two outcomes.
func (c *Cache[K, V]) WriteThrough(ctx context.Context, key K, value V) error {
	return c.writeThrough(ctx, "write-through", []Change[K, V]{{Key: key, Value: value}})
}

// WriteThroughMany is WriteThrough for many keys: one BatchWriter call
// (without one, one Writer call per key, in no particular order), then
// one L2 round trip per node and one message. The keys whose source write
// failed are left as they were in the cache; the others are written.
func (c *Cache[K, V]) WriteThroughMany(ctx context.Context, items map[K]V) error {
	changes := make([]Change[K, V], 0, len(items))
	for key, value := range items {
		changes = append(changes, Change[K, V]{Key: key, Value: value})
	}
	return c.writeThrough(ctx, "write-through", changes)
}

// DeleteThrough deletes keys from the source of truth (one Writer call per
// key, or one BatchWriter call), then from the cache as Delete does. When
// the source write fails, the cache is left as it was (see WriteThrough
// for the errors).
func (c *Cache[K, V]) DeleteThrough(ctx context.Context, keys ...K) error {
	changes := make([]Change[K, V], len(keys))
	for i, key := range keys {
		changes[i] = Change[K, V]{Key: key, Delete: true}
	}
	return c.writeThrough(ctx, "delete-through", changes)
}

// writeThrough writes changes to the source, then to the cache through
// the write path (apply). A value goes to L2 only under the lease its key
// got before the source write (see writeLeased); any other change of the
// source becomes a delete.
func (c *Cache[K, V]) writeThrough(ctx context.Context, op string, changes []Change[K, V]) (err error) {
	if c.cfg.Tracer != nil {
		var sp stats.Span
		ctx, sp = c.span(ctx, spanName(op))
		defer func() { endSpan(sp, stats.SpanEnd{Keys: len(changes)}, err) }()
	}
	if err := c.errIfClosed(); err != nil {
		return err
	}
	if c.cfg.Writer == nil && c.cfg.BatchWriter == nil {
		return fmt.Errorf("tiered: %s: %s needs Options.Writer or Options.BatchWriter: %w", c.cfg.Name, op, errors.ErrUnsupported)
	}
	if len(changes) == 0 {
		return nil
	}
	now := c.cfg.Now()
	ws := make([]write[V], 0, len(changes))
	kept := changes[:0:0] // changes without repeated keys, in step with ws
	seen := make(map[string]bool, len(changes))
	var tooLarge []error
	for _, ch := range changes {
		k := c.cfg.Key(ch.Key)
		switch {
		case len(k) > MaxKeySize:
			return c.errKey(k)
		case seen[k]: // DeleteThrough(k, k)
			continue
		}
		seen[k] = true
		kept = append(kept, ch)
		if ch.Delete {
			ws = append(ws, write[V]{k: k})
			continue
		}
		tags := c.tagsOf(ch.Key, ch.Value, nil)
		if len(tags) > 0 && (c.remote == nil || c.remote.tagger == nil) {
			return c.errNoTags()
		}
		w, err := c.valueWrite(k, ch.Value, tags, 0, now)
		switch {
		case errors.Is(err, ErrValueTooLarge):
			tooLarge = append(tooLarge, err)
		case err != nil:
			return err
		}
		ws = append(ws, w)
	}

	token := c.leaseWrites(ctx, ws)
	errs := c.writeSource(ctx, op, kept)
	var (
		failed []error
		back   []string // leases to give back
	)
	cache := ws[:0] // what goes to the cache
	for i, w := range ws {
		switch {
		case errs != nil && errs[i] != nil && !uncertain(errs[i]):
			failed = append(failed, errs[i])
			back = appendIf(back, w.lease != (l2.Token{}), w.k)
			continue
		case errs != nil && errs[i] != nil:
			failed = append(failed, errs[i])
			w = write[V]{k: w.k} // the source may hold it: invalidate
		case w.e != nil && w.lease == (l2.Token{}):
			// No lease: another write or a load of the key is under way,
			// or L2 keeps no leases. Invalidate in place of the write.
			c.stats.Add(stats.ThroughInvalidated, 1)
			w = write[V]{k: w.k}
		}
		cache = append(cache, w)
	}
	if len(back) > 0 {
		c.releaseLeases(ctx, token, back)
	}
	var l2err, puberr error
	if len(cache) > 0 {
		l2err, puberr = c.apply(ctx, op, cache, nil)
	}
	return errors.Join(errors.Join(failed...), l2err, puberr, errors.Join(tooLarge...))
}

// leaseWrites asks, before the source write, for the leases of the keys of
// the values of ws, and marks the writes granted one (with what L2 held
// then). A key that holds something else than the write expected is asked
// for again with what it holds, up to leaseChanges times. It returns the
// token of the leases.
func (c *Cache[K, V]) leaseWrites(ctx context.Context, ws []write[V]) l2.Token {
	if c.remote == nil || c.remote.leaser == nil {
		return l2.Token{}
	}
	var (
		idx    []int // indexes into ws
		expect []l2.Expect
	)
	for i, w := range ws {
		if w.e != nil {
			idx = append(idx, i)
			expect = append(expect, l2.Expect{Key: w.k})
		}
	}
	token := l2.NewToken()
	for range leaseChanges {
		if len(idx) == 0 {
			break
		}
		answers, err := c.remote.lease(ctx, token, c.cfg.LeaseTTL, expect)
		faulted := l2.Faulted(err) // the other keys' answers are good
		if err != nil && faulted == nil {
			break // no leases: the writes invalidate
		}
		n := 0
		for j, i := range idx {
			if faulted != nil && faulted[j] {
				continue
			}
			switch a := answers[j]; a.State {
			case l2.LeaseGranted:
				ws[i].lease, ws[i].old = token, expect[j].Old
			case l2.LeaseChanged: // L2 holds a.Value: ask with it
				idx[n], expect[n] = i, l2.Expect{Key: ws[i].k, Old: a.Value}
				n++
			}
		}
		idx, expect = idx[:n], expect[:n]
	}
	return token
}

// writeSource writes changes to the source: with one BatchWriter call for
// several changes (or when there is no Writer), else with one Writer call
// per change. It returns nil when the source took every change, else one
// error per change (nil for those it took). A panic of the writer becomes
// an error wrapping a *loader.PanicError.
func (c *Cache[K, V]) writeSource(ctx context.Context, op string, changes []Change[K, V]) (errs []error) {
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(changes))
		}
		if i < 0 {
			for j := range errs {
				errs[j] = err
			}
			return
		}
		errs[i] = err
	}
	batch := c.cfg.BatchWriter != nil && (len(changes) > 1 || c.cfg.Writer == nil)
	at := -1 // the change being written; -1: all of them (a batch)
	defer func() {
		if r := recover(); r != nil {
			fail(at, fmt.Errorf("tiered: %s: %s: %w: %w", c.cfg.Name, op, ErrWriteFailed,
				&loader.PanicError{Value: r, Stack: debug.Stack()}))
		}
	}()
	if batch {
		if err := c.cfg.BatchWriter.WriteMany(ctx, changes); err != nil {
			fail(-1, fmt.Errorf("tiered: %s: %s of %d keys: %w: %w", c.cfg.Name, op, len(changes), ErrWriteFailed, err))
		}
		return errs
	}
	for i, ch := range changes {
		at = i
		if err := c.cfg.Writer.Write(ctx, ch); err != nil {
			fail(i, fmt.Errorf("tiered: %s: %s of key %q: %w: %w", c.cfg.Name, op, c.cfg.Key(ch.Key), ErrWriteFailed, err))
		}
	}
	return errs
}

// uncertain reports whether a Writer's error leaves it open whether the
// source took the write: the writer's context ended, or it panicked.
func uncertain(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, loader.ErrPanicked)
}
