package tiered_test

import (
	"context"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// TestHostile_OverloadFull replays the burst of issue 12, item 9, with the
// default options: 100,000 distinct cold keys at once on one instance, a
// 500 ms loader, go-redis's default pool. It takes 20-30 s, so it runs
// only when TIERCACHE_OVERLOAD is set (MaxLoads from TIERCACHE_MAXLOADS,
// default DefaultMaxLoads); TestHostile_Overload is its small version:
//
//	TIERCACHE_INTEGRATION=1 TIERCACHE_OVERLOAD=1 go test -run OverloadFull -v ./tiered
func TestHostile_OverloadFull(t *testing.T) {
	if os.Getenv("TIERCACHE_OVERLOAD") == "" || !redistest.Enabled() {
		t.Skip("set TIERCACHE_OVERLOAD=1 (and TIERCACHE_INTEGRATION=1)")
	}
	maxLoads, _ := strconv.Atoi(os.Getenv("TIERCACHE_MAXLOADS"))
	srv := redistest.NewServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	admin := redis.NewClient(redistest.AdminOptions(srv.Addr()))
	t.Cleanup(func() { _ = admin.Close() })
	st := &stats.Counter{}
	c, err := tiered.New(&tiered.Options[int64, int64]{
		Name: "burst", L2: redisstore.New(rdb, nil), Stats: st, MaxLoads: maxLoads,
		Loader: slowIdentity(500 * time.Millisecond),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	const n = 100_000
	var ok atomic.Int64
	var mu sync.Mutex
	failed := map[string]int{}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := c.Get(context.Background(), int64(i)); err == nil && v == int64(i) {
				ok.Add(1)
			} else {
				mu.Lock()
				failed[errString(err)]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	stored, _ := admin.DBSize(context.Background()).Result()
	t.Logf("%d keys at once in %v: %d served, %d values in L2, L2 errors %d", n, time.Since(start).Round(time.Millisecond),
		ok.Load(), stored, st.Snapshot().Get(stats.L2Error))
	for e, k := range failed {
		t.Logf("%6d failed: %s", k, e)
	}
	if stored < ok.Load() {
		t.Errorf("%d values in L2 for %d loads served", stored, ok.Load())
	}
}
