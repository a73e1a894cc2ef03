package hitratio

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/maypok86/otter/v2"

	"github.com/tiercache/tiercache/l1"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
)

// Value is the value every replay stores: a small struct, as a service
// would cache a row.
type Value struct {
	ID      int64
	Version int32
	Score   float32
}

// A Policy is a cache replayed over a trace: Replay returns how many of
// the trace's accesses hit, in a cache of capacity entries (every entry
// costs 1) filled read-through, from one goroutine.
type Policy struct {
	Name   string
	Replay func(t Trace, capacity int) (hits int, err error)
}

// Policies returns the policies of the table, the offline optimum first.
func Policies() []Policy {
	return []Policy{
		{"OPT", func(t Trace, c int) (int, error) { return OPT(t, c), nil }},
		{"LRU", func(t Trace, c int) (int, error) { return LRU(t, c), nil }},
		{"otter", Otter},
		{"ristretto", Ristretto},
		{"tiercache+otter", func(t Trace, c int) (int, error) {
			s, err := l1.NewOtter(l1.Options{MaxCost: int64(c)})
			if err != nil {
				return 0, err
			}
			return Tiered(t, s)
		}},
		{"tiercache+ristretto", func(t Trace, c int) (int, error) {
			s, err := l1.NewRistretto(l1.Options{MaxCost: int64(c), AverageCost: 1})
			if err != nil {
				return 0, err
			}
			return Tiered(t, s)
		}},
	}
}

// valueOf is the value the loaders of every replay return for key k.
func valueOf(k int32) Value { return Value{ID: int64(k), Version: 1} }

// Otter replays t on a raw otter v2 cache bounded to capacity entries:
// GetIfPresent, and Set on a miss.
func Otter(t Trace, capacity int) (int, error) {
	c, err := otter.New(&otter.Options[string, Value]{MaximumSize: capacity})
	if err != nil {
		return 0, fmt.Errorf("hitratio: otter: %w", err)
	}
	defer c.StopAllGoroutines()
	hits := 0
	for _, k := range t.Accesses {
		key := t.Keys[k]
		if _, ok := c.GetIfPresent(key); ok {
			hits++
			continue
		}
		c.Set(key, valueOf(k))
	}
	return hits, nil
}

// Ristretto replays t on a raw ristretto v2 cache of capacity entries
// (cost 1 each, ten counters per entry, as ristretto recommends): Get, and
// Set on a miss, without Wait, as a service uses it.
func Ristretto(t Trace, capacity int) (int, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, Value]{
		NumCounters:        10 * int64(capacity),
		MaxCost:            int64(capacity),
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return 0, fmt.Errorf("hitratio: ristretto: %w", err)
	}
	defer c.Close()
	hits := 0
	for _, k := range t.Accesses {
		key := t.Keys[k]
		if _, ok := c.Get(key); ok {
			hits++
			continue
		}
		c.Set(key, valueOf(k), 1)
	}
	return hits, nil
}

// Tiered replays t on a tiercache Cache with store as its L1 and no L2,
// each entry of cost 1: Get, which loads a miss through the Loader and
// fills L1. The misses are the loader's calls. The cache, and so store,
// is closed on return.
func Tiered(t Trace, store l1.Store) (int, error) {
	index := make(map[string]int32, len(t.Keys))
	for i, k := range t.Keys {
		index[k] = int32(i)
	}
	var loads atomic.Int64 // a background refresh (XFetch) would load on a goroutine of its own
	c, err := tiered.New(&tiered.Options[string, Value]{
		Name:  "hitratio",
		TTL:   time.Hour,
		L1TTL: time.Hour,
		L1:    store,
		Cost:  func(Value) int64 { return 1 },
		Loader: loader.Func[string, Value](func(_ context.Context, key string) (Value, error) {
			loads.Add(1)
			return valueOf(index[key]), nil
		}),
	})
	if err != nil {
		store.Close()
		return 0, fmt.Errorf("hitratio: tiercache: %w", err)
	}
	defer func() { _ = c.Close() }()
	ctx := context.Background()
	for _, k := range t.Accesses {
		v, err := c.Get(ctx, t.Keys[k])
		if err != nil {
			return 0, fmt.Errorf("hitratio: tiercache: Get(%s): %w", t.Keys[k], err)
		}
		if v.ID != int64(k) {
			return 0, fmt.Errorf("hitratio: tiercache: Get(%s) = %+v, want the ID %d", t.Keys[k], v, k)
		}
	}
	return len(t.Accesses) - int(loads.Load()), nil
}
