package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// The stampede benchmark (`make bench-stampede`): a Zipf workload replayed
// against 4 instances that share one redis-server, with early refresh
// (XFetch) and leases on, then off.
//
// The replay is paced, not a closed loop: every goroutine issues its Gets
// on a fixed schedule (one every zipfInterval, the goroutines staggered
// evenly), so that both modes see the same arrival rate over the same
// 12 s, that is 6 TTLs, whatever their latency. In a closed loop a faster
// mode would issue its Gets sooner, cover fewer TTLs and so load less for
// that reason alone. 8,000 Gets/s leave room on a 2-core VM: about 40% of
// the Gets of this workload wait for a 5 ms load (the tail of 100,000 keys
// outlives no TTL), and a goroutine that falls behind catches up at once
// (a Get is never dropped). The Gets are a fixed, seeded sequence per
// goroutine, the same for both modes.
const (
	zipfKeys       = 100_000
	zipfS          = 1.01
	zipfInstances  = 4
	zipfGoroutines = 8    // per instance
	zipfOps        = 3000 // per goroutine: 96,000 Gets in all
	zipfInterval   = 4 * time.Millisecond
	zipfTTL        = 2 * time.Second
	zipfL1TTL      = time.Second // half the TTL: L1 expires first, L2 serves the rest
	zipfLoadDelay  = 5 * time.Millisecond
	// zipfHot: the ranks below it are the hot keys, whose loads and
	// latencies are reported apart (about a third of the Gets): they are
	// the ones stampede protection is for; most of the other keys are read
	// too rarely to outlive a TTL in any mode.
	zipfHot = 100
)

// zipfMode is one configuration of the stampede protection.
type zipfMode struct {
	name     string
	beta     float64
	leaseTTL time.Duration
}

// BenchmarkCache_ZipfReplay replays the workload once per op (run it with
// -benchtime=1x: one op takes 12 s, and b.N = 1 either way), with fresh
// instances on an emptied Redis (FLUSHALL) each time, so that every replay
// starts equally cold. "xfetch+leases" keeps the defaults of Beta and
// LeaseTTL; "off", the baseline, turns both off. Neither serves stale
// values. ns/op is the wall time of a replay; the other metrics are per
// replay: loader calls, Get latency percentiles, the share of Gets served
// by a tier (hit-ratio: L1 or L2 hits, the rest waited for a load, their
// own or another's) and by L1 alone, and the counts of early refreshes and
// leases.
func BenchmarkCache_ZipfReplay(b *testing.B) {
	redistest.Require(b)
	srv := redistest.NewServer(b)
	seqs := zipfSequences()
	for _, mode := range []zipfMode{
		{name: "xfetch+leases"},               // 0: DefaultBeta, DefaultLeaseTTL
		{name: "off", beta: -1, leaseTTL: -1}, // the baseline
	} {
		b.Run(mode.name, func(b *testing.B) {
			b.ReportAllocs()
			var total zipfResult
			for range b.N {
				total.add(zipfReplay(b, srv.Addr(), mode, seqs))
			}
			total.report(b, mode.name)
		})
	}
}

// zipfSequences returns the keys each goroutine reads, in order: Zipf
// ranks (s = 1.01, v = 1) over zipfKeys keys, from a fixed seed. Key "z<r>"
// has rank r.
func zipfSequences() [][]string {
	keys := make([]string, zipfKeys)
	for i := range keys {
		keys[i] = "z" + strconv.Itoa(i)
	}
	seqs := make([][]string, zipfInstances*zipfGoroutines)
	for g := range seqs {
		z := rand.NewZipf(rand.New(rand.NewPCG(1, uint64(g))), zipfS, 1, zipfKeys-1)
		seqs[g] = make([]string, zipfOps)
		for n := range seqs[g] {
			seqs[g][n] = keys[z.Uint64()]
		}
	}
	return seqs
}

// zipfIsHot reports whether key "z<r>" has a rank below zipfHot.
func zipfIsHot(key string) bool {
	r, err := strconv.Atoi(key[1:])
	return err == nil && r < zipfHot
}

// zipfResult is what replays measured.
type zipfResult struct {
	replays  int
	elapsed  time.Duration // wall time of the replays
	behind   time.Duration // the most a Get was issued after its time
	loads    int64         // loader calls
	hotLoads int64         // loader calls of hot keys
	errors   int64
	firstErr error
	counts   [256]int64 // stats events, summed over the instances
	lat      []time.Duration
	hotLat   []time.Duration // of the Gets of hot keys
}

func (r *zipfResult) add(o zipfResult) {
	r.replays++
	r.elapsed += o.elapsed
	r.behind = max(r.behind, o.behind)
	r.loads += o.loads
	r.hotLoads += o.hotLoads
	r.errors += o.errors
	if r.firstErr == nil {
		r.firstErr = o.firstErr
	}
	for i := range r.counts {
		r.counts[i] += o.counts[i]
	}
	r.lat = append(r.lat, o.lat...)
	r.hotLat = append(r.hotLat, o.hotLat...)
}

func (r *zipfResult) report(b *testing.B, mode string) {
	if r.errors > 0 {
		b.Fatalf("%d Gets failed, the first with: %v", r.errors, r.firstErr)
	}
	n := float64(r.replays)
	slices.Sort(r.lat)
	slices.Sort(r.hotLat)
	pct := func(q float64) time.Duration { return r.lat[int(q*float64(len(r.lat)-1))] }
	hotPct := func(q float64) time.Duration { return r.hotLat[int(q*float64(len(r.hotLat)-1))] }
	// A hot Get that took longer than a load waited for one.
	hotWaited := len(r.hotLat) - sort.Search(len(r.hotLat), func(i int) bool { return r.hotLat[i] >= zipfLoadDelay })
	c := func(ev stats.Event) int64 { return r.counts[ev] }
	gets := c(stats.L1Hit) + c(stats.L1Miss)
	hit := float64(c(stats.L1Hit)+c(stats.L2Hit)) / float64(max(gets, 1))
	l1Hit := float64(c(stats.L1Hit)) / float64(max(gets, 1))

	b.ReportMetric(float64(r.loads)/n, "loads")
	b.ReportMetric(float64(pct(0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(pct(0.99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(pct(0.999).Microseconds()), "p999-µs")
	b.ReportMetric(hit, "hit-ratio")
	b.ReportMetric(l1Hit, "l1-hit-ratio")
	b.ReportMetric(float64(c(stats.EarlyRefresh))/n, "early-refreshes")
	b.ReportMetric(float64(c(stats.LeaseGranted))/n, "leases-granted")
	b.ReportMetric(float64(c(stats.LeaseWaited))/n, "leases-waited")
	b.ReportMetric(float64(c(stats.LeaseLost))/n, "leases-lost")
	b.ReportMetric(float64(r.hotLoads)/n, "hot-loads")
	b.ReportMetric(float64(hotWaited)/n, "hot-waited")
	b.ReportMetric(float64(hotPct(0.99).Microseconds()), "hot-p99-µs")
	b.Logf("replay %-13s %d Gets in %.1fs (schedule %.1fs, behind at most %v); loader calls %d (%.3f/Get); "+
		"hit ratio %.3f (L1 %.3f, L2 %.3f of L1 misses); latency p50 %v p99 %v p999 %v max %v; "+
		"early refreshes %d, leases granted %d waited %d lost %d, stale served %d; "+
		"hot keys (ranks < %d): %d Gets, %d loads, %d Gets waited >= %v, p99 %v",
		mode+":", gets, r.elapsed.Seconds()/n, (zipfOps * zipfInterval).Seconds(), r.behind.Round(time.Millisecond),
		r.loads, float64(r.loads)/float64(max(gets, 1)),
		hit, l1Hit, float64(c(stats.L2Hit))/float64(max(c(stats.L1Miss), 1)),
		pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), pct(0.999).Round(time.Microsecond),
		r.lat[len(r.lat)-1].Round(time.Microsecond),
		c(stats.EarlyRefresh), c(stats.LeaseGranted), c(stats.LeaseWaited), c(stats.LeaseLost), c(stats.StaleServed),
		zipfHot, len(r.hotLat), r.hotLoads, hotWaited, zipfLoadDelay, hotPct(0.99).Round(time.Microsecond))
}

// zipfReplay empties Redis, starts zipfInstances caches on it, replays seqs
// against them (zipfGoroutines sequences per instance), and closes them.
// Only the replay itself is timed.
func zipfReplay(b *testing.B, addr string, mode zipfMode, seqs [][]string) zipfResult {
	b.StopTimer()
	ctx := context.Background()
	var closers []func()
	closeAll := sync.OnceFunc(func() {
		for _, f := range slices.Backward(closers) {
			f()
		}
	})
	defer closeAll() // when setup fails

	admin := redis.NewClient(redistest.AdminOptions(addr))
	closers = append(closers, func() { _ = admin.Close() })
	if err := admin.FlushAll(ctx).Err(); err != nil {
		b.Fatal(err)
	}

	var calls, hotCalls atomic.Int64
	value := user(1)
	load := loader.Func[string, User](func(ctx context.Context, key string) (User, error) {
		calls.Add(1)
		if zipfIsHot(key) {
			hotCalls.Add(1)
		}
		t := time.NewTimer(zipfLoadDelay)
		defer t.Stop()
		select {
		case <-t.C:
			return value, nil
		case <-ctx.Done():
			return User{}, ctx.Err()
		}
	})
	caches := make([]*tiered.Cache[string, User], zipfInstances)
	counters := make([]*stats.Counter, zipfInstances)
	for i := range caches {
		client := redis.NewClient(&redis.Options{Addr: addr})
		closers = append(closers, func() { _ = client.Close() })
		bus, err := redisbus.New(client, &redisbus.Options{ID: fmt.Sprint("zipf-", mode.name, "-", i)})
		if err != nil {
			b.Fatal(err)
		}
		closers = append(closers, func() { _ = bus.Close() })
		counters[i] = &stats.Counter{}
		caches[i], err = tiered.New(&tiered.Options[string, User]{
			Name: "zipf", L2: redisstore.New(client, nil), Bus: bus, Stats: counters[i], Loader: load,
			TTL: zipfTTL, L1TTL: zipfL1TTL, Beta: mode.beta, LeaseTTL: mode.leaseTTL,
		})
		if err != nil {
			b.Fatal(err)
		}
		closers = append(closers, func() { _ = caches[i].Close() })
		waitFor(b, "the subscription", func() bool { return counters[i].Snapshot().Get(stats.Subscribed) == 1 })
	}

	var (
		wg       sync.WaitGroup
		errs     atomic.Int64
		errOnce  sync.Once
		firstErr error
		lats     = make([][]time.Duration, len(seqs))
		hotLats  = make([][]time.Duration, len(seqs))
		behind   = make([]time.Duration, len(seqs))
	)
	b.StartTimer()
	start := time.Now()
	for g, seq := range seqs {
		c := caches[g/zipfGoroutines]
		offset := time.Duration(g) * zipfInterval / time.Duration(len(seqs))
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, len(seq))
			var hot []time.Duration
			for n, k := range seq {
				due := start.Add(offset + time.Duration(n)*zipfInterval)
				if d := time.Until(due); d > 0 {
					time.Sleep(d) // pacing, not a wait for an outcome
				} else {
					behind[g] = max(behind[g], -d)
				}
				t0 := time.Now()
				_, err := c.Get(ctx, k)
				d := time.Since(t0)
				lat = append(lat, d)
				if zipfIsHot(k) {
					hot = append(hot, d)
				}
				if err != nil {
					errs.Add(1)
					errOnce.Do(func() { firstErr = fmt.Errorf("Get(%s): %w", k, err) })
				}
			}
			lats[g], hotLats[g] = lat, hot
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	closeAll() // first, so that loads still running are counted
	r := zipfResult{
		elapsed: elapsed, behind: slices.Max(behind), loads: calls.Load(), hotLoads: hotCalls.Load(),
		errors: errs.Load(), firstErr: firstErr, lat: slices.Concat(lats...), hotLat: slices.Concat(hotLats...),
	}
	for _, st := range counters {
		s := st.Snapshot()
		for _, ev := range stats.Events() {
			r.counts[ev] += s.Get(ev)
		}
	}
	return r
}

// BenchmarkGet_MissRedis: a Get of a key that is in neither tier, loaded by
// an instant loader and stored in a real redis-server (L1 off), with leases
// (the read takes the lease with SET NX GET, the store is SetLeased's
// script) and without (a GET, then SET NX), beside what the same work costs
// by hand on go-redis: GET (a miss), then SET. Besides the mean, each
// reports the median time of one Get (p50-us), which this machine's
// scheduling hiccups move less.
func BenchmarkGet_MissRedis(b *testing.B) {
	redistest.Require(b)
	rdb := redisBench(b)
	ctx := context.Background()
	load := loader.Func[string, User](func(_ context.Context, k string) (User, error) { return user(1), nil })
	for _, mode := range []struct {
		name     string
		leaseTTL time.Duration
	}{{"tiercache/leases", 0}, {"tiercache/no-leases", -1}} {
		c, err := tiered.New(&tiered.Options[string, User]{
			Name: "miss" + strconv.Itoa(int(mode.leaseTTL+1)), L1: noL1{}, L2: redisstore.New(rdb, nil),
			Loader: load, TTL: time.Hour, LeaseTTL: mode.leaseTTL,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		b.Run(mode.name, func(b *testing.B) {
			run := strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
			timedLoop(b, func(i int) {
				if _, err := c.Get(ctx, run+strconv.Itoa(i)); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
	payload, err := msgpack.Marshal(user(1))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("go-redis", func(b *testing.B) {
		run := "rawmiss:" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
		timedLoop(b, func(i int) {
			k := run + strconv.Itoa(i)
			if err := rdb.Get(ctx, k).Err(); !errors.Is(err, redis.Nil) {
				b.Fatal(err)
			}
			if err := rdb.Set(ctx, k, payload, time.Hour).Err(); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// timedLoop runs op(0), op(1)... for b's loop, and reports the median time
// of one op as p50-us beside the mean.
func timedLoop(b *testing.B, op func(i int)) {
	b.ReportAllocs()
	var lats []time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		op(i)
		lats = append(lats, time.Since(start))
	}
	slices.Sort(lats)
	b.ReportMetric(float64(lats[len(lats)/2].Nanoseconds())/1e3, "p50-us")
}

// BenchmarkGet_MissMemory is BenchmarkGet_MissRedis over an in-memory L2:
// the cache's own work on a miss, without the network (read, lease, load,
// encode, conditional write).
func BenchmarkGet_MissMemory(b *testing.B) {
	ctx := context.Background()
	load := loader.Func[string, User](func(_ context.Context, k string) (User, error) { return user(1), nil })
	for _, mode := range []struct {
		name     string
		leaseTTL time.Duration
	}{{"leases", 0}, {"no-leases", -1}} {
		c, err := tiered.New(&tiered.Options[string, User]{
			Name: "miss", L1: noL1{}, L2: memstore.New(nil), Loader: load, TTL: time.Hour, LeaseTTL: mode.leaseTTL,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		b.Run(mode.name, func(b *testing.B) {
			b.ReportAllocs()
			run := strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
			for i := 0; b.Loop(); i++ {
				if _, err := c.Get(ctx, run+strconv.Itoa(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
