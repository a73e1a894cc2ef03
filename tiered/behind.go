package tiered

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/tiered/stats"
)

// stageGrace is how long the flusher keeps a durable queue entry whose
// value is not staged yet (its writer is between Queue.Add and the Stage of
// the value) before it takes the writer for dead and drops the entry: that
// write was never accepted. The Stage of an accepted write happens within
// the write's own L2 call; a minute leaves room for a server that answers
// late.
const stageGrace = time.Minute

// depthPoll is how often the flusher asks a durable queue for its depth.
const depthPoll = time.Second

// behind is write-behind's state in one cache: the bound on queued
// writes, the in-process queue of memory mode, and the flusher.
type behind[K comparable, V any] struct {
	c     *Cache[K, V]
	cfg   *WriteBehindOptions[K, V]
	queue l2.Queue // nil: memory mode
	token l2.Token // the flusher's claims

	mu       sync.Mutex
	pending  map[string]*queuedWrite[K, V] // memory mode: the newest accepted write of each key
	seq      uint64                        // memory mode: sequence numbers of pending writes
	depth    int64                         // durable mode: queued writes, as far as this instance knows
	reserved int64                         // memory mode: room taken by writes not yet in pending
	room     chan struct{}                 // closed (and replaced) when the flusher made room
	later    []l2.QueueEntry               // durable mode: entries to look at again
	lastPoll time.Time                     // durable mode: when depth was last read from the queue

	kick chan struct{} // wakes the flusher before its interval
	stop chan struct{} // closed by Close: drain, then return
	done chan struct{} // closed when the flusher returned
}

// queuedWrite is a write accepted in memory mode.
type queuedWrite[K comparable, V any] struct {
	key   K
	e     *entry[V]
	frame []byte
	seq   uint64
	since time.Time // when the key's oldest unwritten write was accepted
	// flushing: the flusher is writing it (a later write that replaces it
	// in pending does not make it coalesced: it reaches the source).
	flushing bool
}

func newBehind[K comparable, V any](c *Cache[K, V]) *behind[K, V] {
	b := &behind[K, V]{
		c: c, cfg: c.cfg.WriteBehind, queue: c.cfg.WriteBehind.Queue, token: l2.NewToken(),
		pending: make(map[string]*queuedWrite[K, V]),
		room:    make(chan struct{}),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go b.run()
	return b
}

// reserve takes room for n writes in the queue: at once, after waiting for
// the flusher (Block), or not at all (ErrQueueFull). release gives the room
// back for writes that were not accepted after all; accepted takes it over
// for those that were.
func (b *behind[K, V]) reserve(ctx context.Context, n int) (release func(), err error) {
	for {
		b.mu.Lock()
		used := b.depth // durable mode: the queue's depth, as last read, and the writes since
		if b.queue == nil {
			used = int64(len(b.pending)) + b.reserved
		}
		if used == 0 || used+int64(n) <= int64(b.cfg.MaxQueued) {
			if b.queue == nil {
				b.reserved += int64(n)
			} else {
				b.depth += int64(n)
			}
			b.mu.Unlock()
			return func() { b.unreserve(n, true) }, nil
		}
		room := b.room
		b.mu.Unlock()
		if !b.cfg.Block {
			return nil, fmt.Errorf("tiered: %s: %w (MaxQueued %d)", b.c.cfg.Name, ErrQueueFull, b.cfg.MaxQueued)
		}
		b.wake()
		select {
		case <-room:
		case <-ctx.Done():
			return nil, fmt.Errorf("tiered: %s: waiting for room in the write-behind queue: %w", b.c.cfg.Name, ctx.Err())
		case <-b.stop:
			return nil, ErrClosed
		}
	}
}

// unreserve gives back room for n writes: not accepted (failed), or, in
// memory mode, accepted (the pending map counts them from then on).
func (b *behind[K, V]) unreserve(n int, failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.queue == nil:
		b.reserved -= int64(n)
	case failed:
		b.depth -= int64(n)
	}
}

// accepted notes writes the cache took (memory mode: into the queue), and
// wakes the flusher when a batch is full.
func (b *behind[K, V]) accepted(keys []K, ws []write[V], now time.Time) {
	b.unreserve(len(ws), false)
	b.mu.Lock()
	full := b.depth >= int64(b.cfg.BatchSize)
	if b.queue == nil {
		for i, w := range ws {
			b.seq++
			q := &queuedWrite[K, V]{key: keys[i], e: w.e, frame: w.frame, seq: b.seq, since: now}
			if old, ok := b.pending[w.k]; ok {
				q.since = old.since
				if !old.flushing { // a write on its way to the source counts when it gets there
					b.c.stats.Add(stats.WriteCoalesced, 1)
				}
			}
			b.pending[w.k] = q
		}
		full = len(b.pending) >= b.cfg.BatchSize
	}
	b.mu.Unlock()
	if full {
		b.wake()
	}
}

// queued returns the value of key k queued in memory mode, or nil: a read
// serves it instead of loading the key.
func (b *behind[K, V]) queued(k string) *entry[V] {
	if b.queue != nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if q, ok := b.pending[k]; ok {
		return q.e
	}
	return nil
}

func (b *behind[K, V]) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// progress gives back room for n writes that are done (in the source, or
// dead-lettered).
func (b *behind[K, V]) progress(n int) {
	b.mu.Lock()
	if b.queue != nil {
		b.depth = max(0, b.depth-int64(n))
	}
	close(b.room)
	b.room = make(chan struct{})
	b.mu.Unlock()
}

// flushAll wakes the flusher and waits until the queue is empty.
func (b *behind[K, V]) flushAll(ctx context.Context) error {
	t := time.NewTicker(min(b.cfg.Interval, 10*time.Millisecond))
	defer t.Stop()
	for {
		n, err := b.queuedNow(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		b.wake()
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("tiered: %s: flush-behind: %d writes still queued: %w", b.c.cfg.Name, n, ctx.Err())
		case <-b.done:
			return ErrClosed
		}
	}
}

// queuedNow returns how many writes are queued: this instance's in memory
// mode, the queue's depth in durable mode.
func (b *behind[K, V]) queuedNow(ctx context.Context) (int64, error) {
	if b.queue == nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		return int64(len(b.pending)), nil
	}
	n, _, err := b.queue.Depth(ctx)
	if err != nil {
		return 0, fmt.Errorf("tiered: %s: write-behind queue: %w", b.c.cfg.Name, err)
	}
	return n, nil
}

// close stops the flusher after it wrote what is queued, for at most
// DrainTimeout.
func (b *behind[K, V]) close() {
	close(b.stop)
	<-b.done
}

// run is the flusher: it writes what is queued every Interval, or at once
// when a batch is full, until Close; then it drains.
func (b *behind[K, V]) run() {
	defer close(b.done)
	t := time.NewTicker(b.cfg.Interval)
	defer t.Stop()
	ctx := context.WithoutCancel(b.c.lifetime)
	for {
		select {
		case <-b.stop:
			dctx, cancel := context.WithTimeout(ctx, b.cfg.DrainTimeout)
			for b.round(dctx) {
				if dctx.Err() != nil {
					break
				}
			}
			cancel()
			return
		case <-t.C:
		case <-b.kick:
		}
		for b.round(ctx) {
			select {
			case <-b.stop:
			default:
				continue
			}
			break
		}
	}
}

// round writes one batch to the source and reports whether it found a
// full one (another may follow at once).
func (b *behind[K, V]) round(ctx context.Context) bool {
	if b.queue == nil {
		return b.roundMemory(ctx)
	}
	return b.roundDurable(ctx)
}

// flushItem is one key of a batch on its way to the source.
type flushItem[K comparable, V any] struct {
	k      string
	change Change[K, V]
	frame  []byte
	seq    uint64
	acks   []l2.QueueEntry // durable mode: entries done once it is written
}

// own returns 1 when the entry of the written value (its sequence
// number) is among the item's entries, else 0.
func (it *flushItem[K, V]) own() int {
	for _, e := range it.acks {
		if e.Seq == it.seq {
			return 1
		}
	}
	return 0
}

// roundMemory writes up to BatchSize queued keys of memory mode.
func (b *behind[K, V]) roundMemory(ctx context.Context) bool {
	b.mu.Lock()
	var (
		batch  []flushItem[K, V]
		oldest time.Time
	)
	for k, q := range b.pending {
		if oldest.IsZero() || q.since.Before(oldest) {
			oldest = q.since
		}
		if len(batch) < b.cfg.BatchSize {
			q.flushing = true
			batch = append(batch, flushItem[K, V]{k: k, change: changeOf(q.key, q.e), frame: q.frame, seq: q.seq})
		}
	}
	depth := len(b.pending)
	b.mu.Unlock()
	b.gauges(int64(depth), oldest)
	if len(batch) == 0 {
		return false
	}
	refresh := func(items []flushItem[K, V]) []flushItem[K, V] {
		// A later write of a key replaces the one that failed.
		b.mu.Lock()
		defer b.mu.Unlock()
		kept := items[:0]
		for _, it := range items {
			q, ok := b.pending[it.k]
			if !ok {
				continue
			}
			if q.seq != it.seq { // the failed write never reaches the source: a later one does
				b.c.stats.Add(stats.WriteCoalesced, 1)
				q.flushing = true
				it.change, it.frame, it.seq = changeOf(q.key, q.e), q.frame, q.seq
			}
			kept = append(kept, it)
		}
		return kept
	}
	done, dead, err := b.write(ctx, batch, refresh)
	settle := func(items []flushItem[K, V]) []string {
		var ks []string
		b.mu.Lock()
		for _, it := range items {
			q, ok := b.pending[it.k]
			switch {
			case ok && q.seq == it.seq:
				delete(b.pending, it.k)
				ks = append(ks, it.k)
			case ok:
				q.flushing = false // a later write, accepted meanwhile, is next
			}
		}
		b.mu.Unlock()
		return ks
	}
	// Once a value is in the source, L2 should still hold it: another
	// instance that missed the key while it was queued (the value had left
	// L2) loaded the older row, which must go.
	b.c.stats.Add(stats.WriteFlushed, len(done)) // superseded ones too: they reached the source
	if ks := settle(done); len(ks) > 0 {
		b.confirm(ctx, done)
	}
	if ks := settle(dead); len(dead) > 0 {
		b.c.stats.Add(stats.WriteDeadLetter, len(dead))
		b.deadLetter(ctx, dead, ks, err)
	}
	b.progress(0)
	return len(batch) == b.cfg.BatchSize
}

// confirm checks, in memory mode, that L2 still holds the values just
// written to the source (refreshing their lifetime) and invalidates the
// keys where it does not.
func (b *behind[K, V]) confirm(ctx context.Context, items []flushItem[K, V]) {
	c := b.c
	if c.remote == nil || c.remote.cond == nil {
		return
	}
	conds := make([]l2.CondItem, len(items))
	for i, it := range items {
		conds[i] = l2.CondItem{Item: l2.Item{Key: it.k, Value: it.frame, TTL: c.l2TTL(c.cfg.TTL)}, Old: it.frame}
	}
	held, err := c.remote.setIf(ctx, conds)
	var stale []string
	for i, it := range items {
		if err != nil || !held[i] {
			stale = append(stale, it.k)
		}
	}
	if len(stale) > 0 {
		_, _ = c.apply(ctx, "write-behind", deletes[V](stale), nil) // an L2 failure leaves them unsettled: retried
	}
}

// roundDurable reads up to BatchSize entries of the durable queue, claims
// their keys' queued values, writes them to the source, and acknowledges
// the entries. An entry is acknowledged without a write of its own when
// its key's queued value is a later one (written instead: coalescing), or
// is gone (written already, by another flusher).
func (b *behind[K, V]) roundDurable(ctx context.Context) bool {
	c := b.c
	b.pollDepth(ctx)
	entries := b.later
	b.later = nil
	full := false // the queue gave all that was asked: more may wait
	if n := b.cfg.BatchSize - len(entries); n > 0 {
		more, err := b.queue.Read(ctx, n)
		if err != nil {
			c.cfg.Logger.LogAttrs(ctx, slogWarn, "tiercache: write-behind: reading the queue failed",
				attrCache(c.cfg.Name), attrErr(err))
		}
		full = len(more) == n
		// An entry kept for later can come back from the queue too, once
		// its claim timeout passed (this reader's own, unacknowledged).
		seen := make(map[string]bool, len(entries))
		for _, e := range entries {
			seen[e.ID] = true
		}
		for _, e := range more {
			if !seen[e.ID] {
				seen[e.ID] = true
				entries = append(entries, e)
			}
		}
	}
	if len(entries) == 0 {
		return false
	}
	byKey := make(map[string][]l2.QueueEntry)
	var keys []string
	for _, e := range entries {
		if _, ok := byKey[e.Key]; !ok {
			keys = append(keys, e.Key)
		}
		byKey[e.Key] = append(byKey[e.Key], e)
	}
	staged, err := c.remote.claim(ctx, b.token, 2*b.cfg.WriteTimeout, keys)
	if err != nil {
		b.later = entries // L2 failed: look again next round
		return false
	}
	now := c.cfg.Now()
	var (
		batch []flushItem[K, V]
		acks  []l2.QueueEntry
	)
	for i, k := range keys {
		st, es := staged[i], byKey[k]
		if st.Busy { // another flusher is writing the key
			b.later = append(b.later, es...)
			continue
		}
		it := flushItem[K, V]{k: k, frame: st.Value, seq: st.Seq}
		for _, e := range es {
			switch {
			case e.Seq > st.Seq && now.Sub(e.Added) < stageGrace:
				b.later = append(b.later, e) // not staged yet
			case st.Value == nil:
				acks = append(acks, e) // written already, or never accepted
			default:
				it.acks = append(it.acks, e)
			}
		}
		if st.Value == nil {
			continue
		}
		ch, err := b.changeOf(k, st.Value)
		if err != nil {
			// Another version's value: left for an instance that reads it
			// (its entries come back after the queue's claim timeout).
			_ = c.remote.unstage(ctx, b.token, []l2.UnstageItem{{Key: k}}) // ends the claim only
			if !errors.Is(err, errForeign) {
				c.cfg.Logger.LogAttrs(ctx, slogWarn, "tiercache: write-behind: undecodable queued value, left in place",
					attrCache(c.cfg.Name), attrKey(k), attrErr(err))
			}
			continue
		}
		it.change = ch
		batch = append(batch, it)
	}
	if len(acks) > 0 {
		b.progress(b.finished(acks, b.ack(ctx, acks), nil, stats.WriteFlushed))
	}
	if len(batch) == 0 {
		return full
	}
	refresh := func(items []flushItem[K, V]) []flushItem[K, V] {
		// Renew the claims; a later write of a key replaces the one that
		// failed, and a key another flusher took over is its.
		ks := make([]string, len(items))
		for i, it := range items {
			ks[i] = it.k
		}
		st, err := c.remote.claim(ctx, b.token, 2*b.cfg.WriteTimeout, ks)
		if err != nil {
			return items // try with what it has
		}
		kept := items[:0]
		for i, it := range items {
			switch {
			case st[i].Busy:
				b.later = append(b.later, it.acks...)
			case st[i].Value == nil: // written by another flusher meanwhile
				b.progress(b.finished(it.acks, b.ack(ctx, it.acks), nil, stats.WriteFlushed))
			default:
				if ch, err := b.changeOf(it.k, st[i].Value); err == nil {
					it.change, it.frame, it.seq = ch, st[i].Value, st[i].Seq
					kept = append(kept, it)
				} else {
					b.later = append(b.later, it.acks...)
				}
			}
		}
		return kept
	}
	done, dead, lastErr := b.write(ctx, batch, refresh)
	if len(done) > 0 {
		items := make([]l2.UnstageItem, len(done))
		var entries []l2.QueueEntry
		written := make(map[string]uint64, len(done)) // key -> the seq of the value written
		for i, it := range done {
			items[i] = l2.UnstageItem{Key: it.k, Seq: it.seq, TTL: c.l2TTL(c.cfg.TTL)}
			entries = append(entries, it.acks...)
			written[it.k] = it.seq
		}
		if err := c.remote.unstage(ctx, b.token, items); err != nil {
			// The values stay queued: written again later (the entries
			// come back), which the source must take (idempotent).
			c.cfg.Logger.LogAttrs(ctx, slogWarn, "tiercache: write-behind: unstaging written values failed",
				attrCache(c.cfg.Name), attrErr(err))
		} else {
			own := func(e l2.QueueEntry) bool { return written[e.Key] == e.Seq }
			b.progress(b.finished(entries, b.ack(ctx, entries), own, stats.WriteFlushed))
		}
	}
	if len(dead) > 0 && ctx.Err() != nil {
		// Close's drain ran out of time: the writes stay queued for
		// another instance (their entries come back after the queue's
		// claim timeout); only the claims end.
		items := make([]l2.UnstageItem, len(dead))
		for i, it := range dead {
			items[i] = l2.UnstageItem{Key: it.k}
		}
		_ = c.remote.unstage(context.WithoutCancel(ctx), b.token, items)
		return false
	}
	if len(dead) > 0 {
		// A value whose own entry is not in this batch (the entry of a
		// write staged before the entries here) is left queued for the
		// reader of that entry, which retries it in turn; the entries here
		// were coalesced into it.
		var (
			items    []l2.UnstageItem
			lettered []flushItem[K, V]
			ks       []string
			acked    []l2.QueueEntry
		)
		for _, it := range dead {
			acked = append(acked, it.acks...)
			if it.own() == 0 {
				items = append(items, l2.UnstageItem{Key: it.k}) // ends the claim only
				continue
			}
			items = append(items, l2.UnstageItem{Key: it.k, Seq: it.seq})
			lettered = append(lettered, it)
			ks = append(ks, it.k)
		}
		if err := c.remote.unstage(ctx, b.token, items); err == nil {
			if len(lettered) > 0 {
				b.deadLetter(ctx, lettered, ks, lastErr)
			}
			letteredSeq := make(map[string]uint64, len(lettered))
			for _, it := range lettered {
				letteredSeq[it.k] = it.seq
			}
			n := b.finished(acked, b.ack(ctx, acked), func(e l2.QueueEntry) bool {
				s, ok := letteredSeq[e.Key]
				return ok && s == e.Seq
			}, stats.WriteDeadLetter)
			b.progress(n)
		}
	}
	return full
}

// pollDepth reads the durable queue's depth, at most once per depthPoll,
// for the bound and the gauges.
func (b *behind[K, V]) pollDepth(ctx context.Context) {
	now := time.Now()
	b.mu.Lock()
	due := now.Sub(b.lastPoll) >= depthPoll
	if due {
		b.lastPoll = now
	}
	b.mu.Unlock()
	if !due {
		return
	}
	n, oldest, err := b.queue.Depth(ctx)
	if err != nil {
		return
	}
	b.mu.Lock()
	b.depth = n
	close(b.room)
	b.room = make(chan struct{})
	b.mu.Unlock()
	b.gauges(n, oldest)
}

// gauges reports the queue's depth and the age of its oldest write.
func (b *behind[K, V]) gauges(depth int64, oldest time.Time) {
	g, ok := b.c.stats.(stats.Gauger)
	if !ok {
		return
	}
	g.Gauge(stats.QueueDepth, depth)
	var age time.Duration
	if !oldest.IsZero() {
		age = max(0, b.c.cfg.Now().Sub(oldest))
	}
	g.Gauge(stats.QueueOldest, int64(age))
}

func (b *behind[K, V]) ack(ctx context.Context, entries []l2.QueueEntry) []bool {
	if len(entries) == 0 {
		return nil
	}
	acked, err := b.queue.Ack(ctx, entries)
	if err == nil && len(acked) != len(entries) {
		err = fmt.Errorf("%w: %d answers for %d acknowledged entries", errBadStore, len(acked), len(entries))
	}
	if err != nil {
		// They come back after the queue's claim timeout: their keys'
		// queued values are gone by then, and they are acknowledged
		// without a write.
		b.c.cfg.Logger.LogAttrs(ctx, slogWarn, "tiercache: write-behind: acknowledging queue entries failed",
			attrCache(b.c.cfg.Name), attrErr(err))
		return nil
	}
	return acked
}

// finished counts queue entries that this flusher acknowledged (acked,
// from ack): each accepted write is counted once, as ownEvent (flushed, or
// dead-lettered) when it is the write of the value handled (own reports
// it), as coalesced otherwise. An entry
// that another instance acknowledged first (it was handed to both, after
// the claim timeout) is that instance's to count.
func (b *behind[K, V]) finished(entries []l2.QueueEntry, acked []bool, own func(l2.QueueEntry) bool, ownEvent stats.Event) (n int) {
	owned, coalesced := 0, 0
	for j, e := range entries {
		switch {
		case j >= len(acked) || !acked[j]:
		case own != nil && own(e):
			owned++
		default:
			coalesced++
		}
	}
	b.c.stats.Add(ownEvent, owned)
	b.c.stats.Add(stats.WriteCoalesced, coalesced)
	return owned + coalesced
}

// write writes batch to the source, retrying what failed with jittered
// exponential backoff, MaxRetries times; before each retry refresh gives
// the items to try again (later values of their keys, without the keys
// that are no longer this flusher's). It returns the items in the source,
// those whose retries ran out, and the last error.
func (b *behind[K, V]) write(ctx context.Context, batch []flushItem[K, V], refresh func([]flushItem[K, V]) []flushItem[K, V]) (done, dead []flushItem[K, V], lastErr error) {
	c := b.c
	backoff := b.cfg.RetryBackoff
	for attempt := 0; ; attempt++ {
		changes := make([]Change[K, V], len(batch))
		for i, it := range batch {
			changes[i] = it.change
		}
		c.stats.Add(stats.WriteBatches, 1)
		c.stats.Add(stats.WriteBatchKeys, len(changes))
		wctx, cancel := context.WithTimeout(ctx, b.cfg.WriteTimeout)
		errs := c.writeSource(wctx, "write-behind", changes)
		cancel()
		var failed []flushItem[K, V]
		for i, it := range batch {
			if errs == nil || errs[i] == nil {
				done = append(done, it)
				continue
			}
			failed = append(failed, it)
			lastErr = errs[i]
		}
		if len(failed) == 0 {
			return done, dead, nil
		}
		if attempt >= b.cfg.MaxRetries || ctx.Err() != nil {
			return done, failed, lastErr
		}
		c.stats.Add(stats.WriteRetry, 1)
		pause := backoff/2 + rand.N(backoff/2+1) // jitter: [backoff/2, backoff]
		backoff = min(2*backoff, b.cfg.MaxRetryBackoff)
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return done, failed, lastErr
		}
		if batch = refresh(failed); len(batch) == 0 {
			return done, dead, lastErr
		}
	}
}

// deadLetter hands the writes whose retries ran out to the DeadLetter hook
// (or the log), and invalidates their keys ks: the cache must not go on
// serving values the source never took. The caller counts them
// (stats.WriteDeadLetter).
func (b *behind[K, V]) deadLetter(ctx context.Context, items []flushItem[K, V], ks []string, err error) {
	c := b.c
	changes := make([]Change[K, V], len(items))
	for i, it := range items {
		changes[i] = it.change
	}
	if b.cfg.DeadLetter != nil {
		b.cfg.DeadLetter(ctx, changes, err)
	} else {
		c.cfg.Logger.LogAttrs(ctx, slogWarn, "tiercache: write-behind: writes dropped after their retries",
			attrCache(c.cfg.Name), attrKeys(len(items)), attrErr(err))
	}
	_, _ = c.apply(ctx, "write-behind", deletes[V](ks), nil) // an L2 failure leaves them unsettled: retried
}

// changeOf returns the change a queued frame of the L1 key k stands for.
func (b *behind[K, V]) changeOf(k string, frame []byte) (Change[K, V], error) {
	key, err := b.cfg.ParseKey(k)
	if err != nil {
		return Change[K, V]{}, fmt.Errorf("tiered: %s: write-behind: key %q: %w", b.c.cfg.Name, k, err)
	}
	e, _, err := b.c.decode(k, frame)
	if err != nil {
		return Change[K, V]{}, err
	}
	return changeOf(key, e), nil
}

// changeOf returns the change a queued entry of key stands for.
func changeOf[K comparable, V any](key K, e *entry[V]) Change[K, V] {
	if e.notFound || e.tombstone {
		return Change[K, V]{Key: key, Delete: true}
	}
	return Change[K, V]{Key: key, Value: e.value}
}
