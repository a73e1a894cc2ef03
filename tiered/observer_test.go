package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// lossyBus drops a fraction of the messages published through it before
// they are numbered, so that no receiver can tell (a loss that pub/sub's
// gaps would not show).
type lossyBus struct {
	*invalidate.MemBus
	mu      sync.Mutex
	rnd     *rand.Rand
	rate    float64
	dropped atomic.Int64
}

func (b *lossyBus) Publish(ctx context.Context, m *invalidate.Message) error {
	b.mu.Lock()
	drop := b.rnd.Float64() < b.rate
	b.mu.Unlock()
	if drop {
		b.dropped.Add(1)
		return nil
	}
	return b.MemBus.Publish(ctx, m)
}

// waitObserved waits until the observer of each counter has checked every
// hit it queued.
func waitObserved(t *testing.T, counters ...*stats.Counter) {
	t.Helper()
	waitFor(t, "the observer's checks", func() bool {
		for _, s := range counters {
			if sn := s.Snapshot(); sn.Get(stats.ObserveChecked) != sn.Get(stats.ObserveQueued) {
				return false
			}
		}
		return true
	})
}

// Four instances share an L2 and a bus that loses 1% of the messages
// without a trace. After writes, the test finds every entry an instance's
// L1 holds that the source has replaced; then each instance reads every
// key once, the observer checking every L1 hit: it must report exactly
// those entries.
func TestObserver_LossyBus(t *testing.T) {
	t.Parallel()
	const (
		instances = 4
		keys      = 1000
		writes    = 3000
	)
	ctx := context.Background()
	var versions [keys]atomic.Int64
	load := loader.Func[int64, versioned](func(_ context.Context, k int64) (versioned, error) {
		return versioned{Key: k, Version: versions[k].Load()}, nil
	})
	store := memstore.New(nil)
	t.Cleanup(func() { _ = store.Close() })
	hub := invalidate.NewHub()
	caches := make([]*tiered.Cache[int64, versioned], instances)
	counters := make([]*stats.Counter, instances)
	buses := make([]*lossyBus, instances)
	for i := range instances {
		buses[i] = &lossyBus{MemBus: hub.NewBus(fmt.Sprint("instance-", i)), rnd: rand.New(rand.NewPCG(7, uint64(i))), rate: 0.01}
		t.Cleanup(func() { _ = buses[i].Close() })
		counters[i] = &stats.Counter{}
		c, err := tiered.New(&tiered.Options[int64, versioned]{
			Name: "obs", L2: store, Bus: buses[i], Loader: load, Stats: counters[i],
			TTL: time.Hour, L1TTL: time.Hour, Beta: -1,
			Observer: &tiered.ObserverOptions{Sample: 1, Grace: 20 * time.Millisecond, Queue: 2 * keys},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		caches[i] = c
	}
	for _, c := range caches { // every key in every L1
		for k := range int64(keys) {
			if _, err := c.Get(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitObserved(t, counters...) // the second and later instances hit L2, not L1: little to check
	rnd := rand.New(rand.NewPCG(1, 2))
	for range writes {
		c, k := caches[rnd.IntN(instances)], rnd.Int64N(keys)
		v := versioned{Key: k, Version: versions[k].Add(1)}
		if err := c.Set(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}

	// What each L1 holds that the source replaced (Peek looks at L1
	// first, and does not feed the observer).
	stale := 0
	for _, c := range caches {
		for k := range int64(keys) {
			v, err := c.GetWith(ctx, k, tiered.GetOptions{Peek: true})
			if err != nil {
				t.Fatal(err)
			}
			if v.Version != versions[k].Load() {
				stale++
			}
		}
	}
	var dropped int64
	for _, b := range buses {
		dropped += b.dropped.Load()
	}
	if stale == 0 {
		t.Fatalf("%d messages of %d dropped and no stale entry: the test proves nothing", dropped, writes)
	}

	before := make([]int64, instances)
	for i, s := range counters {
		before[i] = s.Snapshot().Get(stats.Disagreed)
	}
	for _, c := range caches {
		for k := range int64(keys) {
			if _, err := c.Get(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitObserved(t, counters...)
	var disagreed, checked int64
	for i, s := range counters {
		sn := s.Snapshot()
		disagreed += sn.Get(stats.Disagreed) - before[i]
		checked += sn.Get(stats.ObserveChecked)
	}
	t.Logf("%d writes, %d messages dropped, %d stale entries in the L1s; the observer checked %d hits and reported %d disagreements",
		writes, dropped, stale, checked, disagreed)
	if disagreed != int64(stale) {
		t.Fatalf("the observer reported %d disagreements, the L1s hold %d stale entries", disagreed, stale)
	}
}

// Without losses, the observer reports nothing, and it checks the source
// when asked: a source that changed behind the cache's back (no write
// through the cache) is a disagreement with the source, not with L2.
func TestObserver_Source(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var version atomic.Int64
	load := loader.Func[int64, versioned](func(_ context.Context, k int64) (versioned, error) {
		return versioned{Key: k, Version: version.Load()}, nil
	})
	var counter stats.Counter
	logs := &logRecorder{}
	store := memstore.New(nil)
	t.Cleanup(func() { _ = store.Close() })
	c, err := tiered.New(&tiered.Options[int64, versioned]{
		Name: "obs", L2: store, Loader: load, Stats: &counter, TTL: time.Hour,
		Observer: &tiered.ObserverOptions{Sample: 1, Grace: time.Millisecond, Source: true},
		Logger:   slog.New(logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	for range 2 { // a load, then an L1 hit
		if _, err := c.Get(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	waitObserved(t, &counter)
	if n := counter.Snapshot().Get(stats.Disagreed); n != 0 {
		t.Fatalf("%d disagreements before the source changed", n)
	}
	version.Store(1) // behind the cache's back
	if _, err := c.Get(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitObserved(t, &counter)
	if n := counter.Snapshot().Get(stats.Disagreed); n != 1 {
		t.Fatalf("%d disagreements after the source changed, want 1", n)
	}
	if logs.find("source contradicts", "against=source", "age=", "key=1") == "" {
		t.Fatalf("no log line names the source, the key and the value's age: %q", logs.lines)
	}
}

// What New refuses in ObserverOptions.
func TestNewValidatesObserver(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]*tiered.ObserverOptions{
		"Sample above 1":     {Sample: 1.5},
		"negative Sample":    {Sample: -0.1},
		"negative Grace":     {Grace: -time.Second},
		"negative Queue":     {Queue: -1},
		"no L2 and no check": {},
	} {
		_, err := tiered.New(&tiered.Options[int64, versioned]{Name: "obs", Observer: o})
		if !errors.Is(err, tiered.ErrInvalidOptions) {
			t.Errorf("%s: %v, want ErrInvalidOptions", name, err)
		}
	}
}
