package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
)

var _ l2.Queue = (*Queue)(nil)

// Queue is an [l2.Queue] over Redis Streams, for write-behind: the queue
// of one namespace as one reader (one instance of the cache) sees it. It
// needs Redis 7.0 or later (XAUTOCLAIM as Redis 7 answers it). Create it
// with [NewQueue]; it is safe for concurrent use, runs no goroutine and
// holds nothing to close. It does not own the client: closing the client
// is the caller's job, after which operations fail with errors wrapping
// [l2.ErrClosed].
//
// # Keys
//
// The namespace's entries are spread over [QueueOptions].Shards streams,
// "{" + prefix + ns + "|wb|" + i + "}:queue" for i from 0 ([Queue.Keys]),
// each a hash tag of its own so that on a Cluster the streams spread over
// the masters. An entry is a stream entry with one field, "k", the key;
// key k always goes to stream CRC16(k) mod Shards, so the entries of one
// key stay in the order they were added. The readers of all instances
// share the consumer group [QueueOptions].Group of each stream, which
// Read creates (XGROUP CREATE ... 0 MKSTREAM) the first time it reads the
// stream, so that entries added before any reader existed are delivered.
// The streams end with ":queue", not with '}': a Store's DeletePrefix (and
// so the tiered cache's Flush and InvalidatePrefix) leaves them alone.
//
// # Entries
//
// An entry's ID is its stream's index, '/' and its stream ID "ms-n"
// ("3/1700000000000-0"): stream IDs are unique within a stream only. Its
// sequence number is ms<<20 | min(n, 1<<20-1): Redis gives each entry of
// a stream a larger ID than the one before, and a key always uses one
// stream, so a later entry of a key has a larger sequence number (unless
// a million entries of the stream share a millisecond). Entries of
// different streams may share a sequence number. Added is the time of ms,
// by the Redis server's clock.
//
// # Commands and round trips
//
// Each step below sends its commands together, as the Store's batches do:
// a command alone, several in one pipeline, one round trip per node
// (go-redis splits a Cluster pipeline per node and sends to the nodes in
// parallel):
//
//   - Add: XADD per key.
//   - Read: XAUTOCLAIM on the streams due for a look at their stale
//     entries (each stream at most once per ClaimAfter/4 by this Queue,
//     unless the last look stopped before the end), and XPENDING per
//     entry it claimed (for its delivery count); then XREADGROUP ... ">"
//     (without BLOCK) on as many streams as max allows, starting at
//     another stream each time, max split between them, and again on the
//     streams that had more and those left out, while max lasts. The
//     first Read of a Queue also sends XGROUP CREATE per stream, and so
//     does the Read after one that found a stream deleted. With max at
//     least Shards, an empty queue costs one round trip, two when a look
//     for stale entries is due.
//   - Ack: an XACK per entry (its reply tells whether this call
//     acknowledged it) and an XDEL per stream, one pipeline, so that the
//     streams hold only the entries not acknowledged yet.
//   - Depth: XLEN and XRANGE - + COUNT 1 per stream.
//
// The Redis user needs +xadd +xreadgroup +xautoclaim +xpending +xack
// +xdel +xlen +xrange +xgroup|create.
type Queue struct {
	s          *Store // round trips and errors
	keys       []string
	group      string
	consumer   string
	claimAfter time.Duration
	next       atomic.Uint32 // where the next Read starts, modulo len(keys)

	mu     sync.Mutex
	shards []shardState
}

// shardState is what a Queue knows of one of its streams.
type shardState struct {
	// ready: the group exists, as far as the Queue knows (it created it,
	// or found it there).
	ready bool
	// claimAt is when Read looks for stale entries next (XAUTOCLAIM); the
	// zero Time: at once.
	claimAt time.Time
	// cursor is where that look starts: "0-0", or where the last one
	// stopped.
	cursor string
}

// keyField is the field of a stream entry that holds the key.
const keyField = "k"

// NewQueue returns the Queue of opts.Namespace for the reader
// opts.Consumer over client, which may be a *redis.Client (one node, or
// Sentinel through redis.NewFailoverClient), a *redis.ClusterClient or a
// *redis.Ring. It checks opts (see [QueueOptions]), does not keep it, and
// sends nothing.
func NewQueue(client redis.UniversalClient, opts *QueueOptions) (*Queue, error) {
	if client == nil {
		return nil, errors.New("redisstore: NewQueue: nil client")
	}
	c, err := opts.config()
	if err != nil {
		return nil, err
	}
	q := &Queue{
		s:          New(client, &Options{Prefix: c.Prefix}),
		keys:       make([]string, c.Shards),
		group:      c.Group,
		consumer:   c.Consumer,
		claimAfter: c.ClaimAfter,
		shards:     make([]shardState, c.Shards),
	}
	for i := range q.keys {
		q.keys[i] = "{" + c.Prefix + c.Namespace + "|wb|" + strconv.Itoa(i) + "}:queue"
		q.shards[i].cursor = "0-0"
	}
	return q, nil
}

// Keys returns the Redis keys of the queue's streams, shard 0 first.
func (q *Queue) Keys() []string {
	return slices.Clone(q.keys)
}

// shard returns the index of the stream of key.
func (q *Queue) shard(key string) int {
	return int(crc16(key)) % len(q.keys)
}

// Add appends an entry per key, each to the stream of its key, with one
// XADD per key in one pipeline, and returns the sequence number of each
// (see [Queue]). No keys, no round trip. On error some entries may have
// been added.
func (q *Queue) Add(ctx context.Context, keys []string) ([]uint64, error) {
	seqs := make([]uint64, len(keys))
	if len(keys) == 0 {
		return seqs, nil
	}
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = redis.NewStringCmd(ctx, "xadd", q.keys[q.shard(k)], "*", keyField, k)
	}
	exec(ctx, q.s, cmds)
	for i, cmd := range cmds {
		id, err := cmd.Result()
		if err != nil {
			return nil, q.s.wrap(ctx, "queue: add", err)
		}
		ms, n, err := parseStreamID(id)
		if err != nil {
			return nil, fmt.Errorf("redisstore: queue: add: %w", err)
		}
		seqs[i] = streamSeq(ms, n)
	}
	return seqs, nil
}

// Read returns up to n entries for this reader, without waiting:
// entries of other readers (or its own) handed out and not acknowledged
// within ClaimAfter first, then new ones (see [Queue] for the commands).
// It starts at another stream each time, so that the streams are served
// in turn when there are more entries than n. n <= 0 reads nothing.
//
// An entry whose stream holds it no longer (deleted meanwhile) is skipped,
// and so is an entry that the queue did not write (no key field), which
// Read also deletes. When some streams fail, Read returns the entries of
// the others without an error, and tries the failed ones again next time;
// it returns the error when it has no entry.
func (q *Queue) Read(ctx context.Context, n int) ([]l2.QueueEntry, error) {
	if n <= 0 {
		return nil, nil
	}
	r := &reading{q: q}
	shards := make([]int, len(q.keys))
	start := int(q.next.Add(1) % uint32(len(q.keys)))
	for j := range shards {
		shards[j] = (start + j) % len(q.keys)
	}
	shards = r.createGroups(ctx, shards)
	shards = r.claim(ctx, shards, n)
	r.readNew(ctx, shards, n-len(r.out))
	if len(r.junk) > 0 {
		_ = q.remove(ctx, "queue: read", r.junk)
	}
	if len(r.out) == 0 && r.err != nil {
		return nil, r.err
	}
	return r.out, nil
}

// reading is the state of one Read.
type reading struct {
	q   *Queue
	out []l2.QueueEntry
	err error // the first error, wrapped
	// junk holds, per shard, the IDs of the entries the queue did not
	// write, to delete.
	junk map[int][]string
}

// fail records the error of a command on shard i: a NOGROUP reply means
// that the stream, and its group with it, was deleted, and the next Read
// creates the group again.
func (r *reading) fail(ctx context.Context, i int, err error) {
	if redis.HasErrorPrefix(err, "NOGROUP") {
		r.q.mu.Lock()
		r.q.shards[i].ready = false
		r.q.mu.Unlock()
	}
	if r.err == nil {
		r.err = r.q.s.wrap(ctx, "queue: read", err)
	}
}

// createGroups creates the group of the shards whose group the Queue does
// not know to exist, and returns the shards whose group exists, in order.
func (r *reading) createGroups(ctx context.Context, shards []int) []int {
	q := r.q
	var todo []int
	q.mu.Lock()
	for _, i := range shards {
		if !q.shards[i].ready {
			todo = append(todo, i)
		}
	}
	q.mu.Unlock()
	if len(todo) == 0 {
		return shards
	}
	cmds := make([]*redis.StatusCmd, len(todo))
	for j, i := range todo {
		cmds[j] = redis.NewStatusCmd(ctx, "xgroup", "create", q.keys[i], q.group, "0", "mkstream")
		cmds[j].SetFirstKeyPos(2)
	}
	exec(ctx, q.s, cmds)
	failed := make(map[int]bool)
	for j, i := range todo {
		if err := cmds[j].Err(); err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
			r.fail(ctx, i, err)
			failed[i] = true
			continue
		}
		q.mu.Lock()
		q.shards[i].ready = true
		q.mu.Unlock()
	}
	return slices.DeleteFunc(shards, func(i int) bool { return failed[i] })
}

// claim hands out to this reader up to n entries that their readers did
// not acknowledge within ClaimAfter (XAUTOCLAIM), from the shards due for
// a look, and returns the shards that did not fail, in order.
func (r *reading) claim(ctx context.Context, shards []int, n int) []int {
	q := r.q
	now := time.Now()
	var (
		due     []int
		cursors []string
	)
	q.mu.Lock()
	for _, i := range shards {
		if len(due) == n {
			break
		}
		if st := &q.shards[i]; !now.Before(st.claimAt) {
			due = append(due, i)
			cursors = append(cursors, st.cursor)
		}
	}
	q.mu.Unlock()
	if len(due) == 0 {
		return shards
	}
	counts := split(n, len(due))
	cmds := make([]*redis.XAutoClaimCmd, len(due))
	for j, i := range due {
		cmds[j] = redis.NewXAutoClaimCmd(ctx, "xautoclaim", q.keys[i], q.group, q.consumer,
			millis(q.claimAfter), cursors[j], "count", counts[j])
	}
	exec(ctx, q.s, cmds)
	first := len(r.out)
	failed := make(map[int]bool)
	for j, i := range due {
		msgs, next, err := cmds[j].Result()
		if err != nil {
			r.fail(ctx, i, err)
			failed[i] = true
			continue
		}
		q.mu.Lock()
		st := &q.shards[i]
		st.cursor = next
		if next == "0-0" {
			st.claimAt = now.Add(q.claimAfter / 4)
		} else {
			st.claimAt = time.Time{} // more to look at: the next Read goes on
		}
		q.mu.Unlock()
		for _, m := range msgs {
			r.add(i, m, 2)
		}
	}
	r.deliveries(ctx, r.out[first:])
	return slices.DeleteFunc(shards, func(i int) bool { return failed[i] })
}

// deliveries sets the Deliveries of entries, just claimed, to their
// delivery count in the group (one XPENDING per entry); an entry whose
// count cannot be read keeps the 2 it has.
func (r *reading) deliveries(ctx context.Context, entries []l2.QueueEntry) {
	q := r.q
	cmds := make([]*redis.XPendingExtCmd, len(entries))
	ids := make([]string, len(entries))
	for j, e := range entries {
		var i int
		i, ids[j], _ = q.splitID(e.ID) // made by add
		cmds[j] = redis.NewXPendingExtCmd(ctx, "xpending", q.keys[i], q.group, ids[j], ids[j], 1)
	}
	exec(ctx, q.s, cmds)
	for j, cmd := range cmds {
		if p, err := cmd.Result(); err == nil && len(p) == 1 && p[0].ID == ids[j] && p[0].RetryCount > 0 {
			entries[j].Deliveries = p[0].RetryCount
		}
	}
}

// readNew hands out to this reader up to budget entries that no reader
// was given yet (XREADGROUP ">"), from shards: in rounds, each round one
// command per shard, on as many shards as the budget allows, with the
// budget split between them; the shards that had more go on to the next
// round, after those the round skipped.
func (r *reading) readNew(ctx context.Context, shards []int, budget int) {
	q := r.q
	active := slices.Clone(shards)
	for budget > 0 && len(active) > 0 {
		chosen := active[:min(budget, len(active))]
		counts := split(budget, len(chosen))
		cmds := make([]*redis.XStreamSliceCmd, len(chosen))
		for j, i := range chosen {
			cmds[j] = redis.NewXStreamSliceCmd(ctx, "xreadgroup", "group", q.group, q.consumer,
				"count", counts[j], "streams", q.keys[i], ">")
			cmds[j].SetFirstKeyPos(7)
		}
		exec(ctx, q.s, cmds)
		next := slices.Clone(active[len(chosen):])
		for j, i := range chosen {
			streams, err := cmds[j].Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				r.fail(ctx, i, err)
				continue
			}
			got := 0
			for _, s := range streams {
				for _, m := range s.Messages {
					r.add(i, m, 1)
					got++
				}
			}
			budget -= got
			if got >= counts[j] {
				next = append(next, i) // it may have more
			}
		}
		active = next
	}
}

// add appends the entry m of shard i, handed out for the deliveries-th
// time, or notes it as junk.
func (r *reading) add(i int, m redis.XMessage, deliveries int64) {
	key, ok := m.Values[keyField].(string)
	ms, n, err := parseStreamID(m.ID)
	if !ok || err != nil {
		if r.junk == nil {
			r.junk = make(map[int][]string)
		}
		r.junk[i] = append(r.junk[i], m.ID)
		return
	}
	r.out = append(r.out, l2.QueueEntry{
		ID:         strconv.Itoa(i) + "/" + m.ID,
		Key:        key,
		Seq:        streamSeq(ms, n),
		Added:      time.UnixMilli(int64(ms)),
		Deliveries: deliveries,
	})
}

// split returns n counts, each at least 1 when n <= total, that add up to
// total.
func split(total, n int) []int {
	counts := make([]int, n)
	for j := range counts {
		counts[j] = total / n
		if j < total%n {
			counts[j]++
		}
	}
	return counts
}

// Ack removes entries for good: an XACK per entry (its reply says whether
// it was still pending: acknowledged by this call) and an XDEL per stream,
// in one pipeline. No entries, no round trip. It sends nothing when an
// entry's ID is not one that Read makes.
func (q *Queue) Ack(ctx context.Context, entries []l2.QueueEntry) ([]bool, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	byShard := make(map[int][]string)
	ids := make([]string, len(entries))
	shard := make([]int, len(entries))
	for j, e := range entries {
		i, id, err := q.splitID(e.ID)
		if err != nil {
			return nil, fmt.Errorf("redisstore: queue: ack: %w", err)
		}
		byShard[i] = append(byShard[i], id)
		ids[j], shard[j] = id, i
	}
	acks := make([]*redis.IntCmd, len(entries))
	cmds := make([]*redis.IntCmd, 0, len(entries)+len(byShard))
	for j := range entries {
		acks[j] = redis.NewIntCmd(ctx, "xack", q.keys[shard[j]], q.group, ids[j])
		cmds = append(cmds, acks[j])
	}
	for i, sids := range byShard {
		del := make([]any, 0, 2+len(sids))
		del = append(del, "xdel", q.keys[i])
		for _, id := range sids {
			del = append(del, id)
		}
		cmds = append(cmds, redis.NewIntCmd(ctx, del...))
	}
	exec(ctx, q.s, cmds)
	acked := make([]bool, len(entries))
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil && (cmd.Name() != "xack" || !redis.HasErrorPrefix(err, "NOGROUP")) {
			return nil, q.s.wrap(ctx, "queue: ack", err)
		}
	}
	for j, cmd := range acks {
		acked[j] = cmd.Val() == 1
	}
	return acked, nil
}

// splitID returns the stream index and the stream ID of the entry ID id.
func (q *Queue) splitID(id string) (int, string, error) {
	a, sid, ok := strings.Cut(id, "/")
	i, err := strconv.Atoi(a)
	if !ok || err != nil || i < 0 || i >= len(q.keys) {
		return 0, "", fmt.Errorf("entry ID %q is not the index of one of the %d streams, '/' and a stream ID", id, len(q.keys))
	}
	if _, _, err := parseStreamID(sid); err != nil {
		return 0, "", fmt.Errorf("entry ID %q: %w", id, err)
	}
	return i, sid, nil
}

// remove acknowledges and deletes the entries of IDs byShard. A stream
// without the group (deleted and added to since) has nothing to
// acknowledge.
func (q *Queue) remove(ctx context.Context, op string, byShard map[int][]string) error {
	shards := make([]int, 0, len(byShard))
	for i := range byShard {
		shards = append(shards, i)
	}
	slices.Sort(shards)
	cmds := make([]*redis.IntCmd, 0, 2*len(shards))
	for _, i := range shards {
		ids := byShard[i]
		ack := make([]any, 0, 3+len(ids))
		ack = append(ack, "xack", q.keys[i], q.group)
		del := make([]any, 0, 2+len(ids))
		del = append(del, "xdel", q.keys[i])
		for _, id := range ids {
			ack = append(ack, id)
			del = append(del, id)
		}
		cmds = append(cmds, redis.NewIntCmd(ctx, ack...), redis.NewIntCmd(ctx, del...))
	}
	exec(ctx, q.s, cmds)
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil && (cmd.Name() != "xack" || !redis.HasErrorPrefix(err, "NOGROUP")) {
			return q.s.wrap(ctx, op, err)
		}
	}
	return nil
}

// Depth returns the number of entries in the streams (XLEN), which hold
// the entries not acknowledged yet, and the time of the oldest of their
// first entries (XRANGE - + COUNT 1), the zero Time when they are empty:
// two commands per stream, in one pipeline.
func (q *Queue) Depth(ctx context.Context) (n int64, oldest time.Time, err error) {
	lens := make([]*redis.IntCmd, len(q.keys))
	firsts := make([]*redis.XMessageSliceCmd, len(q.keys))
	cmds := make([]redis.Cmder, 0, 2*len(q.keys))
	for i, k := range q.keys {
		lens[i] = redis.NewIntCmd(ctx, "xlen", k)
		firsts[i] = redis.NewXMessageSliceCmd(ctx, "xrange", k, "-", "+", "count", 1)
		cmds = append(cmds, lens[i], firsts[i])
	}
	exec(ctx, q.s, cmds)
	var oldestMS uint64
	for i := range q.keys {
		l, err := lens[i].Result()
		if err != nil {
			return 0, time.Time{}, q.s.wrap(ctx, "queue: depth", err)
		}
		first, err := firsts[i].Result()
		if err != nil {
			return 0, time.Time{}, q.s.wrap(ctx, "queue: depth", err)
		}
		n += l
		if len(first) == 0 {
			continue
		}
		ms, _, err := parseStreamID(first[0].ID)
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("redisstore: queue: depth: %w", err)
		}
		if oldest.IsZero() || ms < oldestMS {
			oldestMS, oldest = ms, time.UnixMilli(int64(ms))
		}
	}
	return n, oldest, nil
}

// streamSeq returns the sequence number of the stream ID ms-n (see
// [Queue]).
func streamSeq(ms, n uint64) uint64 {
	return ms<<20 | min(n, 1<<20-1)
}

// parseStreamID splits a stream ID "ms-n".
func parseStreamID(id string) (ms, n uint64, err error) {
	a, b, ok := strings.Cut(id, "-")
	if ok {
		if ms, err = strconv.ParseUint(a, 10, 64); err == nil {
			n, err = strconv.ParseUint(b, 10, 64)
		}
	}
	if !ok || err != nil || ms >= 1<<44 {
		return 0, 0, fmt.Errorf("stream ID %q is not ms-n", id)
	}
	return ms, n, nil
}
