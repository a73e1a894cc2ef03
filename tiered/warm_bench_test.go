package tiered_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"
	"golang.org/x/sync/errgroup"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/tiered"
)

// benchDB is a BatchLoader that stands for a database: each call takes
// 1 ms plus 2 µs per key (on a timer: it waits, it does not spin), and
// counts its calls and keys.
type benchDB struct{ calls, keys atomic.Int64 }

func (d *benchDB) LoadMany(ctx context.Context, ids []int64) (map[int64]User, error) {
	d.calls.Add(1)
	d.keys.Add(int64(len(ids)))
	t := time.NewTimer(time.Millisecond + time.Duration(len(ids))*2*time.Microsecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	out := make(map[int64]User, len(ids))
	for _, id := range ids {
		out[id] = user(id)
	}
	return out, nil
}

// BenchmarkCache_Warm warms 100,000 keys with the default WarmOptions, on
// a real redis-server with TIERCACHE_INTEGRATION=1 and on miniredis
// otherwise, flushed before each iteration: cold, a new cache loads them
// all from the database; from_l2, after one cache warmed them (outside the
// timer), a second, new cache reads them all from L2.
func BenchmarkCache_Warm(b *testing.B) {
	const n = 100_000
	addr, flush := benchRedis(b)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	b.Cleanup(func() { _ = rdb.Close() })
	store := redisstore.New(rdb, nil)
	newCache := func(db *benchDB) *tiered.Cache[int64, User] {
		c, err := tiered.New(&tiered.Options[int64, User]{Name: "warm", L2: store, BatchLoader: db})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	warm := func(c *tiered.Cache[int64, User]) tiered.WarmProgress {
		p, err := c.Warm(ctx, warmIDs(n), nil)
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	report := func(b *testing.B, calls int64) {
		b.ReportMetric(float64(calls)/float64(b.N), "source-calls/op")
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "keys/s")
	}

	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		var calls int64
		for b.Loop() {
			b.StopTimer()
			flush()
			db := &benchDB{}
			c := newCache(db)
			b.StartTimer()
			p := warm(c)
			b.StopTimer()
			if p.Loaded != n || p.SourceCalls != int(db.calls.Load()) {
				b.Fatalf("cold: %+v, %d database calls", p, db.calls.Load())
			}
			calls += db.calls.Load()
			_ = c.Close()
			b.StartTimer()
		}
		report(b, calls)
	})
	b.Run("from_l2", func(b *testing.B) {
		b.ReportAllocs()
		var calls int64
		for b.Loop() {
			b.StopTimer()
			flush()
			first := newCache(&benchDB{})
			warm(first)
			_ = first.Close()
			db := &benchDB{}
			c := newCache(db)
			b.StartTimer()
			p := warm(c)
			b.StopTimer()
			if p.FromL2 != n || p.SourceCalls != 0 || db.calls.Load() != 0 {
				b.Fatalf("from L2: %+v, %d database calls", p, db.calls.Load())
			}
			calls += db.calls.Load()
			_ = c.Close()
			b.StartTimer()
		}
		report(b, calls)
	})
	// The baselines, written by hand as a service would without Warm: the
	// same batches (500 keys, 4 at a time), the same database, msgpack
	// values under keys of their own, a ristretto for L1. cold: the
	// database, then a pipeline of SETs; from_l2: an MGET per batch.
	hand := func(b *testing.B, db *benchDB, fromL2 bool) {
		l1, err := ristretto.NewCache(&ristretto.Config[int64, User]{
			NumCounters: 10 * n, MaxCost: 64 << 20, BufferItems: 64, IgnoreInternalCost: true,
		})
		if err != nil {
			b.Fatal(err)
		}
		defer l1.Close()
		var g errgroup.Group
		g.SetLimit(tiered.DefaultWarmConcurrency)
		for lo := int64(0); lo < n; lo += tiered.DefaultWarmBatchSize {
			g.Go(func() error {
				ids := make([]int64, 0, tiered.DefaultWarmBatchSize)
				keys := make([]string, 0, tiered.DefaultWarmBatchSize)
				for id := lo; id < min(lo+tiered.DefaultWarmBatchSize, n); id++ {
					ids = append(ids, id)
					keys = append(keys, "hand:"+strconv.FormatInt(id, 10))
				}
				if fromL2 {
					vals, err := rdb.MGet(ctx, keys...).Result()
					if err != nil {
						return err
					}
					for i, v := range vals {
						var u User
						if s, ok := v.(string); !ok || msgpack.Unmarshal([]byte(s), &u) != nil {
							return fmt.Errorf("key %s: %v", keys[i], v)
						}
						l1.SetWithTTL(ids[i], u, 200, time.Hour)
					}
					return nil
				}
				users, err := db.LoadMany(ctx, ids)
				if err != nil {
					return err
				}
				pipe := rdb.Pipeline()
				for i, id := range ids {
					u := users[id]
					v, err := msgpack.Marshal(&u)
					if err != nil {
						return err
					}
					pipe.Set(ctx, keys[i], v, time.Hour)
					l1.SetWithTTL(id, u, 200, time.Hour)
				}
				_, err = pipe.Exec(ctx)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("cold/by-hand", func(b *testing.B) {
		b.ReportAllocs()
		var calls int64
		for b.Loop() {
			b.StopTimer()
			flush()
			db := &benchDB{}
			b.StartTimer()
			hand(b, db, false)
			calls += db.calls.Load()
		}
		report(b, calls)
	})
	b.Run("from_l2/by-hand", func(b *testing.B) {
		b.ReportAllocs()
		var calls int64
		for b.Loop() {
			b.StopTimer()
			flush()
			hand(b, &benchDB{}, false)
			db := &benchDB{}
			b.StartTimer()
			hand(b, db, true)
			calls += db.calls.Load()
		}
		report(b, calls)
	})
}

// benchRedis returns the address of a real redis-server (with
// TIERCACHE_INTEGRATION=1) or of a miniredis, and a function that empties
// it.
func benchRedis(b *testing.B) (addr string, flush func()) {
	if !redistest.Enabled() {
		m := miniredis.RunT(b)
		return m.Addr(), m.FlushAll
	}
	srv := redistest.NewServer(b)
	admin := redis.NewClient(redistest.AdminOptions(srv.Addr())) // FLUSHDB is not the cache user's
	b.Cleanup(func() { _ = admin.Close() })
	return srv.Addr(), func() {
		if err := admin.FlushDB(context.Background()).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
