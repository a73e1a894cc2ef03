package tiered

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/tiered/stats"
)

// write is one key's change on the write path: a value to store, or a
// delete.
type write[V any] struct {
	k     string
	e     *entry[V] // nil: a delete
	frame []byte    // the value's frame
	size  int       // its payload's size, for the L1 cost
	ttl   time.Duration
	tags  []string
	// l1ttl replaces Options.L1TTL for the value (0: it does not); noL1
	// keeps it out of L1 (SetOptions).
	l1ttl time.Duration
	noL1  bool
	// lease, when not zero, is the token of the key's lease, taken before
	// the source was written (write-through): the value goes to L2 only
	// if the lease is unbroken and L2 still holds old, and becomes a
	// delete otherwise (see writeLeased).
	lease l2.Token
	old   []byte
	// stage: the value is written behind: it goes to L2 as the key's
	// queued value with sequence number seq (see l2.Stager), unless a
	// later write of the key is queued already.
	stage bool
	seq   uint64
	// stored: L2 took the value (under its lease, or staged); or, with e
	// nil, a later queued write made it moot: L2 is left alone.
	stored bool
}

// apply is the one write path of the cache: Set, SetMany, Delete, the
// deletes of InvalidateTags and the retries of unsettled keys go through
// it. For the keys of ws (values, deletes, or both) it
//
//  1. takes the keys' write locks (in a fixed order), moves their
//     generations and forgets their running loads, so that nothing read or
//     loaded before lands in either tier after the write;
//  2. writes L2: the values' tag indexes, then the values written under
//     their leases (write-through; a refused one becomes a delete), then
//     the other values and tombstones in one call, which also ends the
//     keys' leases, then the tag indexes again (a store without
//     conditional writes gets plain deletes instead of tombstones);
//  3. when L2 failed, keeps the keys unsettled: retried until L2 takes
//     them, and not read from L2 meanwhile, in any instance (see
//     unsettled); when it worked, settles them;
//  4. moves the generations again and applies the write to L1: a value
//     that L2 took goes in (read-your-writes), anything else goes out;
//  5. releases the locks and publishes the keys, flagged Unsettled when
//     L2 failed.
//
// retry, for the retry of unsettled keys, holds the sequence number each
// key had when it was taken: a key written since (settled, or unsettled
// again by a later write) is left alone. op names the operation in errors.
// It returns L2's error and the bus's apart.
func (c *Cache[K, V]) apply(ctx context.Context, op string, ws []write[V], retry map[string]uint64) (l2err, puberr error) {
	hs := make([]uint64, len(ws))
	for i, w := range ws {
		hs[i] = c.gens.hash(w.k)
	}
	unlock := c.gens.lock(hs...)
	if retry != nil {
		kept := ws[:0:0]
		for _, w := range ws {
			if c.unsettled.pending(w.k, retry[w.k]) {
				kept = append(kept, w)
			}
		}
		if ws = kept; len(ws) == 0 {
			unlock()
			return nil, nil
		}
		for i, w := range ws {
			hs[i] = c.gens.hash(w.k)
		}
		hs = hs[:len(ws)]
	}
	// Keys of one batch may share a generation (hs holds hashes): each
	// step below moves or reads every generation of the batch before the
	// next, so that one key's bump never passes for a move of another's.
	keys := make([]string, len(ws))
	for i, w := range ws {
		keys[i] = w.k
		c.gens.bump(hs[i])
		c.flights.Forget(w.k)
	}
	before := make([]uint64, len(ws))
	for i := range ws {
		before[i] = c.gens.load(hs[i])
	}
	now := c.cfg.Now()
	if c.remote != nil {
		if l2err = c.writeL2(ctx, ws, now); l2err != nil {
			if !c.unsettled.add(keys) {
				l2err = errors.Join(l2err, ErrUnsettled)
			}
			c.stats.Add(stats.Unsettled, len(keys))
		} else if n := c.unsettled.settle(keys); n > 0 {
			c.stats.Add(stats.Settled, n)
		}
	}
	// A generation that moved during the L2 write (the lock keeps this
	// instance's writes out) is another instance's message, or a flush:
	// its write may have reached L2 after this one, and the message came
	// before this value went into L1. The value stays out of L1.
	moved := make([]bool, len(ws))
	for i := range ws {
		moved[i] = c.gens.load(hs[i]) != before[i]
	}
	for i := range ws {
		c.gens.bump(hs[i])
	}
	gens := make([]uint64, len(ws))
	for i := range ws {
		gens[i] = c.gens.load(hs[i])
	}
	set := false
	for i, w := range ws {
		if w.e != nil && l2err == nil && !moved[i] && !w.noL1 {
			c.setL1(w.k, w.e, w.size, c.l1TTLAt(w.e, now, w.l1ttl))
			set = true
		} else {
			c.l1.Delete(w.k)
		}
	}
	if set {
		c.waitL1()
		for i, w := range ws {
			if w.e != nil && l2err == nil {
				c.ownL1(w.k, hs[i], gens[i], w.e)
			}
		}
	}
	unlock()
	if l2err != nil {
		l2err = fmt.Errorf("tiered: %s: %s: %w", c.cfg.Name, op, l2err)
	}
	return l2err, c.publish(ctx, &invalidate.Message{Keys: keys, Unsettled: l2err != nil})
}

// writeL2 is step 2 of apply.
func (c *Cache[K, V]) writeL2(ctx context.Context, ws []write[V], now time.Time) error {
	var tagged map[string][]string // tag -> keys
	for _, w := range ws {
		for _, t := range w.tags {
			if w.e == nil {
				break
			}
			if tagged == nil {
				tagged = make(map[string][]string)
			}
			tagged[t] = append(tagged[t], w.k)
		}
	}
	// The indexes first, so that no value is ever in L2 without them: when
	// Tag fails, nothing is written. Then again after the values: an
	// InvalidateTags that popped an index between the two took the keys
	// out of it before their new values landed (it pops atomically), and
	// the second Tag lists them again for its next pass.
	if err := c.tagL2(ctx, tagged); err != nil {
		return err
	}
	if err := c.writeLeased(ctx, ws); err != nil {
		return err
	}
	if err := c.writeStaged(ctx, ws); err != nil {
		return err
	}
	items := make([]l2.Item, 0, len(ws))
	var dels []string
	for _, w := range ws {
		switch {
		case w.stored:
		case w.e != nil:
			items = append(items, l2.Item{Key: w.k, Value: w.frame, TTL: w.ttl})
		case c.remote.cond != nil:
			// A tombstone rather than nothing: a load that read the key
			// before this delete writes only if L2 still holds what it
			// read (see l2.Conditional).
			items = append(items, l2.Item{Key: w.k, Value: c.tombstone(w.k, now, c.cfg.TombstoneTTL), TTL: c.cfg.TombstoneTTL})
		default:
			dels = append(dels, w.k)
		}
	}
	if len(items) > 0 {
		if err := c.remote.write(ctx, items); err != nil {
			return err
		}
	}
	if len(dels) > 0 {
		if err := c.remote.remove(ctx, dels); err != nil {
			return err
		}
	}
	return c.tagL2(ctx, tagged)
}

// writeLeased writes the values of ws that come with their key's lease
// (write-through) with one SetLeased call: each is stored only if its lease
// is unbroken (held by its token, or expired untaken) and L2 still holds
// what it held when the lease was granted, so that no write of the key
// from any instance came between the lease and this store. Any other
// writer of the key then either wrote before the lease was granted (before
// this source write began) or found the lease held, and writes a tombstone
// after its own source write (see writeThrough). A refused value turns
// into a delete of its key, written with the other writes: whatever the
// order in which the source took the writes of the key, the cache then
// holds nothing, and the next read loads what the source holds.
// Instances that waited for the leases are woken.
func (c *Cache[K, V]) writeLeased(ctx context.Context, ws []write[V]) error {
	var (
		idx   []int // indexes into ws
		items []l2.CondItem
		token l2.Token
	)
	for i, w := range ws {
		if w.e != nil && w.lease != (l2.Token{}) {
			token = w.lease // one token per write call
			idx = append(idx, i)
			items = append(items, l2.CondItem{Item: l2.Item{Key: w.k, Value: w.frame, TTL: w.ttl}, Old: w.old})
		}
	}
	if len(idx) == 0 {
		return nil
	}
	results, err := c.remote.setLeased(ctx, token, items)
	if err != nil {
		return err
	}
	var waited []string
	for j, i := range idx {
		if results[j].Stored {
			ws[i].stored = true
			c.stats.Add(stats.ThroughStored, 1)
		} else {
			ws[i].e, ws[i].frame, ws[i].tags = nil, nil, nil
			c.stats.Add(stats.ThroughInvalidated, 1)
		}
		if results[j].Waited {
			waited = append(waited, ws[i].k)
		}
	}
	c.wake(ctx, waited)
	return nil
}

// writeStaged writes the values of ws that are written behind in durable
// mode as their keys' queued values (one Stage call). A value whose key
// has a later write queued already is left out of both tiers: that write
// was accepted after it, and its value is the key's.
func (c *Cache[K, V]) writeStaged(ctx context.Context, ws []write[V]) error {
	var (
		idx   []int // indexes into ws
		items []l2.StageItem
	)
	for i, w := range ws {
		if w.e != nil && w.stage {
			idx = append(idx, i)
			items = append(items, l2.StageItem{Key: w.k, Value: w.frame, Seq: w.seq})
		}
	}
	if len(idx) == 0 {
		return nil
	}
	seqs, err := c.remote.stage(ctx, items)
	if err != nil {
		return err
	}
	for j, i := range idx {
		ws[i].stored = true
		if seqs[j] == 0 {
			ws[i].e, ws[i].frame, ws[i].tags = nil, nil, nil
		}
	}
	return nil
}

// tagL2 adds the keys of tagged (tag -> keys) to their tag indexes, for at
// least the lifetime of the values in L2.
func (c *Cache[K, V]) tagL2(ctx context.Context, tagged map[string][]string) error {
	for t, ks := range tagged {
		if err := c.remote.tag(ctx, []string{t}, ks, c.l2TTL(c.cfg.TTL)); err != nil {
			return err
		}
	}
	return nil
}
