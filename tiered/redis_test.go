package tiered_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
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

// redisTarget is one kind of real Redis deployment the cache runs on.
type redisTarget struct {
	name   string
	client func(t *testing.T) redis.UniversalClient // as the user tiercache connects as
	admin  func(t *testing.T) redis.UniversalClient // for the test's own inspection
	// l1 makes each instance's L1; nil: the cache's default.
	l1 func(t *testing.T) l1.Store
	// prefix is the Redis key prefix of the target's stores (see store),
	// so that runs over several L1 backends do not read each other's
	// values.
	prefix string
}

// store returns a redisstore over client with the target's prefix.
func (tg redisTarget) store(client redis.UniversalClient) *redisstore.Store {
	return redisstore.New(client, &redisstore.Options{Prefix: tg.prefix})
}

// l1Backends are the L1 stores that the consistency, stampede and
// stale-set tests run over, each on every target.
var l1Backends = []struct {
	name string
	new  func(t *testing.T) l1.Store
}{
	{"otter", func(t *testing.T) l1.Store {
		s, err := l1.NewOtter(l1.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
	{"ristretto", func(t *testing.T) l1.Store {
		s, err := l1.NewRistretto(l1.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

// withL1Backends returns every target once per L1 backend, named
// "<target>/<backend>". The cache closes the store it is given.
func withL1Backends(targets []redisTarget) []redisTarget {
	var all []redisTarget
	for _, tg := range targets {
		for _, b := range l1Backends {
			tb := tg
			tb.name = tg.name + "/" + b.name
			tb.l1 = b.new
			tb.prefix = "tc-" + b.name + ":"
			all = append(all, tb)
		}
	}
	return all
}

// redisTargets starts one real server and one 3+3 Cluster for the test and
// returns a client factory for each.
func redisTargets(t *testing.T) []redisTarget {
	t.Helper()
	srv := redistest.NewServer(t)
	cl := redistest.NewCluster(t)
	return []redisTarget{
		{name: "standalone", client: func(t *testing.T) redis.UniversalClient {
			c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			t.Cleanup(func() { _ = c.Close() })
			return c
		}, admin: func(t *testing.T) redis.UniversalClient {
			c := redis.NewClient(redistest.AdminOptions(srv.Addr()))
			t.Cleanup(func() { _ = c.Close() })
			return c
		}},
		{name: "cluster", client: func(t *testing.T) redis.UniversalClient {
			c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
			t.Cleanup(func() { _ = c.Close() })
			return c
		}, admin: func(t *testing.T) redis.UniversalClient {
			c := redis.NewClusterClient(redistest.AdminClusterOptions(cl.Addrs()))
			t.Cleanup(func() { _ = c.Close() })
			return c
		}},
	}
}

// TestRedisEndToEnd runs the cache on real Redis, one node and Cluster:
// loads, L1 and L2 hits, a second instance reading through L2, GetMany over
// many slots, Delete, negative caching, and a value corrupted behind the
// cache's back.
func TestRedisEndToEnd(t *testing.T) {
	redistest.Require(t)
	for _, target := range redisTargets(t) {
		t.Run(target.name, func(t *testing.T) {
			ctx := context.Background()
			rdb := target.admin(t) // the test's own inspection; the caches connect as the user
			ld := &countingLoader{}
			newInstance := func(st stats.Recorder) *tiered.Cache[int64, User] {
				c, err := tiered.New(&tiered.Options[int64, User]{
					Name:        "e2e",
					L2:          redisstore.New(target.client(t), nil),
					Loader:      ld,
					NotFoundTTL: time.Minute,
					Stats:       st,
					BatchLoader: loader.BatchFunc[int64, User](func(ctx context.Context, ids []int64) (map[int64]User, error) {
						out := make(map[int64]User, len(ids))
						for _, id := range ids {
							if id >= 0 {
								out[id] = user(id)
							}
						}
						return out, nil
					}),
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = c.Close() })
				return c
			}
			var sa, sb stats.Counter
			a, b := newInstance(&sa), newInstance(&sb)

			if u, err := a.Get(ctx, 1); err != nil || u.ID != 1 {
				t.Fatalf("a.Get: %+v, %v", u, err)
			}
			if u, err := b.Get(ctx, 1); err != nil || u.ID != 1 {
				t.Fatalf("b.Get: %+v, %v", u, err)
			}
			if ld.calls.Load() != 1 || sb.Snapshot().Get(stats.L2Hit) != 1 {
				t.Fatalf("loads %d, b's L2 hits %d: want 1 and 1", ld.calls.Load(), sb.Snapshot().Get(stats.L2Hit))
			}

			// The stored form: one hash-tagged key per value.
			if n, err := rdb.Exists(ctx, "{tc:e2e:1}").Result(); err != nil || n != 1 {
				t.Fatalf("EXISTS {tc:e2e:1} = %d, %v", n, err)
			}

			// GetMany over 100 keys spread over many slots: one batch load.
			ids := make([]int64, 100)
			for i := range ids {
				ids[i] = int64(i + 1000)
			}
			ids[0] = -1 // does not exist
			got, err := a.GetMany(ctx, ids)
			if err != nil || len(got) != 99 {
				t.Fatalf("GetMany: %d values, %v", len(got), err)
			}
			got, err = b.GetMany(ctx, ids)
			if err != nil || len(got) != 99 || got[1050].ID != 1050 {
				t.Fatalf("b.GetMany: %d values, %v", len(got), err)
			}
			if h := sb.Snapshot().Get(stats.L2Hit); h != 1+100 {
				t.Fatalf("b's L2 hits = %d, want 101", h)
			}

			// Set on one instance, Delete, then reload.
			nu := user(1)
			nu.Name = "changed"
			if err := a.Set(ctx, 1, nu); err != nil {
				t.Fatal(err)
			}
			if u, err := a.Get(ctx, 1); err != nil || u.Name != "changed" {
				t.Fatalf("read-your-writes: %q, %v", u.Name, err)
			}
			if err := a.Delete(ctx, 1, 1001, 1002); err != nil {
				t.Fatal(err)
			}
			// A deleted key holds a tombstone, which expires on its own.
			for _, k := range []string{"{tc:e2e:1}", "{tc:e2e:1001}", "{tc:e2e:1002}"} {
				b, err := rdb.Get(ctx, k).Bytes()
				if err != nil || !isTombstone(b) {
					t.Fatalf("after Delete, GET %s = %q, %v; want a tombstone", k, b, err)
				}
				if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 || ttl > tiered.DefaultTombstoneTTL {
					t.Fatalf("after Delete, PTTL %s = %v, want up to %v", k, ttl, tiered.DefaultTombstoneTTL)
				}
			}

			// Corrupt bytes written straight into Redis under a cache key.
			if err := rdb.Set(ctx, "{tc:e2e:500}", "\xc7\x7c\x03garbage that is not a frame", time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			u, err := b.Get(ctx, 500)
			if err != nil || u.ID != 500 {
				t.Fatalf("Get over corrupt bytes: %+v, %v", u, err)
			}
			if sb.Snapshot().Get(stats.L2Corrupt) != 1 {
				t.Fatal("the corrupt value was not counted")
			}
			raw, err := rdb.Get(ctx, "{tc:e2e:500}").Bytes()
			if err != nil || len(raw) < 28 || raw[0] != 0xC7 || string(raw[3:]) == "garbage that is not a frame" {
				t.Fatalf("key not repaired: %q, %v", raw, err)
			}
		})
	}
}

// TestRedisStampede: 1,000 goroutines of one instance Get one cold key on
// real Redis; the loader runs once.
func TestRedisStampede(t *testing.T) {
	srv := redistest.NewServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 50})
	defer func() { _ = rdb.Close() }()
	release := make(chan struct{})
	ld := &countingLoader{hook: func(context.Context, int64) { <-release }}
	var st stats.Counter
	c, err := tiered.New(&tiered.Options[int64, User]{Name: "stampede", L2: redisstore.New(rdb, nil), Loader: ld, Stats: &st})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	const n = 1000
	stampede(t, n, 1, func(ctx context.Context) (User, error) { return c.Get(ctx, 1) },
		func() bool { return st.Snapshot().Get(stats.L2Miss) == n }, release)
	if got := ld.calls.Load(); got != 1 {
		t.Fatalf("loader calls = %d, want 1", got)
	}
}

// TestRedisStoppedMidTest stops redis-server while the cache serves reads:
// Get keeps answering from the loader; once Redis is back, L2 is used again.
func TestRedisStoppedMidTest(t *testing.T) {
	srv := redistest.NewServer(t)
	rdb := redis.NewClient(&redis.Options{
		Addr: srv.Addr(), DialTimeout: 200 * time.Millisecond, MaxRetries: -1,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond,
	})
	defer func() { _ = rdb.Close() }()
	admin := redis.NewClient(redistest.AdminOptions(srv.Addr())) // the test's own inspection
	defer func() { _ = admin.Close() }()
	ld := &countingLoader{}
	var st stats.Counter
	c, err := tiered.New(&tiered.Options[int64, User]{
		Name: "outage", L2: redisstore.New(rdb, nil), Loader: ld, Stats: &st,
		L1TTL:      time.Millisecond, // so that reads reach L2
		L2Cooldown: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ctx := context.Background()
	if _, err := c.Get(ctx, 1); err != nil {
		t.Fatal(err)
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for i := range int64(200) {
		u, err := c.Get(ctx, i%10)
		if err != nil || u.ID != i%10 {
			t.Fatalf("Get %d with Redis down: %+v, %v", i, u, err)
		}
	}
	down := st.Snapshot()
	if down.Get(stats.L2Error) == 0 {
		t.Fatal("no L2 error counted while Redis was down")
	}
	if down.Get(stats.L2Skipped) == 0 {
		t.Fatal("reads did not skip L2 while it was down")
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// Once the cool-down has passed, a read probes L2 and finds it back; the
	// loads write to L2 again and a later read hits it.
	waitFor(t, "L2 to be used again", func() bool {
		_, err := c.Get(ctx, 42)
		if err != nil {
			t.Fatal(err)
		}
		n, err := admin.Exists(ctx, "{tc:outage:42}").Result()
		return err == nil && n == 1
	})
	hits := st.Snapshot().Get(stats.L2Hit)
	waitFor(t, "an L2 hit", func() bool {
		if _, err := c.Get(ctx, 42); err != nil {
			t.Fatal(err)
		}
		return st.Snapshot().Get(stats.L2Hit) > hits
	})
}

// TestRedisInvalidation: on a real node and on Cluster, InvalidateTags,
// InvalidatePrefix and Flush remove keys over every slot from L2 and from
// the L1 of two instances with their own connections and buses.
func TestRedisInvalidation(t *testing.T) {
	redistest.Require(t)
	const n = 2000
	for _, target := range redisTargets(t) {
		t.Run(target.name, func(t *testing.T) {
			ctx := context.Background()
			var ins []*tiered.Cache[int64, User]
			var sts []*stats.Counter
			var l1s []*l1.Ristretto
			for i := range 2 {
				client := target.client(t)
				bus, err := redisbus.New(client, &redisbus.Options{Keys: testBusKeys, ID: fmt.Sprint("inst-", i)})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = bus.Close() })
				rist, err := l1.NewRistretto(l1.Options{})
				if err != nil {
					t.Fatal(err)
				}
				st := &stats.Counter{}
				c, err := tiered.New(&tiered.Options[int64, User]{
					Name: "inval", L1: rist, L2: redisstore.New(client, nil), Bus: bus, Stats: st,
					Loader: &countingLoader{},
					Tags:   func(id int64, _ User) []string { return []string{fmt.Sprint("mod3:", id%3)} },
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = c.Close() })
				waitFor(t, "the subscription", func() bool { return st.Snapshot().Get(stats.Subscribed) == 1 })
				ins, sts, l1s = append(ins, c), append(sts, st), append(l1s, rist)
			}
			ids := make([]int64, n)
			for i := range ids {
				ids[i] = int64(i)
			}
			readAll := func() {
				t.Helper()
				for i, c := range ins {
					if got, err := c.GetMany(ctx, ids); err != nil || len(got) != n {
						t.Fatalf("GetMany: %d values, %v", len(got), err)
					}
					l1s[i].Wait()
				}
			}
			inL1 := func(id int64) (count int) {
				for _, r := range l1s {
					if _, ok := r.Get(strconv.FormatInt(id, 10)); ok {
						count++
					}
				}
				return count
			}
			// waitKeys waits until instance 1 received want keys more than before.
			waitKeys := func(before, want int64) {
				t.Helper()
				waitFor(t, "the keys at the other instance", func() bool {
					return sts[1].Snapshot().Get(stats.ReceivedKeys)-before >= want
				})
			}
			store := redisstore.New(target.client(t), nil)

			readAll() // loads tag every value with mod3:<id%3>
			before := sts[1].Snapshot().Get(stats.ReceivedKeys)
			if err := ins[0].InvalidateTags(ctx, "mod3:0"); err != nil {
				t.Fatal(err)
			}
			waitKeys(before, (n+2)/3)
			for _, id := range ids {
				gone := id%3 == 0
				if got := inL1(id); gone && got != 0 {
					t.Fatalf("key %d is in %d L1s after InvalidateTags", id, got)
				}
				if holds := holdsValue(t, store, "inval", id); holds == gone {
					t.Fatalf("key %d: L2 holds a value = %v after InvalidateTags(mod3:0)", id, holds)
				}
			}

			readAll()
			before = sts[1].Snapshot().Get(stats.ReceivedKeys)
			if err := ins[1].InvalidatePrefix(ctx, "1"); err != nil {
				t.Fatal(err)
			}
			want := int64(0)
			for _, id := range ids {
				if strings.HasPrefix(strconv.FormatInt(id, 10), "1") {
					want++
				}
			}
			waitFor(t, "the prefix at the other instance", func() bool {
				return sts[0].Snapshot().Get(stats.ReceivedKeys) >= want
			})
			for _, id := range ids {
				gone := strings.HasPrefix(strconv.FormatInt(id, 10), "1")
				if gone && inL1(id) != 0 {
					t.Fatalf("key %d is still in an L1 after InvalidatePrefix", id)
				}
				if holds := holdsValue(t, store, "inval", id); holds == gone {
					t.Fatalf("key %d: L2 holds a value = %v after InvalidatePrefix(1)", id, holds)
				}
			}
			_ = before

			readAll()
			flushes := sts[1].Snapshot().Get(stats.FlushRemote)
			if err := ins[0].Flush(ctx); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the flush at the other instance", func() bool {
				return sts[1].Snapshot().Get(stats.FlushRemote) == flushes+1
			})
			for _, id := range ids {
				if inL1(id) != 0 || holdsValue(t, store, "inval", id) {
					t.Fatalf("key %d survived Flush", id)
				}
			}
		})
	}
}
