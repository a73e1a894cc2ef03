package tiered_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// redisBehindInstances returns n instances of the cache "wb" on the Redis
// newClient connects to, each with its own client, bus and durable queue,
// writing behind to src; opt changes each one's options.
func redisBehindInstances(t *testing.T, n int, newClient func(*testing.T) redis.UniversalClient, src *rowSource, opt func(int, *tiered.Options[int64, User])) []*instance {
	t.Helper()
	var out []*instance
	for i := range n {
		client := newClient(t)
		bus, err := redisbus.New(client, &redisbus.Options{Keys: testBusKeys, ID: fmt.Sprint("instance-", i)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bus.Close() })
		queue, err := redisstore.NewQueue(client, &redisstore.QueueOptions{Namespace: "wb", Consumer: fmt.Sprint("instance-", i), ClaimAfter: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		in := &instance{l1: &recordingL1{}, stats: &stats.Counter{}, loader: &countingLoader{}}
		opts := &tiered.Options[int64, User]{
			Name: "wb", L1: in.l1, L2: redisstore.New(client, nil), Bus: bus, Loader: src, BatchWriter: src, Stats: in.stats,
			WriteBehind: &tiered.WriteBehindOptions[int64, User]{Queue: queue, Interval: time.Hour, RetryBackoff: time.Millisecond},
		}
		if opt != nil {
			opt(i, opts)
		}
		if in.cache, err = tiered.New(opts); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = in.cache.Close() })
		out = append(out, in)
	}
	for _, in := range out {
		waitFor(t, "the subscriptions", func() bool { return in.stats.Snapshot().Get(stats.Subscribed) == 1 })
	}
	return out
}

// Acceptance: keys whose writes are queued are deleted from Redis by hand,
// as maxmemory would evict them: every instance's Get returns the queued
// value, and the loader is not called. One node and Cluster.
func TestWriteBehind_Redis_QueuedValueDeletedByHand(t *testing.T) {
	redistest.Require(t)
	const keys = 100
	for _, target := range redisTargets(t) {
		t.Run(target.name, func(t *testing.T) {
			ctx := context.Background()
			src := newRowSource()
			for id := range int64(keys) {
				src.rows[id] = ver(id, 0)
			}
			in := redisBehindInstances(t, 3, target.client, src, func(_ int, o *tiered.Options[int64, User]) {
				o.WriteBehind.BatchSize = 2 * keys // no full batch: the flusher waits for FlushBehind
			})
			for id := range int64(keys) {
				in[1].get(t, id) // instance 1 holds the old rows in L1
			}
			for id := range int64(keys) {
				if err := in[0].cache.WriteBehind(ctx, id, ver(id, 1)); err != nil {
					t.Fatal(err)
				}
			}
			admin := target.admin(t)
			deleted := 0
			for id := range int64(keys) {
				n, err := admin.Del(ctx, fmt.Sprintf("{tc:wb:%d}", id)).Result()
				if err != nil {
					t.Fatal(err)
				}
				deleted += int(n)
			}
			if deleted != keys {
				t.Fatalf("deleted %d value keys by hand, want %d", deleted, keys)
			}
			if n := src.batches.Load(); n != 0 {
				t.Fatalf("the flusher wrote %d batches before the check", n)
			}
			loadsBefore := src.loads.Load()
			wrong := 0
			for i, x := range in {
				for id := range int64(keys) {
					u, err := x.cache.Get(ctx, id)
					if err != nil || u.Age != 1 {
						wrong++
						t.Errorf("instance %d, key %d: Get = version %d, %v; want the queued 1", i, id, u.Age, err)
					}
				}
			}
			loads := src.loads.Load() - loadsBefore
			if loads != 0 {
				t.Errorf("the loader was called %d times for keys whose writes are queued", loads)
				for i, x := range in {
					s := x.stats.Snapshot()
					t.Logf("instance %d: loads %d, leases granted %d waited %d, L2 hits %d misses %d, L1 hits %d", i, s.Loads(), s.Get(stats.LeaseGranted), s.Get(stats.LeaseWaited), s.Get(stats.L2Hit), s.Get(stats.L2Miss), s.Get(stats.L1Hit))
				}
			}
			restored := 0
			for id := range int64(keys) {
				if n, _ := admin.Exists(ctx, fmt.Sprintf("{tc:wb:%d}", id)).Result(); n == 1 {
					restored++
				}
			}
			t.Logf("%d queued values deleted by hand; %d Gets over 3 instances: %d wrong, %d loads; %d value keys back in Redis", keys, 3*keys, wrong, loads, restored)
			if err := in[0].cache.FlushBehind(ctx); err != nil {
				t.Fatal(err)
			}
			for id := range int64(keys) {
				if u, _ := src.row(id); u.Age != 1 {
					t.Fatalf("key %d: the source has version %d after the flush", id, u.Age)
				}
			}
		})
	}
}

// Acceptance: a source that fails 30% of batch writes, on real Redis with
// the Streams queue: every accepted write ends in the source or in the
// dead-letter hook, counted exactly; per key no older value overwrites a
// newer one.
func TestWriteBehind_Redis_FlakySource(t *testing.T) {
	redistest.Require(t)
	for _, target := range redisTargets(t) {
		t.Run(target.name, func(t *testing.T) {
			behindFlakyRun(t, func(src *rowSource, opt func(int, *tiered.Options[int64, User])) []*instance {
				return redisBehindInstances(t, 2, target.client, src, opt)
			}, 64, 1500)
		})
	}
}
