package tiered

import (
	"time"

	"github.com/tiercache/tiercache/tiered/stats"
)

// L1 takes entries in three ways: a reader's fill (fillL1), an entry that
// replaces what L1 holds (replaceL1: a refresh, a value another instance
// stored while this one waited), and a write's own value (the write path,
// through ownL1). Each checks that no write or invalidation of the key
// happened since the value was read (the key's generation), and none takes
// anything while L1 is off (the bus's subscription is not in place: no
// invalidation could reach the entry).

// fillL1 puts an entry read or loaded by a reader into L1, unless a write or
// delete of the key happened since the reader noted gen (then the entry may
// be older than that write). The check is repeated after the Set, and what
// was set is evicted if a write slipped in between: evicting is always safe.
// It reports whether the entry went in (as far as it knows).
func (c *Cache[K, V]) fillL1(k string, h, gen uint64, e *entry[V], size int, ttl time.Duration) bool {
	// A TTL of 0 means "never expires" to an L1 store: an entry without
	// time left stays out.
	// The epoch is read before gen is checked: when gen has not moved,
	// neither has the epoch since the read began.
	epoch := c.gens.epoch.Load()
	if ttl <= 0 || c.l1off.Load() || c.gens.load(h) != gen {
		return false
	}
	e.epoch.Store(epoch)
	c.l1.Set(k, e, c.cost(k, e, size), ttl)
	if c.gens.load(h) != gen || c.l1off.Load() {
		c.l1.Delete(k)
		return false
	}
	return true
}

// replaceL1 puts an entry that replaces the one L1 holds into L1, unless a
// write or delete of the key happened since gen was noted. It does so as a
// write does: under the key's write lock, moving its generation (so that a
// reader that read the replaced value cannot put it back), and checking
// that L1 took the entry (see ownL1).
func (c *Cache[K, V]) replaceL1(k string, h, gen uint64, e *entry[V], size int, ttl time.Duration) {
	unlock := c.gens.lock(h)
	defer unlock()
	if c.gens.load(h) != gen {
		return
	}
	c.gens.bump(h)
	gen = c.gens.load(h)
	c.setL1(k, e, size, ttl)
	c.waitL1()
	c.ownL1(k, h, gen, e)
}

// waitL1 waits until L1 applied the Sets made before it (see ownL1).
func (c *Cache[K, V]) waitL1() {
	if !c.syncL1 {
		c.l1.Wait()
	}
}

// setL1 sets e under k in L1, unless L1 is off, for a caller that checks
// the outcome with ownL1 after Wait.
func (c *Cache[K, V]) setL1(k string, e *entry[V], size int, ttl time.Duration) {
	if ttl <= 0 || c.l1off.Load() { // see fillL1
		c.l1.Delete(k)
		return
	}
	// Under the key's write lock, e is the newest value of the key: it is
	// good under the current epoch, whatever flush came before.
	e.epoch.Store(c.gens.epoch.Load())
	c.l1.Set(k, e, c.cost(k, e, size), ttl)
}

// ownL1 makes sure, once a write's Set has been applied (after waitL1),
// that L1 holds e under k, or nothing. It evicts e when the key's
// generation moved from gen (a message of another instance's write came
// in) or L1 went off meanwhile.
//
// An asynchronous store (ristretto) may also hold another value: it drops
// the Set of a new key while an earlier Set of that key still waits in its
// buffer (its policy takes the second for a duplicate), so a reader's fill
// of the value before this write would stay in L1, older than what L2 now
// holds, and no message would come to remove it (receivers skip their
// own). ownL1 reads the key back to find out. A synchronous store needs no
// read: the write's Set replaced whatever was there, and a reader's fill
// that lands after it saw the generation move and takes itself back (see
// fillL1).
func (c *Cache[K, V]) ownL1(k string, h, gen uint64, e *entry[V]) {
	if c.syncL1 {
		if c.gens.load(h) != gen || c.l1off.Load() {
			c.l1.Delete(k)
		}
		return
	}
	if v, ok := c.l1.Get(k); ok && (v != any(e) || c.gens.load(h) != gen || c.l1off.Load()) {
		c.l1.Delete(k)
	}
}

// dropL1 removes keys from L1 after moving their generations, and forgets
// their running loads (later Gets must not join a load of the old value).
func (c *Cache[K, V]) dropL1(keys []string) {
	for _, k := range keys {
		c.gens.bump(c.gens.hash(k))
		c.flights.Forget(k)
		c.l1.Delete(k)
	}
}

// flushL1 empties L1 for every reader at once, in O(1): the epoch moves
// on, so that L1 serves no entry put there before (see live), and the
// generation of every key with it, so that no value read before the flush
// lands in L1 after it. Then L1.Clear frees the dead entries' memory, at
// most once per flushWindow: a flood of reasons to flush (a bus's gaps,
// messages that name tags or prefixes, garbage on the channel) costs an
// atomic add each, not a walk of L1. The dead entries that a skipped Clear
// leaves are overwritten by the next fill of their key or evicted.
//
// It reports whether it cleared L1 (false: coalesced).
func (c *Cache[K, V]) flushL1() bool {
	c.gens.bumpAll()
	now := time.Now().UnixNano()
	last := c.lastClear.Load()
	if now-last < int64(flushWindow) || !c.lastClear.CompareAndSwap(last, now) {
		c.stats.Add(stats.FlushCoalesced, 1)
		return false
	}
	c.l1.Clear()
	return true
}

// flushWindow is the shortest time between two L1.Clear calls of flushL1.
const flushWindow = 100 * time.Millisecond
