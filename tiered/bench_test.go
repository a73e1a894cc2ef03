package tiered_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/maypok86/otter/v2"
	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/l1"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/internal/envelope"
)

// Benchmarks of the foundation, each beside the baseline it must keep up
// with, in the same run: `make bench`. Each pair shares a parent name; the
// sub-benchmark "tiercache" is ours, the other the baseline.

const benchKeys = 1024

func benchKey(i int) string { return "u" + strconv.Itoa(i) }

// noL1 is an L1 that holds nothing, so that every Get reaches L2.
type noL1 struct{}

func (noL1) Get(string) (any, bool)                     { return nil, false }
func (noL1) Set(string, any, int64, time.Duration) bool { return false }
func (noL1) Wait()                                      {}
func (noL1) Delete(string)                              {}
func (noL1) Clear()                                     {}
func (noL1) Close()                                     {}

func newBenchCache(b *testing.B, store l2.Store, l1Off bool) *tiered.Cache[string, User] {
	b.Helper()
	var l1s l1.Store
	if l1Off {
		l1s = noL1{}
	}
	return newBenchCacheL1(b, store, l1s)
}

// newBenchCacheL1 is newBenchCache with the given L1 (nil: the default).
func newBenchCacheL1(b *testing.B, store l2.Store, l1s l1.Store) *tiered.Cache[string, User] {
	b.Helper()
	opts := &tiered.Options[string, User]{Name: "bench", L2: store, TTL: time.Hour, L1TTL: time.Hour, L1: l1s}
	c, err := tiered.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	for i := range benchKeys {
		if err := c.Set(ctx, benchKey(i), user(int64(i))); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// BenchmarkGet_L1Hit: a Get served by L1, over each L1 backend, against a
// raw Get of the same values from ristretto and from otter.
func BenchmarkGet_L1Hit(b *testing.B) {
	ctx := context.Background()
	rawR, err := ristretto.NewCache(&ristretto.Config[string, User]{
		NumCounters: 1e6, MaxCost: 64 << 20, BufferItems: 64, IgnoreInternalCost: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer rawR.Close()
	rawO, err := otter.New(&otter.Options[string, User]{
		MaximumWeight:    64 << 20,
		Weigher:          func(string, User) uint32 { return 200 },
		ExpiryCalculator: otter.ExpiryWriting[string, User](time.Hour),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer rawO.StopAllGoroutines()
	// otter without weights nor expiry: its fastest Get.
	plainO, err := otter.New(&otter.Options[string, User]{MaximumSize: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer plainO.StopAllGoroutines()
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = benchKey(i)
		// With a TTL, as the cache's L1 entries have one (ristretto
		// reads the clock on every Get of an entry with a TTL).
		rawR.SetWithTTL(keys[i], user(int64(i)), 200, time.Hour)
		rawO.Set(keys[i], user(int64(i)))
		plainO.Set(keys[i], user(int64(i)))
	}
	rawR.Wait()
	ris, err := l1.NewRistretto(l1.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ott, err := l1.NewOtter(l1.Options{})
	if err != nil {
		b.Fatal(err)
	}
	gets := []struct {
		name string
		get  func(string) User
	}{
		{"tiercache-ristretto", cacheGet(newBenchCacheL1(b, memstore.New(nil), ris))},
		{"tiercache-otter", cacheGet(newBenchCacheL1(b, memstore.New(nil), ott))},
		// Values that a loader loaded: each hit reads the clock to draw
		// an early refresh (XFetch), which values written by Set never
		// get.
		{"tiercache-loaded", cacheGet(newLoadedBenchCache(b))},
		{"ristretto", func(k string) User { v, _ := rawR.Get(k); return v }},
		{"otter", func(k string) User { v, _ := rawO.GetIfPresent(k); return v }},
		{"otter-no-ttl", func(k string) User { v, _ := plainO.GetIfPresent(k); return v }},
	}
	var sink User
	for _, g := range gets {
		b.Run(g.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				sink = g.get(keys[i%benchKeys])
			}
		})
	}
	for _, g := range gets {
		b.Run(g.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					_ = g.get(keys[i%benchKeys])
				}
			})
		})
	}
	_ = sink
	_ = ctx
}

// cacheGet returns c's Get as a function of the key alone.
func cacheGet(c *tiered.Cache[string, User]) func(string) User {
	ctx := context.Background()
	return func(k string) User {
		v, _ := c.Get(ctx, k)
		return v
	}
}

// newLoadedBenchCache returns an L1-only cache whose benchKeys values were
// loaded by its loader (so they carry a load time) and sit in L1.
func newLoadedBenchCache(b *testing.B) *tiered.Cache[string, User] {
	b.Helper()
	c, err := tiered.New(&tiered.Options[string, User]{
		Name: "bench", TTL: time.Hour, L1TTL: time.Hour,
		Loader: loader.Func[string, User](func(_ context.Context, k string) (User, error) {
			time.Sleep(time.Microsecond) // a load time above the clock's resolution
			id, _ := strconv.Atoi(k[1:])
			return user(int64(id)), nil
		}),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	for range 2 { // the first round loads, the second finds every value in L1
		for i := range benchKeys {
			if _, err := c.Get(ctx, benchKey(i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	return c
}

// BenchmarkGet_L2HitMemory: a Get served by an in-memory L2 (L1 off)
// against envelope decoding + msgpack decoding of the same bytes alone: our
// own CPU cost on the L2 path, without the network.
func BenchmarkGet_L2HitMemory(b *testing.B) {
	ctx := context.Background()
	store := memstore.New(nil)
	c := newBenchCache(b, store, true)
	frames := make([][]byte, benchKeys)
	keys := make([]string, benchKeys)
	for i := range frames {
		keys[i] = benchKey(i)
		f, err := store.Get(ctx, "bench:"+keys[i])
		if err != nil {
			b.Fatal(err)
		}
		frames[i] = f
	}
	b.Run("tiercache", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := c.Get(ctx, keys[i%benchKeys]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("envelope+msgpack", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_, payload, err := envelope.Decode(frames[i%benchKeys])
			if err != nil {
				b.Fatal(err)
			}
			var u User
			if err := msgpack.Unmarshal(payload, &u); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// redisBench starts one real redis-server for a benchmark.
func redisBench(b *testing.B) *redis.Client {
	b.Helper()
	srv := redistest.NewServer(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	b.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// seedRaw writes n users with plain msgpack under "raw:<key>", for the
// go-redis baselines, and returns the cache keys and the raw keys.
func seedRaw(b *testing.B, rdb *redis.Client, n int) (keys, rawKeys []string) {
	b.Helper()
	keys, rawKeys = make([]string, n), make([]string, n)
	for i := range n {
		keys[i] = benchKey(i)
		rawKeys[i] = "raw:" + keys[i]
		v, err := msgpack.Marshal(user(int64(i)))
		if err != nil {
			b.Fatal(err)
		}
		if err := rdb.Set(context.Background(), rawKeys[i], v, time.Hour).Err(); err != nil {
			b.Fatal(err)
		}
	}
	return keys, rawKeys
}

// BenchmarkGet_L2HitRedis: a Get served by a real redis-server (L1 off)
// against a raw go-redis GET + msgpack decode of the same value.
func BenchmarkGet_L2HitRedis(b *testing.B) {
	rdb := redisBench(b)
	ctx := context.Background()
	c := newBenchCache(b, redisstore.New(rdb, nil), true)
	keys, rawKeys := seedRaw(b, rdb, benchKeys)
	b.Run("tiercache", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := c.Get(ctx, keys[i%benchKeys]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-redis+msgpack", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			v, err := rdb.Get(ctx, rawKeys[i%benchKeys]).Bytes()
			if err != nil {
				b.Fatal(err)
			}
			var u User
			if err := msgpack.Unmarshal(v, &u); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGetMany_100: GetMany of 100 keys from a real redis-server (L1
// off) against one raw MGET of 100 keys + msgpack decode of each.
func BenchmarkGetMany_100(b *testing.B) {
	rdb := redisBench(b)
	ctx := context.Background()
	c := newBenchCache(b, redisstore.New(rdb, nil), true)
	const n = 100
	keys, rawKeys := seedRaw(b, rdb, n)
	b.Run("tiercache", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m, err := c.GetMany(ctx, keys)
			if err != nil || len(m) != n {
				b.Fatalf("GetMany: %d values, %v", len(m), err)
			}
		}
	})
	b.Run("go-redis-mget+msgpack", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			vals, err := rdb.MGet(ctx, rawKeys...).Result()
			if err != nil {
				b.Fatal(err)
			}
			out := make(map[string]User, n)
			for i, v := range vals {
				s, ok := v.(string)
				if !ok {
					b.Fatalf("MGET slot %d: %T", i, v)
				}
				var u User
				if err := msgpack.Unmarshal([]byte(s), &u); err != nil {
					b.Fatal(err)
				}
				out[keys[i]] = u
			}
		}
	})
}
