package tiered

import (
	"hash/maphash"
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
// fill. The same hash picks a mutex that serializes writes of one key, so
// that L2 and L1 see them in the same order.
type generations struct {
	seed   maphash.Seed
	slots  [genSlots]atomic.Uint64
	writes [writeLocks]sync.Mutex
}

const (
	genSlots   = 4096
	writeLocks = 64
)

func newGenerations() *generations { return &generations{seed: maphash.MakeSeed()} }

func (g *generations) hash(key string) uint64 { return maphash.String(g.seed, key) }

// load returns the current generation of the key with hash h.
func (g *generations) load(h uint64) uint64 { return g.slots[h%genSlots].Load() }

// bump advances the generation of the key with hash h.
func (g *generations) bump(h uint64) { g.slots[h%genSlots].Add(1) }

// lock serializes writes of the key with hash h; call the returned unlock.
func (g *generations) lock(h uint64) *sync.Mutex {
	m := &g.writes[h%writeLocks]
	m.Lock()
	return m
}
