package tiered_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l1"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Benchmarks of invalidation on a real redis-server (`make
// bench-invalidation`): how long a Delete on one instance takes to evict the
// key from another's L1, how many deletes per second one instance
// publishes with batching on and off, and how long InvalidateTags takes
// over 100,000 keys on a 3+3 Cluster.

// evictionL1 is an L1 that reports when a key it watches is deleted.
type evictionL1 struct {
	l1.Store
	watch   atomic.Pointer[string]
	evicted chan time.Time
}

func (e *evictionL1) Delete(k string) {
	e.Store.Delete(k)
	if w := e.watch.Load(); w != nil && *w == k {
		e.evicted <- time.Now()
	}
}

// benchInstance is a cache with its own client, bus and L1.
func benchInstance(b *testing.B, client redis.UniversalClient, id string, store l1.Store, batch int) (*tiered.Cache[string, User], *stats.Counter) {
	b.Helper()
	bus, err := redisbus.New(client, &redisbus.Options{ID: id, MaxBatch: batch})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bus.Close() })
	st := &stats.Counter{}
	c, err := tiered.New(&tiered.Options[string, User]{
		Name: "inv", L1: store, L2: redisstore.New(client, nil), Bus: bus, Stats: st,
		Loader: loader.Func[string, User](func(context.Context, string) (User, error) { return user(1), nil }),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	waitFor(b, "the subscription", func() bool { return st.Snapshot().Get(stats.Subscribed) == 1 })
	return c, st
}

func newClient(b *testing.B, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr})
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// reportPercentiles reports the median and 99th percentile of ds.
func reportPercentiles(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	p := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) }
	b.ReportMetric(p(0.50), "p50-µs")
	b.ReportMetric(p(0.99), "p99-µs")
}

// BenchmarkInvalidation_Latency: from the start of a Delete on instance A
// to the eviction of the key from instance B's L1, one delete at a time
// (each op is one delete). The baselines do by hand on go-redis what a
// Delete does (UNLINK, then PUBLISH, until a subscriber of another client
// receives it), and the bare PUBLISH. Run with -benchtime=10000x.
func BenchmarkInvalidation_Latency(b *testing.B) {
	redistest.Require(b)
	srv := redistest.NewServer(b)
	ctx := context.Background()

	b.Run("tiercache", func(b *testing.B) {
		b.ReportAllocs()
		rist, err := l1.NewRistretto(l1.Options{})
		if err != nil {
			b.Fatal(err)
		}
		watched := &evictionL1{Store: rist, evicted: make(chan time.Time, 1)}
		a, _ := benchInstance(b, newClient(b, srv.Addr()), "a", nil, 0)
		bi, _ := benchInstance(b, newClient(b, srv.Addr()), "b", watched, 0)
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			b.StopTimer()
			k := "k" + strconv.Itoa(i)
			if _, err := bi.Get(ctx, k); err != nil { // into B's L1
				b.Fatal(err)
			}
			rist.Wait()
			watched.watch.Store(&k)
			b.StartTimer()
			start := time.Now()
			if err := a.Delete(ctx, k); err != nil {
				b.Fatal(err)
			}
			select {
			case at := <-watched.evicted:
				lat = append(lat, at.Sub(start))
			case <-time.After(10 * time.Second):
				b.Fatalf("key %s was not evicted from B's L1", k)
			}
		}
		b.StopTimer()
		reportPercentiles(b, lat)
	})

	// The baselines, by hand on go-redis: the same two round trips as a
	// Delete (remove the key, then publish it), and the bare transport.
	for _, raw := range []struct {
		name   string
		unlink bool
	}{{"raw-unlink+publish", true}, {"raw-publish", false}} {
		b.Run(raw.name, func(b *testing.B) {
			b.ReportAllocs()
			pub, sub := newClient(b, srv.Addr()), newClient(b, srv.Addr())
			ps := sub.Subscribe(ctx, "raw")
			b.Cleanup(func() { _ = ps.Close() })
			if _, err := ps.Receive(ctx); err != nil { // the confirmation
				b.Fatal(err)
			}
			ch := ps.Channel()
			payload := make([]byte, 48) // about the size of a one-key message
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				if raw.unlink {
					if err := pub.Unlink(ctx, "raw:"+strconv.Itoa(i)).Err(); err != nil {
						b.Fatal(err)
					}
				}
				if err := pub.Publish(ctx, "raw", payload).Err(); err != nil {
					b.Fatal(err)
				}
				select {
				case <-ch:
					lat = append(lat, time.Since(start))
				case <-time.After(10 * time.Second):
					b.Fatal("message lost")
				}
			}
			b.StopTimer()
			reportPercentiles(b, lat)
		})
	}
}

// BenchmarkInvalidation_DeleteThroughput: 64 goroutines of one instance
// delete distinct keys; each op is one Delete (L2 tombstone + publish).
// With batching the deletes that wait behind a PUBLISH share the next one;
// without (MaxBatch 1) every Delete waits for its own PUBLISH, one at a
// time. A second instance receives everything (its lag is reported).
func BenchmarkInvalidation_DeleteThroughput(b *testing.B) {
	redistest.Require(b)
	srv := redistest.NewServer(b)
	for _, tt := range []struct {
		name  string
		batch int
	}{{"batching", 0}, {"no-batching", 1}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			a, sa := benchInstance(b, newClient(b, srv.Addr()), "a-"+tt.name, nil, tt.batch)
			_, sb := benchInstance(b, newClient(b, srv.Addr()), "b-"+tt.name, nil, tt.batch)
			var next atomic.Int64
			b.SetParallelism(32) // x GOMAXPROCS goroutines
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := "d" + strconv.FormatInt(next.Add(1), 10)
					if err := a.Delete(ctx, k); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			elapsed := time.Since(start)
			waitFor(b, "B to receive every key", func() bool { return sb.Snapshot().Get(stats.ReceivedKeys) >= int64(b.N) })
			s := sb.Snapshot()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deletes/s")
			b.ReportMetric(float64(b.N)/float64(max(s.Get(stats.Received), 1)), "keys/msg")
			_ = sa
		})
	}
}

// BenchmarkInvalidateTags_100k: 100,000 keys tagged "bench" on a 3+3
// Cluster, read into the L1 of 4 instances; one op is InvalidateTags on
// instance 0 until every other instance received every key. Afterwards no
// key has a value in L2 or sits in any L1. Run with -benchtime=1x.
func BenchmarkInvalidateTags_100k(b *testing.B) {
	redistest.Require(b)
	cl := redistest.NewCluster(b)
	const n, instances = 100_000, 4
	ctx := context.Background()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "t" + strconv.Itoa(i)
	}
	type inst struct {
		cache *tiered.Cache[string, User]
		l1    *l1.Ristretto
		stats *stats.Counter
	}
	var ins []inst
	var clients []*redis.ClusterClient
	for i := range instances {
		client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
		b.Cleanup(func() { _ = client.Close() })
		clients = append(clients, client)
		rist, err := l1.NewRistretto(l1.Options{MaxCost: 512 << 20})
		if err != nil {
			b.Fatal(err)
		}
		bus, err := redisbus.New(client, &redisbus.Options{ID: fmt.Sprint("tags-", i)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = bus.Close() })
		st := &stats.Counter{}
		c, err := tiered.New(&tiered.Options[string, User]{
			Name: "tags", L1: rist, L2: redisstore.New(client, nil), Bus: bus, Stats: st,
			Tags: func(string, User) []string { return []string{"bench"} },
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		waitFor(b, "the subscription", func() bool { return st.Snapshot().Get(stats.Subscribed) == 1 })
		ins = append(ins, inst{c, rist, st})
	}
	value := user(1)
	var total time.Duration
	for range b.N {
		b.StopTimer()
		// Write the keys (tagged by Options.Tags) and read them into
		// every L1.
		for lo := 0; lo < n; lo += 1000 {
			batch := make(map[string]User, 1000)
			for _, k := range keys[lo : lo+1000] {
				batch[k] = value
			}
			if err := ins[0].cache.SetMany(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for _, in := range ins {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for lo := 0; lo < n; lo += 1000 {
					got, err := in.cache.GetMany(ctx, keys[lo:lo+1000])
					if err != nil || len(got) != 1000 {
						b.Errorf("GetMany: %d values, %v", len(got), err)
						return
					}
				}
				in.l1.Wait()
			}()
		}
		wg.Wait()
		inL1 := make([]int, instances)
		for i, in := range ins {
			for _, k := range keys {
				if _, ok := in.l1.Get(k); ok {
					inL1[i]++
				}
			}
		}
		before := make([]int64, instances)
		for i, in := range ins {
			before[i] = in.stats.Snapshot().Get(stats.ReceivedKeys)
		}
		b.StartTimer()
		start := time.Now()
		if err := ins[0].cache.InvalidateTags(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
		for i, in := range ins[1:] {
			waitFor(b, "every key to reach every instance", func() bool {
				return in.stats.Snapshot().Get(stats.ReceivedKeys)-before[i+1] >= n
			})
		}
		elapsed := time.Since(start)
		total += elapsed
		b.StopTimer()

		// Verify: no value in L2, nothing in any L1.
		store := redisstore.New(clients[0], nil).Namespace("tags")
		left := 0
		for lo := 0; lo < n; lo += 1000 {
			vals, err := store.GetMany(ctx, keys[lo:lo+1000])
			if err != nil {
				b.Fatal(err)
			}
			for _, v := range vals {
				if v != nil && !isTombstone(v) {
					left++
				}
			}
		}
		for i, in := range ins {
			for _, k := range keys {
				if _, ok := in.l1.Get(k); ok {
					b.Fatalf("instance %d still holds %s in L1", i, k)
				}
			}
		}
		if left > 0 {
			b.Fatalf("%d keys still hold a value in L2", left)
		}
		b.Logf("%d keys (in L1 before: %v): gone from L2 and every L1 in %v", n, inL1, elapsed)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/invalidation")
	b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "keys/s")
}
