package tiered

import (
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// generations guards L1 against the stale-set race: a value read from L2 or
// loaded before a write or delete of its key must not land in L1 after it.
//
// Every write bumps the counter of its key's slot; a reader notes the counter
// before it reads L2 or loads, fills L1, and evicts what it filled when the
// counter moved meanwhile. Keys share slots (a fixed table, no per-key state
// to clean up), so a write to another key of the slot only costs a skipped
// fill. The same hash picks a mutex that serializes writes of one key (Set,
// SetMany, Delete), so that L2 and L1 see them in the same order; the lock
// is held across the L2 round trip, hence many of them.
type generations struct {
	seed maphash.Seed
	// epoch is added to every slot: a flush of L1 bumps it, which moves
	// the generation of every key at once.
	epoch atomic.Uint64
	// serving is the epoch whose entries L1 serves (see Cache.live):
	// epoch, or pausedEpoch, which no entry has, while the bus is
	// suspended (pause). Set under epochMu with paused.
	serving atomic.Uint64
	epochMu sync.Mutex
	paused  bool
	// live turns 1 when the Bus's first subscription is in place (see
	// markLive). It is the lowest bit of every generation.
	live   atomic.Uint64
	slots  [genSlots]atomic.Uint64
	writes [writeLocks]sync.Mutex
	// loads counts, per slot of endedSlots, the loads (flights of Get and
	// refresh) that ended: a load whose key's count moved on since its
	// lookup began looks at L2 again before it calls the loader, as an
	// earlier load of the key may have stored the value after the
	// lookup's read missed it. Otherwise it trusts that read.
	loads [endedSlots]atomic.Uint64
}

const (
	genSlots   = 4096
	endedSlots = 1024
	writeLocks = 1024
)

func newGenerations() *generations { return &generations{seed: maphash.MakeSeed()} }

func (g *generations) hash(key string) uint64 { return maphash.String(g.seed, key) }

// load returns the current generation of the key with hash h. Slot and
// epoch only grow, so their sum moves whenever either does; the lowest bit
// is live.
func (g *generations) load(h uint64) uint64 {
	return (g.slots[h%genSlots].Load()+g.epoch.Load())<<1 | g.live.Load()
}

// dataMoved reports whether the key with hash h was written, deleted or
// flushed since its generation was gen: whether a value read or loaded
// since may be older than what L2 holds or should hold. Unlike a change of
// load, it ignores the first subscription (markLive), which empties L1 but
// says nothing about the data.
func (g *generations) dataMoved(h, gen uint64) bool { return g.load(h)>>1 != gen>>1 }

// markLive moves the generation of every key, as bumpAll, but only for L1:
// the Bus's first subscription is in place, and what was read before it
// must not enter L1 (messages sent before it were not heard), while a load
// that began before it may still store its value in L2.
func (g *generations) markLive() { g.live.Store(1) }

// bump advances the generation of the key with hash h.
func (g *generations) bump(h uint64) { g.slots[h%genSlots].Add(1) }

// bumpAll advances the generation of every key (an L1 flush).
func (g *generations) bumpAll() {
	g.epochMu.Lock()
	defer g.epochMu.Unlock()
	e := g.epoch.Add(1)
	if !g.paused {
		g.serving.Store(e)
	}
}

// pausedEpoch is the serving epoch while L1 is paused: no entry has it.
const pausedEpoch = math.MaxUint64

// pause makes L1 serve nothing, without dropping anything: the bus's
// subscription broke, and it will replay what it misses (resume) or tell
// the cache to flush.
func (g *generations) pause() {
	g.epochMu.Lock()
	defer g.epochMu.Unlock()
	g.paused = true
	g.serving.Store(pausedEpoch)
}

// resume makes L1 serve the entries of the current epoch again.
func (g *generations) resume() {
	g.epochMu.Lock()
	defer g.epochMu.Unlock()
	g.paused = false
	g.serving.Store(g.epoch.Load())
}

// ended returns the count of the ended loads of the keys of h's slot.
func (g *generations) ended(h uint64) uint64 { return g.loads[h%endedSlots].Load() }

// loadEnded counts the end of a load of a key with hash h.
func (g *generations) loadEnded(h uint64) { g.loads[h%endedSlots].Add(1) }

// lock takes the write locks of the keys with hashes hs, in a fixed order
// (so that two batches cannot deadlock), and returns the function that
// releases them.
func (g *generations) lock(hs ...uint64) (unlock func()) {
	if len(hs) == 1 {
		m := &g.writes[hs[0]%writeLocks]
		m.Lock()
		return m.Unlock
	}
	idx := make([]int, len(hs))
	for i, h := range hs {
		idx[i] = int(h % writeLocks)
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		g.writes[i].Lock()
	}
	return func() {
		for _, i := range idx {
			g.writes[i].Unlock()
		}
	}
}
