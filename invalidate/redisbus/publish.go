package redisbus

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/tiercache/tiercache/invalidate"
)

// Publish sends m to the subscribers of m.Namespace; see [invalidate.Bus].
//
// One message of a namespace is on its way at a time. When none is, the
// caller sends its message itself (no hand-off to another goroutine). While
// one is on its way, the messages published behind it queue up, and the
// namespace's publishing goroutine then sends those that name only keys as
// one message (at most MaxBatch keys, and at most MaxMessageSize bytes),
// so that a burst of deletes costs a few round trips, not one each. A
// message whose payload would be larger than MaxMessageSize is sent as
// several, its keys and tags spread over them (see [invalidate.Message.Split]),
// each with a sequence number of its own; Publish fails at once, sending
// nothing, when one key or tag alone (or the namespace and prefix) does not
// fit. Publish returns when every message that carries m was answered (with
// the first error), or ctx ends (m stays queued). A message that fails is
// kept and sent again, merged with the next ones, after a backoff; its
// sequence number is not reused, so receivers that heard this bus before
// flush when the retry arrives.
func (b *Bus) Publish(ctx context.Context, m *invalidate.Message) error {
	if m == nil {
		return nil
	}
	p, err := b.publisher(m.Namespace)
	if err != nil {
		return err
	}
	pieces, err := b.pieces(m)
	if err != nil {
		return fmt.Errorf("redisbus: publish: %w", err)
	}
	// One answer per piece: each is sent, failed or dropped exactly once.
	done := make(chan error, len(pieces))
	if err := p.enqueue(pieces, done); err != nil {
		return err
	}
	if p.sending.TryLock() {
		// Nothing on its way: send from here. The send goes on if ctx
		// ends, for the messages merged into it.
		p.sendNext(context.WithoutCancel(ctx))
		p.sending.Unlock()
		if p.pending() {
			p.kick()
		}
	} else {
		p.kick()
	}
	var first error
	for range pieces {
		select {
		case err := <-done:
			if first == nil {
				first = err
			}
		case <-ctx.Done():
			return fmt.Errorf("redisbus: publish: %w", ctx.Err())
		}
	}
	return first
}

// pieces returns a copy of m (the caller may reuse its message) cut into
// messages whose payloads fit MaxMessageSize. The copies are stamped at
// their widest (see widest).
func (b *Bus) pieces(m *invalidate.Message) ([]invalidate.Message, error) {
	c := *m
	c.Keys = append([]string(nil), m.Keys...)
	c.Tags = append([]string(nil), m.Tags...)
	b.widest(&c)
	return c.Split(b.maxEncoded)
}

// widest stamps m as the bus will, its sequence number and send time at
// their longest encodings: the bus measures a message before it knows
// them.
func (b *Bus) widest(m *invalidate.Message) {
	m.Origin, m.Seq, m.Sent = b.cfg.ID, math.MaxUint64, math.MinInt64
}

// widestLen returns the length of m's encoding once stamped, at most.
func (b *Bus) widestLen(m *invalidate.Message) int {
	c := *m
	b.widest(&c)
	return c.EncodedLen()
}

// publisher returns the publishing goroutine of namespace ns, starting it
// on first use.
func (b *Bus) publisher(ns string) (*publisher, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, invalidate.ErrClosed
	}
	p := b.publishers[ns]
	if p == nil {
		channel := b.Channel(ns)
		p = &publisher{b: b, ns: ns, channel: channel, logKey: b.LogKey(ns), wake: make(chan struct{}, 1),
			auth: newAuth(channel, b.cfg.Keys[:min(len(b.cfg.Keys), 1)])}
		b.publishers[ns] = p
		b.wg.Add(1)
		go p.run()
	}
	return p, nil
}

// publisher sends one namespace's messages, in order.
type publisher struct {
	b           *Bus
	ns, channel string
	logKey      string        // Options.LogLength: the namespace's log
	wake        chan struct{} // capacity 1: "the queue is not empty"

	mu     sync.Mutex
	queue  []queued
	queued int  // keys in queue
	closed bool // set by drain: Publish fails from then on

	// sending is held by whoever sends, the goroutine or a caller: one
	// message of the namespace on its way at a time, in sequence order.
	sending sync.Mutex
	// Owned by the holder of sending.
	seq     uint64
	retry   *invalidate.Message // a message that failed, sent again first
	payload []byte
	auth    *auth // signs with Options.Keys[0]; nil without Keys
}

type queued struct {
	m    invalidate.Message // a copy: the caller may reuse its message
	done []chan<- error     // the callers waiting for it
}

// enqueue queues the pieces of one Publish, each answered on done.
func (p *publisher) enqueue(pieces []invalidate.Message, done chan<- error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return invalidate.ErrClosed
	}
	for _, m := range pieces {
		p.queue = append(p.queue, queued{m: m, done: []chan<- error{done}})
		p.queued += len(m.Keys)
	}
	if p.queued > p.b.cfg.MaxPending {
		// Redis has been failing for a while: one flush of the namespace
		// says as much as every key queued.
		flush := queued{m: invalidate.Message{Namespace: p.ns, Flush: true}}
		for _, q := range p.queue {
			flush.done = append(flush.done, q.done...)
		}
		p.queue, p.queued = []queued{flush}, 0
	}
	return nil
}

// kick wakes the publishing goroutine.
func (p *publisher) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// pending reports whether anything waits to be sent.
func (p *publisher) pending() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue) > 0 || p.retry != nil
}

// run sends batches until Close, then makes one last attempt to send what
// is left.
func (p *publisher) run() {
	defer p.b.wg.Done()
	failures := 0
	for {
		select {
		case <-p.wake:
		case <-p.b.done:
			p.drain()
			return
		}
		p.sending.Lock()
		for {
			ok, more := p.sendNext(context.Background())
			if !more {
				break
			}
			if ok {
				failures = 0
				continue
			}
			failures++
			if !p.b.sleep(p.b.backoff(failures - 1)) {
				p.sending.Unlock()
				p.drain()
				return
			}
		}
		p.sending.Unlock()
	}
}

// drain is the last attempt at Close: each remaining batch gets one try
// with a short deadline.
func (p *publisher) drain() {
	p.sending.Lock()
	defer p.sending.Unlock()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if _, more := p.sendNext(ctx); !more {
			break
		}
	}
	p.mu.Lock()
	q := p.queue
	p.queue = nil
	p.mu.Unlock()
	for _, q := range q {
		for _, w := range q.done {
			w <- invalidate.ErrClosed
		}
	}
}

// sendNext sends the next batch: the message to retry, if any, merged with
// the key-only messages at the head of the queue, or the next message as it
// is. It reports whether the send succeeded and whether there was anything
// to send.
func (p *publisher) sendNext(ctx context.Context) (ok, more bool) {
	batch, waiters := p.next()
	if batch == nil {
		return false, false
	}
	p.seq++
	batch.Origin, batch.Seq, batch.Sent = p.b.cfg.ID, p.seq, time.Now().UnixNano()
	var err error
	p.payload, err = batch.AppendBinary(p.payload[:0])
	if err == nil {
		if p.auth != nil {
			p.payload = p.auth.sign(p.payload)
		}
		if p.b.cfg.LogLength > 0 {
			err = p.b.publishLogged(ctx, p.logKey, p.channel, p.payload)
		} else {
			err = p.b.publish(ctx, p.channel, p.payload)
		}
	}
	if err != nil {
		p.b.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "tiercache: publishing an invalidation failed, will retry",
			slog.String("channel", p.channel), slog.Int("keys", len(batch.Keys)), slog.Any("error", err))
		p.b.observe(p.ns, invalidate.SendFailed, len(batch.Keys))
		p.keep(batch)
		p.b.reloadState(ctx) // a failed master: do not wait for the client's own reload
		err = fmt.Errorf("redisbus: publish: %w", err)
	} else {
		p.b.observe(p.ns, invalidate.Sent, len(batch.Keys))
	}
	for _, w := range waiters {
		w <- err
	}
	return err == nil, true
}

// next takes the next batch off the queue.
func (p *publisher) next() (*invalidate.Message, []chan<- error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	batch := p.retry
	p.retry = nil
	var waiters []chan<- error
	take := func(q queued) {
		waiters = append(waiters, q.done...)
		p.queued -= len(q.m.Keys)
	}
	if batch == nil {
		if len(p.queue) == 0 {
			return nil, nil
		}
		m := p.queue[0].m
		batch = &m
		take(p.queue[0])
		p.queue = p.queue[1:]
	}
	if maxKeys := p.b.cfg.MaxBatch; maxKeys > 1 && keysOnly(batch) {
		size := p.b.widestLen(batch)
		for len(p.queue) > 0 {
			m := &p.queue[0].m
			if !mergeable(batch, m) || len(batch.Keys)+len(m.Keys) > maxKeys {
				break
			}
			// The keys of m add less to the batch than m's whole
			// encoding: the rest of it, more than 20 bytes, exceeds what
			// the batch's list header can grow (4 bytes).
			add := p.b.widestLen(m)
			if size+add > p.b.maxEncoded {
				break
			}
			size += add
			batch.Keys = append(batch.Keys, m.Keys...)
			take(p.queue[0])
			p.queue = p.queue[1:]
		}
	}
	if len(p.queue) == 0 {
		p.queue = nil // let the backing array go
	}
	return batch, waiters
}

// keep sets a failed batch aside to be sent again first. A batch that has
// grown past MaxPending keys becomes a flush of the namespace.
func (p *publisher) keep(batch *invalidate.Message) {
	if len(batch.Keys) > p.b.cfg.MaxPending {
		batch.Keys, batch.Tags, batch.Prefix, batch.Flush, batch.Wake = nil, nil, "", true, false
	}
	p.mu.Lock()
	p.retry = batch
	p.mu.Unlock()
}

// keysOnly reports whether m names keys only: no tags, prefix or flush.
func keysOnly(m *invalidate.Message) bool {
	return len(m.Tags) == 0 && m.Prefix == "" && !m.Flush
}

// mergeable reports whether the keys of m may join batch, a keys-only
// message: m names keys only and means the same of them (Unsettled, Wake).
func mergeable(batch, m *invalidate.Message) bool {
	return keysOnly(m) && m.Unsettled == batch.Unsettled && m.Wake == batch.Wake
}
