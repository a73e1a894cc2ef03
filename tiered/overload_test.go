package tiered_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Item 9: a burst of distinct cold keys larger than L2 and the loader can
// serve in time degrades gracefully. The loads run at most MaxLoads at a
// time, the L2 calls at most MaxL2Calls (loads' and writes' first), so
// every caller either gets its value or ErrOverloaded, the breaker never
// opens, and every value loaded is stored in L2. Before, the callers'
// reads, leases and stores raced for the client's pool: they timed out
// there, the breaker opened, and almost nothing loaded reached L2.
func TestHostile_Overload(t *testing.T) {
	if testing.Short() || !redistest.Enabled() {
		t.Skip("needs redis-server")
	}
	srv := redistest.NewServer(t)
	// A small pool stands for a saturated one: 20,000 keys need about
	// 60,000 round trips, more than 4 connections carry within LoadTimeout.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 4})
	t.Cleanup(func() { _ = rdb.Close() })
	admin := redis.NewClient(redistest.AdminOptions(srv.Addr()))
	t.Cleanup(func() { _ = admin.Close() })

	st := &stats.Counter{}
	c, err := tiered.New(&tiered.Options[int64, int64]{
		Name: "burst", L2: redisstore.New(rdb, nil), Stats: st,
		// 2 s: a load takes its lease, 100 ms of loader and its store;
		// under -race beside other test packages on two cores, a few loads
		// took more than 1 s, so that their callers got LoadTimeout's
		// error (and their values were not stored) rather than a value
		// or ErrOverloaded.
		LoadTimeout: 2 * time.Second, MaxLoads: 200, MaxL2Calls: 4,
		Loader: slowIdentity(100 * time.Millisecond),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })

	const n = 20_000
	var ok, overloaded atomic.Int64
	var mu sync.Mutex
	other := map[string]int{}
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.Get(context.Background(), int64(i))
			switch {
			case err == nil && v == int64(i):
				ok.Add(1)
			case errors.Is(err, tiered.ErrOverloaded):
				overloaded.Add(1)
			default:
				mu.Lock()
				other[errString(err)]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	stored, err := admin.DBSize(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	snap := st.Snapshot()
	t.Logf("%d keys at once in %v: %d served, %d ErrOverloaded, %d other errors; %d values in L2; L2 errors %d, reads skipped %d",
		n, time.Since(start).Round(time.Millisecond), ok.Load(), overloaded.Load(), n-ok.Load()-overloaded.Load(),
		stored, snap.Get(stats.L2Error), snap.Get(stats.L2Skipped))
	for e, k := range other {
		t.Errorf("%d callers failed with %s", k, e)
	}
	if ok.Load() == 0 {
		t.Error("no caller was served")
	}
	if stored < ok.Load() {
		t.Errorf("%d values in L2 for %d loads served: loaded values were lost", stored, ok.Load())
	}
	if e := snap.Get(stats.L2Error); e != 0 {
		t.Errorf("%d L2 errors: the burst was held against L2", e)
	}
}

// slowIdentity is a loader that returns its key after d, or its
// context's error if that ends first.
func slowIdentity(d time.Duration) loader.Func[int64, int64] {
	return func(ctx context.Context, k int64) (int64, error) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return k, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "a wrong value"
	}
	s := err.Error()
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

// capacityStore is an in-memory store that says it serves capacity calls
// at once (l2.Capacity); its Gets block until release is closed, and it
// notes how many were inside at once.
type capacityStore struct {
	l2.Store       // only the methods of l2.Store: no optional ability
	capacity       int
	release        chan struct{}
	inside, mostIn atomic.Int64
}

func (s *capacityStore) Capacity() int { return s.capacity }

func (s *capacityStore) Abilities() l2.Ability { return 0 }

func (s *capacityStore) Get(ctx context.Context, key string) ([]byte, error) {
	n := s.inside.Add(1)
	defer s.inside.Add(-1)
	for {
		m := s.mostIn.Load()
		if n <= m || s.mostIn.CompareAndSwap(m, n) {
			break
		}
	}
	<-s.release
	return s.Store.Get(ctx, key)
}

// Without Options.MaxL2Calls, a cache bounds its L2 calls in flight by
// what the store says it serves at once (l2.Capacity): with a capacity of
// 2 and 4 reads of distinct keys, 2 reach the store and 2 wait at the
// cache's gate until L2Timeout, then go on without L2.
func TestMaxL2CallsFromCapacity(t *testing.T) {
	t.Parallel()
	mem := memstore.New(nil)
	t.Cleanup(func() { _ = mem.Close() })
	store := &capacityStore{Store: mem, capacity: 2, release: make(chan struct{})}
	st := &stats.Counter{}
	c, err := tiered.New(&tiered.Options[int64, int64]{
		Name: "capacity", L2: store, Stats: st, L2Timeout: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	var wg sync.WaitGroup
	for i := range int64(4) {
		wg.Go(func() { _, _ = c.Get(context.Background(), i) })
	}
	waitFor(t, "2 reads to give up on L2", func() bool { return st.Snapshot().Get(stats.L2Skipped) == 2 })
	close(store.release)
	wg.Wait()
	if got := store.mostIn.Load(); got != 2 {
		t.Errorf("%d Gets inside the store at once, want 2 (its Capacity)", got)
	}
}
