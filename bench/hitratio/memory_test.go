package hitratio

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/maypok86/otter/v2"

	"github.com/tiercache/tiercache/l1"
	"github.com/tiercache/tiercache/tiered"
)

// memEntries is how many entries BenchmarkL1_MemoryPerEntry puts in each
// store; every store's capacity is exactly that many entries of cost 1.
const memEntries = 100_000

// memStore is a store under measurement: fill puts keys in it and returns
// how many it holds; close releases it.
type memStore struct {
	fill  func(keys []string) int
	close func()
}

// BenchmarkL1_MemoryPerEntry reports the heap (after a GC) that a store
// full of memEntries entries takes, per entry: B/entry counts everything
// the store allocated since before its construction, B/entry-marginal
// only what the entries added to the empty store (fixed-KiB is the empty
// store). Keys are built beforehand and values are a 16-byte Value, so
// neither's own bytes are counted, only what a store keeps per entry
// (its nodes, map slots, frequency counters, and in tiercache its entry).
//
//	go test ./hitratio/ -run '^$' -bench BenchmarkL1_MemoryPerEntry -benchtime 3x
func BenchmarkL1_MemoryPerEntry(b *testing.B) {
	keys := make([]string, memEntries)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
	}
	for _, s := range []struct {
		name string
		open func(b *testing.B) memStore
	}{
		{"map", openMap},
		{"otter", openOtter},
		{"ristretto", openRistretto},
		{"tiercache+otter", func(b *testing.B) memStore {
			s, err := l1.NewOtter(l1.Options{MaxCost: memEntries})
			if err != nil {
				b.Fatal(err)
			}
			return openTiered(b, s)
		}},
		{"tiercache+ristretto", func(b *testing.B) memStore {
			s, err := l1.NewRistretto(l1.Options{MaxCost: memEntries, AverageCost: 1})
			if err != nil {
				b.Fatal(err)
			}
			return openTiered(b, s)
		}},
	} {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			var total, marginal, fixed, held float64
			n := 0
			for b.Loop() {
				before := heapAfterGC()
				st := s.open(b)
				empty := heapAfterGC()
				h := st.fill(keys)
				full := heapAfterGC()
				st.close()
				total += float64(full-before) / float64(h)
				marginal += float64(full-empty) / float64(h)
				fixed += float64(empty - before)
				held += float64(h)
				n++
			}
			b.ReportMetric(total/float64(n), "B/entry")
			b.ReportMetric(marginal/float64(n), "B/entry-marginal")
			b.ReportMetric(fixed/float64(n)/1024, "fixed-KiB")
			b.ReportMetric(held/float64(n), "entries")
		})
	}
}

// heapAfterGC returns the bytes of live heap objects after a collection.
func heapAfterGC() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// openMap is the baseline: a Go map of the same keys and values.
func openMap(*testing.B) memStore {
	var m map[string]Value
	return memStore{
		fill: func(keys []string) int {
			m = make(map[string]Value)
			for i, k := range keys {
				m[k] = valueOf(int32(i))
			}
			return len(m)
		},
		close: func() { m = nil },
	}
}

func openOtter(b *testing.B) memStore {
	c, err := otter.New(&otter.Options[string, Value]{MaximumSize: memEntries})
	if err != nil {
		b.Fatal(err)
	}
	return memStore{
		fill: func(keys []string) int {
			for i, k := range keys {
				c.Set(k, valueOf(int32(i)))
			}
			c.CleanUp()
			return c.EstimatedSize()
		},
		close: func() { c.StopAllGoroutines() },
	}
}

func openRistretto(b *testing.B) memStore {
	c, err := ristretto.NewCache(&ristretto.Config[string, Value]{
		NumCounters:        10 * memEntries,
		MaxCost:            memEntries,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	return memStore{
		fill: func(keys []string) int {
			for i, k := range keys {
				c.Set(k, valueOf(int32(i)), 1)
				c.Wait()
			}
			held := 0
			for _, k := range keys {
				if _, ok := c.Get(k); ok {
					held++
				}
			}
			return held
		},
		close: c.Close,
	}
}

// openTiered measures an L1-only tiercache over store, filled with Set
// (which waits for an asynchronous L1 to apply it).
func openTiered(b *testing.B, store l1.Store) memStore {
	c, err := tiered.New(&tiered.Options[string, Value]{
		Name:  "hitratio",
		TTL:   time.Hour,
		L1TTL: time.Hour,
		L1:    store,
		Cost:  func(Value) int64 { return 1 },
	})
	if err != nil {
		store.Close()
		b.Fatal(err)
	}
	ctx := context.Background()
	return memStore{
		fill: func(keys []string) int {
			for i, k := range keys {
				if err := c.Set(ctx, k, valueOf(int32(i))); err != nil {
					b.Fatal(err)
				}
			}
			held := 0
			for _, k := range keys {
				_, err := c.Get(ctx, k)
				switch {
				case err == nil:
					held++
				case !errors.Is(err, tiered.ErrMiss):
					b.Fatal(err)
				}
			}
			return held
		},
		close: func() { _ = c.Close() },
	}
}
