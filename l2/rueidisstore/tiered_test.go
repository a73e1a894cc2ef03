package rueidisstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/l2/rueidisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// A cache over rueidisstore and a cache over redisstore share a namespace
// on one redis-server: the keys, values and leases are the same. Of
// goroutines of both that miss a cold key at once, one loads it; each
// reads the other's values; a miss over rueidisstore costs two L2 calls.
func TestTiered_SharesKeysWithRedisstore(t *testing.T) {
	srv, rdb := newServer(t)
	var loads atomic.Int64
	load := loader.Func[string, string](func(ctx context.Context, k string) (string, error) {
		loads.Add(1)
		time.Sleep(20 * time.Millisecond) // a slow source, so that callers overlap; one that comes after the load reads L2, and the count holds either way
		return "v:" + k, nil
	})
	rec := &stats.Counter{}
	newCache := func(store l2.Store, st stats.Recorder) *tiered.Cache[string, string] {
		c, err := tiered.New(&tiered.Options[string, string]{Name: "shared", L2: store, Loader: load, Stats: st, TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	viaRueidis := newCache(rueidisstore.New(newClient(t, srv.Addr()), nil), rec)
	viaGoRedis := newCache(redisstore.New(rdb, nil), nil)
	ctx := context.Background()

	var wg sync.WaitGroup
	for g := range 16 {
		c := viaRueidis
		if g%2 == 1 {
			c = viaGoRedis
		}
		wg.Go(func() {
			if v, err := c.Get(ctx, "cold"); err != nil || v != "v:cold" {
				t.Errorf("Get(cold) = %q, %v", v, err)
			}
		})
	}
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Errorf("16 goroutines of two caches on two stores: %d loads, want 1", n)
	}

	before := rec.Snapshot()
	if v, err := viaRueidis.Get(ctx, "fresh"); err != nil || v != "v:fresh" {
		t.Fatalf("Get(fresh) = %q, %v", v, err)
	}
	after := rec.Snapshot()
	calls := func(op stats.Op) int64 { return after.L2Calls(op, stats.OK) - before.L2Calls(op, stats.OK) }
	if calls(stats.OpGet) != 1 || calls(stats.OpSetLeased) != 1 || calls(stats.OpLease) != 0 {
		t.Errorf("a miss over rueidisstore: %d gets, %d set_leased, %d leases; want 1, 1, 0",
			calls(stats.OpGet), calls(stats.OpSetLeased), calls(stats.OpLease))
	}
	loads.Store(0)
	if v, err := viaGoRedis.Get(ctx, "fresh"); err != nil || v != "v:fresh" || loads.Load() != 0 {
		t.Errorf("Get(fresh) over redisstore after rueidisstore stored it = %q, %v, %d loads; want it from L2", v, err, loads.Load())
	}
	if err := viaGoRedis.Set(ctx, "written", "w"); err != nil {
		t.Fatal(err)
	}
	if v, err := viaRueidis.Get(ctx, "written"); err != nil || v != "w" || loads.Load() != 0 {
		t.Errorf("Get(written) over rueidisstore = %q, %v, %d loads; want redisstore's value", v, err, loads.Load())
	}
}

// Tag indexes and prefix deletes are shared too: of a cache over
// rueidisstore and a cache over redisstore in one namespace, each one's
// InvalidateTags and InvalidatePrefix remove from L2 the values that the
// other loaded and tagged, so that the next Get loads them again.
func TestTiered_TagsAndPrefixesWithRedisstore(t *testing.T) {
	srv, rdb := newServer(t)
	var loads atomic.Int64
	load := loader.Func[string, string](func(ctx context.Context, k string) (string, error) {
		loads.Add(1)
		return "v:" + k, nil
	})
	newCache := func(store l2.Store) *tiered.Cache[string, string] {
		c, err := tiered.New(&tiered.Options[string, string]{
			Name: "shared", L2: store, Loader: load, TTL: time.Minute,
			Tags: func(k, _ string) []string { return []string{strings.SplitN(k, ":", 2)[0]} }, // "t0:x" is tagged "t0"
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	viaRueidis := newCache(rueidisstore.New(newClient(t, srv.Addr()), nil))
	viaGoRedis := newCache(redisstore.New(rdb, nil))
	ctx := t.Context()

	get := func(t *testing.T, c *tiered.Cache[string, string], key string, wantLoads int64) {
		t.Helper()
		loads.Store(0)
		if v, err := c.Get(ctx, key); err != nil || v != "v:"+key || loads.Load() != wantLoads {
			t.Errorf("Get(%s) = %q, %v, %d loads; want %d", key, v, err, loads.Load(), wantLoads)
		}
	}
	for i, c := range []struct {
		name          string
		loader, other *tiered.Cache[string, string]
	}{
		{"rueidisstore loads, redisstore invalidates", viaRueidis, viaGoRedis},
		{"redisstore loads, rueidisstore invalidates", viaGoRedis, viaRueidis},
	} {
		t.Run(c.name, func(t *testing.T) {
			tag, prefix := fmt.Sprint("t", i), fmt.Sprint("p", i, ":")
			tagged, prefixed := tag+":x", prefix+"x"
			for _, k := range []string{tagged, prefixed} {
				get(t, c.loader, k, 1)
				get(t, c.other, k, 0) // from L2
			}
			if err := c.other.InvalidateTags(ctx, tag); err != nil {
				t.Fatal(err)
			}
			get(t, c.other, tagged, 1)
			get(t, c.other, prefixed, 0) // another tag
			if err := c.other.InvalidatePrefix(ctx, prefix); err != nil {
				t.Fatal(err)
			}
			get(t, c.other, prefixed, 1)
		})
	}
}

// Durable write-behind over rueidisstore: the queued values live in the
// store (l2.Stager), the queue of writes is l2/redisstore's (Redis
// Streams, on a go-redis client). Of two instances of one cache, one over
// rueidisstore and one over redisstore, each with its queue reader, the
// second serves a value that the first wrote behind, even after its value
// key was deleted by hand (the queued value stands in, and no load
// happens); the flush writes it to the source and leaves only its number.
func TestTiered_DurableWriteBehindWithRedisstoreQueue(t *testing.T) {
	srv, rdb := newServer(t)
	var loads atomic.Int64
	load := loader.Func[string, string](func(ctx context.Context, k string) (string, error) {
		loads.Add(1)
		return "source:" + k, nil
	})
	written := make(chan tiered.Change[string, string], 1)
	write := tiered.WriterFunc[string, string](func(ctx context.Context, ch tiered.Change[string, string]) error {
		select {
		case written <- ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	newCache := func(store l2.Store, consumer string) *tiered.Cache[string, string] {
		queue, err := redisstore.NewQueue(rdb, &redisstore.QueueOptions{Namespace: "wb", Consumer: consumer})
		if err != nil {
			t.Fatal(err)
		}
		c, err := tiered.New(&tiered.Options[string, string]{
			Name: "wb", L2: store, Loader: load, Writer: write, TTL: time.Minute,
			WriteBehind: &tiered.WriteBehindOptions[string, string]{Queue: queue, Interval: time.Hour}, // FlushBehind flushes
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	store := rueidisstore.New(newClient(t, srv.Addr()), nil)
	viaRueidis := newCache(store, "rueidis")
	viaGoRedis := newCache(redisstore.New(rdb, nil), "go-redis")
	ctx := t.Context()

	if err := viaRueidis.WriteBehind(ctx, "k", "queued"); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Del(ctx, store.Key("wb:k")).Err(); err != nil { // as maxmemory would evict it
		t.Fatal(err)
	}
	if v, err := viaGoRedis.Get(ctx, "k"); err != nil || v != "queued" || loads.Load() != 0 {
		t.Errorf("Get(k) over redisstore = %q, %v, %d loads; want the queued value, no load", v, err, loads.Load())
	}

	flushCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := viaRueidis.FlushBehind(flushCtx); err != nil {
		t.Fatalf("FlushBehind: %v", err)
	}
	select {
	case ch := <-written:
		if ch.Key != "k" || ch.Value != "queued" || ch.Delete {
			t.Errorf("the source was written %+v, want k = queued", ch)
		}
	case <-flushCtx.Done():
		t.Fatal("no flusher wrote to the source")
	}
	st, err := store.Namespace("wb").(l2.Stager).Claim(ctx, l2.NewToken(), time.Second, []string{"k"})
	if err != nil || len(st) != 1 || st[0].Value != nil || st[0].Seq == 0 {
		t.Errorf("Claim(k) after the flush = %+v, %v; want no queued value, its number remembered", st, err)
	}
}

// newServer starts a redis-server for t and returns it with a go-redis
// client on it (for redisstore and the queue), closed with t.
func newServer(t *testing.T) (*redistest.Server, *redis.Client) {
	t.Helper()
	redistest.Require(t)
	srv := redistest.NewServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return srv, rdb
}
