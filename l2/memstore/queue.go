package memstore

import (
	"container/list"
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tiercache/tiercache/internal/clock"
	"github.com/tiercache/tiercache/l2"
)

// DefaultClaimAfter is the claim timeout of a [QueueBackend] whose
// QueueOptions leave ClaimAfter zero.
const DefaultClaimAfter = 30 * time.Second

// QueueOptions configures a [QueueBackend]. The zero value is valid;
// NewQueueBackend accepts nil.
type QueueOptions struct {
	// Now returns the current time, which decides when an entry handed out
	// and not acknowledged is handed out again, and is each entry's Added.
	// Tests pass a fake clock; it is called on every operation, from any
	// goroutine, and must be safe for concurrent use. Default: a wall
	// clock derived from the monotonic one, as Options.Now's.
	Now func() time.Time

	// ClaimAfter is how long an entry handed out by Read may go
	// unacknowledged before Read hands it out again, to any reader. It
	// must not be negative. Default: DefaultClaimAfter.
	ClaimAfter time.Duration
}

// QueueBackend holds in-process [l2.Queue]s, one per namespace, shared by
// the readers made with [QueueBackend.Queue]: several instances of a cache
// in one process, or tests of the code above a queue. Create it with
// [NewQueueBackend]; it is safe for concurrent use and runs no goroutine.
//
// It keeps its entries in memory only: whatever it holds is lost with the
// process. Use it for tests, and for data whose loss is acceptable; a
// queue that outlives an instance is redisstore.Queue, whose semantics
// this one follows: a sequence number per entry (a counter per
// namespace, so a later entry of a key has a larger one), entries handed
// out again once ClaimAfter passed on the injected clock without an Ack,
// exact delivery counts, and Depth.
//
// [QueueBackend.FailWith] and [QueueBackend.FailWhen] inject faults, as
// the Store's do.
type QueueBackend struct {
	now        func() time.Time
	claimAfter time.Duration

	fault  atomic.Pointer[error]
	faults atomic.Pointer[func(op string) error] // see FailWhen

	mu     sync.Mutex
	spaces map[string]*queueSpace
}

// queueSpace is the queue of one namespace.
type queueSpace struct {
	seq     uint64             // the last sequence number given, which is also the last ID
	entries map[uint64]*queued // the entries not acknowledged yet, by ID
	fresh   list.List          // of *queued never handed out, in the order added
	pending list.List          // of *queued handed out, by the time of the last delivery
}

// queued is one entry of a queueSpace.
type queued struct {
	id         uint64 // its sequence number too
	key        string
	added      time.Time
	deliveries int64
	last       time.Time     // when it was last handed out
	elem       *list.Element // in fresh or pending
	list       *list.List    // fresh or pending
}

// NewQueueBackend returns an empty QueueBackend. opts may be nil;
// NewQueueBackend does not keep it. It panics when opts.ClaimAfter is
// negative.
func NewQueueBackend(opts *QueueOptions) *QueueBackend {
	b := &QueueBackend{
		now:        clock.NewMono().Now,
		claimAfter: DefaultClaimAfter,
		spaces:     make(map[string]*queueSpace),
	}
	if opts != nil {
		if opts.Now != nil {
			b.now = opts.Now
		}
		switch {
		case opts.ClaimAfter < 0:
			panic(fmt.Sprintf("memstore: NewQueueBackend: negative ClaimAfter %v", opts.ClaimAfter))
		case opts.ClaimAfter > 0:
			b.claimAfter = opts.ClaimAfter
		}
	}
	return b
}

// Queue returns the queue of namespace ns as the reader consumer sees it.
// Queues of one namespace share their entries, whatever their consumer:
// the backend needs no reader's name (it hands an entry out again after
// ClaimAfter whoever held it), and takes one for the sake of the same
// calls as redisstore.NewQueue.
func (b *QueueBackend) Queue(ns, consumer string) *Queue {
	return &Queue{b: b, ns: ns}
}

// FailWith makes every later operation of the backend's queues fail with
// err (wrapped with the package's name and the operation, so errors.Is(got,
// err) holds) until FailWith(nil) restores normal service.
func (b *QueueBackend) FailWith(err error) {
	if err == nil {
		b.fault.Store(nil)
		return
	}
	b.fault.Store(&err)
}

// FailWhen makes every later operation of the backend's queues call f
// with the operation's name ("queue: add", "queue: read", "queue: ack",
// "queue: depth") and fail with the error f returns, unless it is nil
// (wrapped as FailWith wraps it). FailWhen(nil) removes the hook. f runs
// after a fault set with FailWith, on the operation's goroutine, and must
// be safe for concurrent use.
func (b *QueueBackend) FailWhen(f func(op string) error) {
	if f == nil {
		b.faults.Store(nil)
		return
	}
	b.faults.Store(&f)
}

// begin runs the checks shared by every operation: the context and the
// injected faults.
func (b *QueueBackend) begin(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: %s: %w", op, err)
	}
	if p := b.fault.Load(); p != nil {
		return fmt.Errorf("memstore: %s: %w", op, *p)
	}
	if f := b.faults.Load(); f != nil {
		if err := (*f)(op); err != nil {
			return fmt.Errorf("memstore: %s: %w", op, err)
		}
	}
	return nil
}

// space returns the queue of ns, made on first use. The caller holds b.mu.
func (b *QueueBackend) space(ns string) *queueSpace {
	sp := b.spaces[ns]
	if sp == nil {
		sp = &queueSpace{entries: make(map[uint64]*queued)}
		b.spaces[ns] = sp
	}
	return sp
}

var _ l2.Queue = (*Queue)(nil)

// Queue is one reader's view of a namespace's queue in a [QueueBackend]:
// see there. It is safe for concurrent use.
type Queue struct {
	b  *QueueBackend
	ns string
}

// Add appends an entry per key and returns the sequence number of each,
// which is also the entry's ID.
func (q *Queue) Add(ctx context.Context, keys []string) ([]uint64, error) {
	if err := q.b.begin(ctx, "queue: add"); err != nil {
		return nil, err
	}
	seqs := make([]uint64, len(keys))
	now := q.b.now()
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	sp := q.b.space(q.ns)
	for i, k := range keys {
		sp.seq++
		e := &queued{id: sp.seq, key: k, added: now, list: &sp.fresh}
		e.elem = sp.fresh.PushBack(e)
		sp.entries[e.id] = e
		seqs[i] = e.id
	}
	return seqs, nil
}

// Read returns up to n entries: first those handed out ClaimAfter ago or
// more and not acknowledged (to any reader), the longest waiting first,
// then new ones in the order added. n <= 0 reads nothing.
func (q *Queue) Read(ctx context.Context, n int) ([]l2.QueueEntry, error) {
	if err := q.b.begin(ctx, "queue: read"); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	now := q.b.now()
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	sp := q.b.spaces[q.ns]
	if sp == nil {
		return nil, nil
	}
	var out []l2.QueueEntry
	// pending is in the order of last delivery: the stale entries come
	// first, and an entry handed out now goes to the back.
	for el := sp.pending.Front(); el != nil && len(out) < n; {
		e := el.Value.(*queued)
		if now.Sub(e.last) < q.b.claimAfter {
			break
		}
		next := el.Next()
		sp.pending.MoveToBack(el)
		out = append(out, e.handOut(now))
		el = next
	}
	for len(out) < n && sp.fresh.Len() > 0 {
		e := sp.fresh.Remove(sp.fresh.Front()).(*queued)
		e.elem, e.list = sp.pending.PushBack(e), &sp.pending
		out = append(out, e.handOut(now))
	}
	return out, nil
}

// handOut counts a delivery of e at now and returns it as an entry.
func (e *queued) handOut(now time.Time) l2.QueueEntry {
	e.deliveries++
	e.last = now
	return l2.QueueEntry{
		ID:         strconv.FormatUint(e.id, 10),
		Key:        e.key,
		Seq:        e.id,
		Added:      e.added,
		Deliveries: e.deliveries,
	}
}

// Ack removes entries for good and reports which it removed; entries it
// does not hold (acknowledged already, or of another namespace) are
// ignored (false).
func (q *Queue) Ack(ctx context.Context, entries []l2.QueueEntry) ([]bool, error) {
	if err := q.b.begin(ctx, "queue: ack"); err != nil {
		return nil, err
	}
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	acked := make([]bool, len(entries))
	sp := q.b.spaces[q.ns]
	if sp == nil {
		return acked, nil
	}
	for i, a := range entries {
		id, err := strconv.ParseUint(a.ID, 10, 64)
		if err != nil {
			continue
		}
		if e, ok := sp.entries[id]; ok {
			e.list.Remove(e.elem)
			delete(sp.entries, id)
			acked[i] = true
		}
	}
	return acked, nil
}

// Depth returns how many entries are not acknowledged yet, and when the
// oldest of them was added (the zero Time when there is none). It looks at
// every entry.
func (q *Queue) Depth(ctx context.Context) (n int64, oldest time.Time, err error) {
	if err := q.b.begin(ctx, "queue: depth"); err != nil {
		return 0, time.Time{}, err
	}
	q.b.mu.Lock()
	defer q.b.mu.Unlock()
	sp := q.b.spaces[q.ns]
	if sp == nil {
		return 0, time.Time{}, nil
	}
	var first *queued
	for _, e := range sp.entries {
		if first == nil || e.id < first.id {
			first = e
		}
	}
	if first != nil {
		oldest = first.added
	}
	return int64(len(sp.entries)), oldest, nil
}
