package tiered

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Defaults of [WriteBehindOptions].
const (
	// DefaultBehindBatch is how many keys the flusher writes to the source
	// in one call, at most.
	DefaultBehindBatch = 100
	// DefaultBehindInterval is how often the flusher writes what is
	// queued, at least (a full batch goes at once).
	DefaultBehindInterval = 100 * time.Millisecond
	// DefaultBehindRetries is how many times a failed write of a batch is
	// tried again before it goes to the dead-letter hook.
	DefaultBehindRetries = 5
	// DefaultBehindBackoff is the pause before the first retry; it doubles
	// (with jitter) up to DefaultBehindMaxBackoff.
	DefaultBehindBackoff = 100 * time.Millisecond
	// DefaultBehindMaxBackoff bounds the pause between retries.
	DefaultBehindMaxBackoff = 10 * time.Second
	// DefaultBehindMaxQueued bounds the writes accepted and not yet in the
	// source.
	DefaultBehindMaxQueued = 10_000
	// DefaultBehindWriteTimeout bounds each write of the source.
	DefaultBehindWriteTimeout = 10 * time.Second
	// DefaultBehindDrainTimeout bounds how long Close writes what is
	// queued.
	DefaultBehindDrainTimeout = 10 * time.Second
)

// ErrQueueFull is wrapped by the error of WriteBehind and DeleteBehind
// when WriteBehindOptions.MaxQueued writes wait for the source already and
// the options say not to block.
var ErrQueueFull = errors.New("tiered: write-behind queue full")

// WriteBehindOptions configures write-behind (Options.WriteBehind): writes
// accepted by WriteBehind and DeleteBehind, served by the cache at once,
// and written to the source of truth (Options.Writer or BatchWriter) later
// by a flusher, in batches. The zero value of each field is valid and
// documented.
type WriteBehindOptions[K comparable, V any] struct {
	// Queue keeps the accepted writes until they are in the source, in L2
	// (durable mode; l2/redisstore.NewQueue: Redis Streams): when an
	// instance dies, another instance's flusher writes what it had
	// accepted. The queued values themselves live beside their keys in L2
	// (l2.Stager), so durable mode needs an L2 store that keeps them
	// (redisstore, rueidisstore and memstore do) and leases on.
	//
	// Nil: memory mode. The queue lives in this process: whatever it holds
	// when the process dies is lost (never written to the source; the
	// cache serves it until it expires from L2), writes of one key from
	// several instances reach the source in the order their flushers run,
	// and only this instance refuses to load a key whose write is queued
	// (another instance loads it once the value leaves L2). Use it for
	// tests, and for data whose loss is acceptable.
	Queue l2.Queue

	// ParseKey turns a key's string form (Options.Key's) back into the
	// key, for the flusher, which in durable mode writes other instances'
	// writes too. Default: Options.ParseKey, whose own default is the
	// inverse of the default Key, for string and integer keys; one of the
	// two is required with another Key in durable mode.
	ParseKey func(string) (K, error)

	// BatchSize is the most keys the flusher writes in one call. Default
	// DefaultBehindBatch.
	BatchSize int
	// Interval is how often the flusher writes what is queued; it writes at
	// once when BatchSize keys are queued. Default DefaultBehindInterval.
	Interval time.Duration
	// MaxRetries is how many times the flusher tries a failed write again,
	// with jittered exponential backoff from RetryBackoff to
	// MaxRetryBackoff, before it hands the writes to DeadLetter. Default
	// DefaultBehindRetries; negative: no retry.
	MaxRetries int
	// RetryBackoff and MaxRetryBackoff: see MaxRetries. Defaults
	// DefaultBehindBackoff and DefaultBehindMaxBackoff.
	RetryBackoff, MaxRetryBackoff time.Duration
	// MaxQueued bounds the writes accepted and not yet in the source: this
	// instance's queued keys in memory mode, the queue's depth (every
	// instance's) in durable mode. Default DefaultBehindMaxQueued.
	MaxQueued int
	// Block makes WriteBehind and DeleteBehind wait for room (within their
	// context) when MaxQueued writes are queued. Default false: they fail
	// at once with ErrQueueFull.
	Block bool
	// WriteTimeout bounds each write of the source by the flusher. The
	// flusher holds each key it writes for twice this long: another
	// instance's flusher does not write the key meanwhile. Default
	// DefaultBehindWriteTimeout.
	WriteTimeout time.Duration
	// DrainTimeout bounds how long Close goes on writing what is queued.
	// Default DefaultBehindDrainTimeout.
	DrainTimeout time.Duration
	// DeadLetter receives the writes whose retries ran out, with the last
	// error; their keys are then invalidated in every tier and instance
	// (the next read loads what the source holds). It runs on the
	// flusher's goroutine: it must be quick. Default: the writes are
	// logged and dropped.
	DeadLetter func(ctx context.Context, changes []Change[K, V], err error)
}

// config returns o with every default applied, or the first problem
// found. customKey: Options.Key was set by the user.
func (o *WriteBehindOptions[K, V]) config(c *Options[K, V], customKey bool) (WriteBehindOptions[K, V], error) {
	w := *o
	if c.Writer == nil && c.BatchWriter == nil {
		return w, fmt.Errorf("%w: WriteBehind needs Writer or BatchWriter", ErrInvalidOptions)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"WriteBehind.Interval", w.Interval}, {"WriteBehind.RetryBackoff", w.RetryBackoff},
		{"WriteBehind.MaxRetryBackoff", w.MaxRetryBackoff}, {"WriteBehind.WriteTimeout", w.WriteTimeout},
		{"WriteBehind.DrainTimeout", w.DrainTimeout},
	} {
		if err := checkDuration(d.name, d.v, false); err != nil {
			return w, err
		}
	}
	if w.BatchSize < 0 || w.MaxQueued < 0 {
		return w, fmt.Errorf("%w: WriteBehind.BatchSize and MaxQueued must not be negative", ErrInvalidOptions)
	}
	if w.ParseKey == nil {
		w.ParseKey = c.ParseKey
	}
	if w.Queue != nil && w.ParseKey == nil {
		if customKey {
			return w, fmt.Errorf("%w: WriteBehind.ParseKey (or Options.ParseKey) is required in durable mode with a custom Key", ErrInvalidOptions)
		}
		p, ok := defaultParseKey[K]()
		if !ok {
			return w, fmt.Errorf("%w: WriteBehind.ParseKey (or Options.ParseKey) is required in durable mode for this key type", ErrInvalidOptions)
		}
		w.ParseKey = p
	}
	w.BatchSize = cmp.Or(w.BatchSize, DefaultBehindBatch)
	w.Interval = cmp.Or(w.Interval, DefaultBehindInterval)
	switch {
	case w.MaxRetries == 0:
		w.MaxRetries = DefaultBehindRetries
	case w.MaxRetries < 0:
		w.MaxRetries = 0
	}
	w.RetryBackoff = cmp.Or(w.RetryBackoff, DefaultBehindBackoff)
	w.MaxRetryBackoff = max(cmp.Or(w.MaxRetryBackoff, DefaultBehindMaxBackoff), w.RetryBackoff)
	w.MaxQueued = cmp.Or(w.MaxQueued, DefaultBehindMaxQueued)
	w.WriteTimeout = cmp.Or(w.WriteTimeout, DefaultBehindWriteTimeout)
	w.DrainTimeout = cmp.Or(w.DrainTimeout, DefaultBehindDrainTimeout)
	return w, nil
}

// WriteBehind accepts value for key and returns: the cache serves it at
// once, in every tier and instance (L2, this L1, and the bus drops the
// other instances' copies), and the flusher writes it to the source of
// truth later (see Options.WriteBehind). Until then no read of the key
// loads it from the source, whose row is older: the queued value is
// served, even after it left L2 (durable mode). Later writes of the key
// replace it in the queue (last write wins), and an older value never
// reaches the source after a newer one.
//
// It returns an error wrapping ErrQueueFull when the queue is full (see
// WriteBehindOptions.Block), and L2's or the queue's error when they
// failed: then the write was not accepted, and the key is invalidated.
func (c *Cache[K, V]) WriteBehind(ctx context.Context, key K, value V) error {
	return c.writeBehind(ctx, "write-behind", []Change[K, V]{{Key: key, Value: value}})
}

// DeleteBehind accepts the deletion of keys, as WriteBehind accepts a
// value: reads of them get ErrNotFound at once, and the flusher deletes
// them from the source later.
func (c *Cache[K, V]) DeleteBehind(ctx context.Context, keys ...K) error {
	changes := make([]Change[K, V], len(keys))
	for i, key := range keys {
		changes[i] = Change[K, V]{Key: key, Delete: true}
	}
	return c.writeBehind(ctx, "delete-behind", changes)
}

// FlushBehind writes what is queued to the source now, and returns once
// the queue is empty (in durable mode: every instance's writes), or with
// ctx's error. Writes that went to the dead-letter hook count as done.
func (c *Cache[K, V]) FlushBehind(ctx context.Context) error {
	if err := c.errIfClosed(); err != nil {
		return err
	}
	if c.wb == nil {
		return c.errNoBehind("flush-behind")
	}
	return c.wb.flushAll(ctx)
}

func (c *Cache[K, V]) errNoBehind(op string) error {
	return fmt.Errorf("tiered: %s: %s needs Options.WriteBehind: %w", c.cfg.Name, op, errors.ErrUnsupported)
}

// writeBehind accepts changes: it queues them, then writes their values
// (or deletions: not-found values) to the cache through the write path,
// flagged as queued.
func (c *Cache[K, V]) writeBehind(ctx context.Context, op string, changes []Change[K, V]) (err error) {
	if c.cfg.Tracer != nil {
		var sp stats.Span
		ctx, sp = c.span(ctx, spanName(op))
		defer func() { endSpan(sp, stats.SpanEnd{Keys: len(changes)}, err) }()
	}
	if err := c.errIfClosed(); err != nil {
		return err
	}
	if c.wb == nil {
		return c.errNoBehind(op)
	}
	if len(changes) == 0 {
		return nil
	}
	now := c.cfg.Now()
	ws := make([]write[V], 0, len(changes))
	keys := make([]K, 0, len(changes))
	seen := make(map[string]bool, len(changes))
	for _, ch := range changes {
		k := c.cfg.Key(ch.Key)
		switch {
		case len(k) > MaxKeySize:
			return c.errKey(k)
		case seen[k]:
			continue
		}
		seen[k] = true
		var tags []string
		if !ch.Delete {
			tags = c.tagsOf(ch.Key, ch.Value, nil)
			if len(tags) > 0 && (c.remote == nil || c.remote.tagger == nil) {
				return c.errNoTags()
			}
		}
		ttl := c.ttl(false)
		e := &entry[V]{value: ch.Value, expiry: now.Add(ttl).UnixMilli(), notFound: ch.Delete, queued: true}
		frame, size, err := c.encode(k, e, now)
		if err != nil {
			return err // a value too large is refused, not queued
		}
		ws = append(ws, write[V]{k: k, e: e, frame: frame, size: size, ttl: c.l2TTL(ttl), tags: tags})
		keys = append(keys, ch.Key)
	}
	release, err := c.wb.reserve(ctx, len(ws))
	if err != nil {
		return err
	}
	if c.wb.queue != nil {
		ks := make([]string, len(ws))
		for i, w := range ws {
			ks[i] = w.k
		}
		seqs, err := c.wb.queue.Add(ctx, ks)
		if err == nil && len(seqs) != len(ks) {
			err = fmt.Errorf("%w: %d sequence numbers for %d keys", errBadStore, len(seqs), len(ks))
		}
		if err != nil {
			release()
			return fmt.Errorf("tiered: %s: %s: queue: %w", c.cfg.Name, op, err)
		}
		for i := range ws {
			ws[i].stage, ws[i].seq = true, seqs[i]
		}
	}
	l2err, puberr := c.apply(ctx, op, ws, nil)
	if l2err != nil {
		release()
		return l2err
	}
	c.wb.accepted(keys, ws, now)
	c.stats.Add(stats.WriteQueued, len(ws))
	return puberr
}
