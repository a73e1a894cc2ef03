package pgsource

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/pgtest"
	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l1"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Benchmarks of the source on a real PostgreSQL (internal/pgtest, its
// default settings: fsync off, synchronous_commit on) and a real
// redis-server, everything on loopback (`make bench-cdc`). They need
// TIERCACHE_INTEGRATION=1 and skip under -short.
//
//   - BenchmarkSource_Lag: how long after a single-row UPDATE commits its
//     key is gone from the L1 of every one of 4 instances, through this
//     source, a cdc.Engine and a tiered.Invalidator, beside a writer that
//     deletes the key through its own cache. Run with -benchtime=10000x.
//   - BenchmarkSource_BulkUpdate: how fast the source applies one
//     transaction that updates 100,000 rows, and the heap it takes. Run
//     with -benchtime=1x.

const (
	// benchInstances is the number of cache instances whose L1 must lose
	// the key.
	benchInstances = 4
	// benchLagRows is how many rows each table of the lag benchmark starts
	// with: enough for -benchtime=10000x (one op, then 10,000), each op on
	// a row of its own. More are added when needed.
	benchLagRows = 20_001
	// benchBulkRows is how many rows the bulk UPDATE changes.
	benchBulkRows = 100_000
	// benchEvictTimeout bounds the wait for one eviction.
	benchEvictTimeout = 10 * time.Second
	// benchBulkTimeout bounds the wait for the bulk UPDATE to be applied.
	benchBulkTimeout = 5 * time.Minute
)

// benchBusKeys authenticate the messages of the benchmarks' Redis buses,
// as in production.
var benchBusKeys = [][]byte{[]byte("tiercache pgsource bench key, 32")}

// benchItem is a row of the benchmarks' tables.
type benchItem struct {
	ID int64
	V  int64
}

// benchL1 is an L1 that tells, on evicted, when the key it watches left
// it: the moment a Delete of the key (or a Clear) returned. It stops
// watching then.
type benchL1 struct {
	l1.Store
	watch   atomic.Pointer[string]
	evicted chan time.Time // capacity 1
}

func (s *benchL1) Delete(k string) {
	s.Store.Delete(k)
	s.gone(func(w string) bool { return w == k })
}

// Clear empties L1, the watched key with it.
func (s *benchL1) Clear() {
	s.Store.Clear()
	s.gone(func(string) bool { return true })
}

func (s *benchL1) gone(match func(watched string) bool) {
	now := time.Now()
	if w := s.watch.Load(); w != nil && match(*w) && s.watch.CompareAndSwap(w, nil) {
		s.evicted <- now
	}
}

// benchTarget is an engine's Target that tells, on returned, when a
// Delete that named the watched key returned, and notes what its Deletes
// did.
type benchTarget struct {
	cdc.Target
	watch    atomic.Pointer[string]
	returned chan time.Time // capacity 1

	keys  atomic.Int64              // keys deleted, with repeats
	busy  atomic.Int64              // time spent in Delete, ns
	first atomic.Pointer[time.Time] // when the first Delete was called
	last  atomic.Pointer[time.Time] // when the last Delete returned
}

func (t *benchTarget) Delete(ctx context.Context, keys ...string) error {
	start := time.Now()
	t.first.CompareAndSwap(nil, &start)
	err := t.Target.Delete(ctx, keys...)
	now := time.Now()
	t.busy.Add(int64(now.Sub(start)))
	t.last.Store(&now)
	if err != nil {
		return err
	}
	t.keys.Add(int64(len(keys)))
	if w := t.watch.Load(); w != nil && slices.Contains(keys, *w) && t.watch.CompareAndSwap(w, nil) {
		t.returned <- now
	}
	return nil
}

// benchCache is one instance of the cache of a table: its own Redis
// client (L2 and bus), its own watched L1.
type benchCache struct {
	cache *tiered.Cache[int64, benchItem]
	l1    *benchL1
	stats *stats.Counter
}

// benchRequire skips b unless integration tests are on, and under -short.
func benchRequire(b *testing.B) {
	b.Helper()
	if testing.Short() {
		b.Skip("integration benchmark: skipped under -short")
	}
	pgtest.Require(b)
	redistest.Require(b)
}

// benchServers starts a PostgreSQL server, runs each setup (one psql
// call each) on its database postgres, and starts a redis-server.
func benchServers(b *testing.B, setup ...string) (dsn, redisAddr string) {
	b.Helper()
	pg := pgtest.NewServer(b)
	for _, sql := range setup {
		if _, err := pg.SQL(context.Background(), "postgres", sql); err != nil {
			b.Fatal(err)
		}
	}
	return pg.DSN("postgres"), redistest.NewServer(b).Addr()
}

func benchConn(b *testing.B, dsn string) *pgx.Conn {
	b.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func benchClient(b *testing.B, addr string) *redis.Client {
	b.Helper()
	client := redis.NewClient(&redis.Options{Addr: addr})
	b.Cleanup(func() { _ = client.Close() })
	return client
}

func benchBus(b *testing.B, client redis.UniversalClient, id string) *redisbus.Bus {
	b.Helper()
	bus, err := redisbus.New(client, &redisbus.Options{ID: id, Keys: benchBusKeys})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bus.Close() })
	return bus
}

// benchCaches returns benchInstances instances of the cache of namespace
// ns, which loads rows of table through pool, each subscribed to the bus.
func benchCaches(b *testing.B, redisAddr string, pool *pgxpool.Pool, ns, table string) []*benchCache {
	b.Helper()
	query := "SELECT v FROM " + table + " WHERE id = $1"
	load := loader.Func[int64, benchItem](func(ctx context.Context, id int64) (benchItem, error) {
		it := benchItem{ID: id}
		err := pool.QueryRow(ctx, query, id).Scan(&it.V)
		if errors.Is(err, pgx.ErrNoRows) {
			return it, tiered.ErrNotFound
		}
		return it, err
	})
	caches := make([]*benchCache, benchInstances)
	for i := range caches {
		client := benchClient(b, redisAddr)
		rist, err := l1.NewRistretto(l1.Options{})
		if err != nil {
			b.Fatal(err)
		}
		c := &benchCache{l1: &benchL1{Store: rist, evicted: make(chan time.Time, 1)}, stats: &stats.Counter{}}
		c.cache, err = tiered.New(&tiered.Options[int64, benchItem]{
			Name:   ns,
			L1:     c.l1,
			L2:     redisstore.New(client, nil),
			Bus:    benchBus(b, client, fmt.Sprintf("%s-%d", ns, i)),
			Loader: load,
			Stats:  c.stats,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.cache.Close() })
		caches[i] = c
	}
	for _, c := range caches {
		waitFor(b, waitTimeout, "the subscription", func() bool { return c.stats.Snapshot().Get(stats.Subscribed) == 1 })
	}
	return caches
}

// benchInvalidator returns the engine of one rule, whose namespace ns
// evicts through a tiered.Invalidator (its own Redis client and bus)
// wrapped in a benchTarget.
func benchInvalidator(b *testing.B, redisAddr string, rule cdc.Rule) (*cdc.Engine, *benchTarget) {
	b.Helper()
	client := benchClient(b, redisAddr)
	inv, err := tiered.NewInvalidator(&tiered.InvalidatorOptions{
		Name: rule.Namespace, L2: redisstore.New(client, nil), Bus: benchBus(b, client, "cdc-"+rule.Namespace),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = inv.Close() })
	target := &benchTarget{Target: inv, returned: make(chan time.Time, 1)}
	engine, err := cdc.New(&cdc.Options{Rules: []cdc.Rule{rule}, Targets: map[string]cdc.Target{rule.Namespace: target}})
	if err != nil {
		b.Fatal(err)
	}
	return engine, target
}

// benchRun creates the publication and the slot of a source of engine's
// rules, runs it until the benchmark ends, and waits until it has
// connected.
func benchRun(b *testing.B, dsn string, engine *cdc.Engine) *Source {
	b.Helper()
	src, err := New(&Options{DSN: dsn, Engine: engine, CreatePublication: true, CreateSlot: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				b.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(waitTimeout):
			b.Error("Run did not return")
		}
	})
	waitFor(b, waitTimeout, "the source to connect", func() bool {
		select {
		case err := <-done:
			done <- err // for the cleanup
			b.Fatalf("Run returned %v", err)
		default:
		}
		return src.Confirmed() > 0
	})
	return src
}

// benchWALPosition returns the server's current WAL position.
func benchWALPosition(b *testing.B, conn *pgx.Conn) pglogrepl.LSN {
	b.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), "SELECT pg_current_wal_lsn()::text").Scan(&s); err != nil {
		b.Fatal(err)
	}
	lsn, err := pglogrepl.ParseLSN(s)
	if err != nil {
		b.Fatal(err)
	}
	return lsn
}

// benchWaitConfirmed waits, looking every millisecond, until src has
// confirmed lsn, and returns when it saw it.
func benchWaitConfirmed(b *testing.B, src *Source, lsn pglogrepl.LSN, timeout time.Duration) time.Time {
	b.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if now := time.Now(); src.Confirmed() >= lsn {
			return now
		} else if now.After(deadline) {
			b.Fatalf("the source confirmed %v after %v, want %v", src.Confirmed(), timeout, lsn)
		}
		<-tick.C
	}
}

// benchLagTable is a table of the lag benchmark, with its cache.
type benchLagTable struct {
	name   string
	caches []*benchCache
	rows   int64 // ids 1..rows exist
	next   int64 // the next id to update: each op updates a row of its own
	// delete: the writer (instance 0) deletes the key once its UPDATE
	// returned; otherwise the source evicts it.
	delete bool
}

// reserve makes sure that n more rows exist, and waits until src has
// applied their inserts (evictions of keys not in L1 yet).
func (t *benchLagTable) reserve(b *testing.B, conn *pgx.Conn, src *Source, n int) {
	b.Helper()
	if t.next+int64(n)-1 <= t.rows {
		return
	}
	to := t.next + int64(n) + benchLagRows
	if _, err := conn.Exec(context.Background(), "INSERT INTO "+t.name+" (id) SELECT generate_series($1::int, $2::int)", t.rows+1, to); err != nil {
		b.Fatal(err)
	}
	t.rows = to
	benchWaitConfirmed(b, src, benchWALPosition(b, conn), waitTimeout)
}

// prime reads row id through every instance until its L1 holds it.
func (t *benchLagTable) prime(b *testing.B, id int64) {
	b.Helper()
	ctx := context.Background()
	k := strconv.FormatInt(id, 10)
	for i, c := range t.caches {
		for attempt := 0; ; attempt++ {
			if _, err := c.cache.Get(ctx, id); err != nil {
				b.Fatal(err)
			}
			c.l1.Wait()
			if _, ok := c.l1.Get(k); ok {
				break
			}
			if attempt == 10 {
				b.Fatalf("instance %d does not keep key %s in L1", i, k)
			}
		}
	}
}

// BenchmarkSource_Lag: the lag from the commit of a single-row UPDATE
// (the moment the autocommit UPDATE returns) until its key is gone from
// the L1 of every one of 4 instances of the cache of its table (each with
// its own Redis client, L2 over Redis and a redisbus with Keys), one
// UPDATE at a time on a row of its own, each op first reading the row
// into every L1 (not timed). Run with -benchtime=10000x: 10,000
// transactions.
//
//   - /cdc: the writer only UPDATEs. This source (default Options, the
//     visibility wait included) hands the change to a cdc.Engine whose
//     Target is a tiered.Invalidator on a Redis client and redisbus of its
//     own: a tombstone in L2, then a message that every instance applies
//     to its L1. Nothing in the writer knows of the cache.
//   - /baseline_delete: what a service writing through the cache gets: the
//     writer, instance 0, calls Cache.Delete of the key once its UPDATE
//     returned (L2 tombstone, its own L1, then the message to the other
//     three).
//
// Each variant has a table and a cache namespace of its own (items and
// item for /cdc, items_direct and direct for the baseline, which is not in
// the publication), so that the evictions of one never stand in for the
// other's; the source runs during both, so that both run beside the same
// walsender.
//
// Metrics, in µs from the commit: p50-µs, p99-µs and max-µs until every
// instance's L1 lost the key (the latest of the four evictions);
// first-p50-µs and first-p99-µs until the first did; delete-p50-µs and
// delete-p99-µs until the Delete that evicted it returned (the
// Invalidator's for /cdc, the writer's Cache.Delete for the baseline). An
// eviction before the UPDATE returned (the transaction is visible, and
// its change can be applied, before the commit's reply reaches the
// writer) counts as 0; the log line says how many transactions had one,
// and how many L1 flushes (which would evict every key) happened.
func BenchmarkSource_Lag(b *testing.B) {
	benchRequire(b)
	dsn, redisAddr := benchServers(b, fmt.Sprintf(`CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
CREATE TABLE items_direct (LIKE items INCLUDING ALL);
INSERT INTO items (id) SELECT generate_series(1, %[1]d);
INSERT INTO items_direct (id) SELECT generate_series(1, %[1]d);`, benchLagRows))
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	writer := benchConn(b, dsn)
	engine, target := benchInvalidator(b, redisAddr, cdc.Rule{Table: "public.items", Namespace: "item", Keys: []string{"{id}"}})
	src := benchRun(b, dsn, engine)
	variants := []struct {
		name string
		t    *benchLagTable
	}{
		{"baseline_delete", &benchLagTable{name: "items_direct", caches: benchCaches(b, redisAddr, pool, "direct", "items_direct"), rows: benchLagRows, next: 1, delete: true}},
		{"cdc", &benchLagTable{name: "items", caches: benchCaches(b, redisAddr, pool, "item", "items"), rows: benchLagRows, next: 1}},
	}
	for _, v := range variants {
		t := v.t
		update := "UPDATE " + t.name + " SET v = v + 1 WHERE id = $1"
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			t.reserve(b, writer, src, b.N)
			b.ReportAllocs()
			every := make([]time.Duration, 0, b.N)
			first := make([]time.Duration, 0, b.N)
			deleted := make([]time.Duration, 0, b.N)
			// Transactions whose first eviction (or Delete's return), and
			// whose last one, came before their UPDATE returned.
			earlyFirst, earlyAll := 0, 0
			since := func(commit, at time.Time) time.Duration { return max(at.Sub(commit), 0) }
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				id := t.next
				t.next++
				k := strconv.FormatInt(id, 10)
				t.prime(b, id)
				for _, c := range t.caches {
					c.l1.watch.Store(&k)
				}
				if !t.delete {
					target.watch.Store(&k)
				}
				b.StartTimer()

				if _, err := writer.Exec(ctx, update, id); err != nil {
					b.Fatal(err)
				}
				commit := time.Now()
				var del time.Time
				if t.delete {
					if err := t.caches[0].cache.Delete(ctx, id); err != nil {
						b.Fatal(err)
					}
					del = time.Now()
				}
				timeout := time.NewTimer(benchEvictTimeout)
				var lo, hi time.Time
				for i, c := range t.caches {
					select {
					case at := <-c.l1.evicted:
						if lo.IsZero() || at.Before(lo) {
							lo = at
						}
						if at.After(hi) {
							hi = at
						}
					case <-timeout.C:
						b.Fatalf("key %s did not leave instance %d's L1 within %v", k, i, benchEvictTimeout)
					}
				}
				if !t.delete {
					select {
					case del = <-target.returned:
					case <-timeout.C:
						b.Fatalf("the Invalidator did not delete key %s within %v", k, benchEvictTimeout)
					}
				}
				timeout.Stop()
				if lo.Before(commit) || del.Before(commit) {
					earlyFirst++
				}
				if hi.Before(commit) {
					earlyAll++
				}
				every = append(every, since(commit, hi))
				first = append(first, since(commit, lo))
				deleted = append(deleted, since(commit, del))
			}
			b.StopTimer()
			benchReportLag(b, "", every, true)
			benchReportLag(b, "first-", first, false)
			benchReportLag(b, "delete-", deleted, false)
			var flushes int64
			for _, c := range t.caches {
				s := c.stats.Snapshot()
				flushes += s.Get(stats.FlushGap) + s.Get(stats.FlushResubscribed) + s.Get(stats.FlushRemote) + s.Get(stats.Interrupted)
			}
			b.Logf("lag %s over %d transactions: every L1 p50 %v p99 %v max %v; first L1 p50 %v p99 %v; Delete returned p50 %v p99 %v; evicted before the UPDATE returned: in part %d, from every L1 %d; %d L1 flushes",
				v.name, b.N, benchQuantile(every, 0.5), benchQuantile(every, 0.99), benchQuantile(every, 1),
				benchQuantile(first, 0.5), benchQuantile(first, 0.99), benchQuantile(deleted, 0.5), benchQuantile(deleted, 0.99),
				earlyFirst, earlyAll, flushes)
		})
	}
}

// benchQuantile returns the q-quantile of sorted ds (0 when empty).
func benchQuantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1))]
}

// benchReportLag sorts ds and reports its median and 99th percentile (and
// maximum) in µs, as prefix+"p50-µs" and so on.
func benchReportLag(b *testing.B, prefix string, ds []time.Duration, withMax bool) {
	slices.Sort(ds)
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	b.ReportMetric(us(benchQuantile(ds, 0.5)), prefix+"p50-µs")
	b.ReportMetric(us(benchQuantile(ds, 0.99)), prefix+"p99-µs")
	if withMax {
		b.ReportMetric(us(benchQuantile(ds, 1)), prefix+"max-µs")
	}
}

// benchMemory is what runtime/metrics says of the process's memory: the
// heap's objects (live and not yet swept) and all the memory the runtime
// mapped.
type benchMemory struct{ heap, total uint64 }

// benchPeak samples the memory now (the baseline), then every 2 ms until
// the returned function is called, which returns the highest value of
// each sample.
func benchPeak() (baseline benchMemory, stop func() benchMemory) {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}}
	var peak benchMemory
	read := func() {
		metrics.Read(samples)
		peak.heap = max(peak.heap, samples[0].Value.Uint64())
		peak.total = max(peak.total, samples[1].Value.Uint64())
	}
	read()
	baseline = peak
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			read()
			select {
			case <-tick.C:
			case <-done:
				read()
				return
			}
		}
	}()
	return baseline, func() benchMemory {
		close(done)
		<-finished
		return peak
	}
}

// BenchmarkSource_BulkUpdate: one UPDATE of all 100,000 rows of a table,
// in one transaction, applied by the source through a cdc.Engine to a
// tiered.Invalidator on a real redis-server (a tombstone per key in L2 and
// the keys on the bus, cdc.DefaultBatchSize keys per Delete; no cache
// instance listens). Metrics of that one transaction:
//
//   - changes/s: 100,000 over the time from the commit (the UPDATE's
//     return) until Confirmed() reached the WAL position read right after
//     it: the source received, applied and confirmed every change;
//   - apply-ms: that time; update-ms: the UPDATE's own;
//   - peak-heap-MB: the highest heap (live and unswept objects, sampled
//     every 2 ms from the UPDATE's start until then) above the heap after
//     a GC before the UPDATE, in MiB, for the whole process (source,
//     engine, Invalidator and their clients);
//   - ns/op, B/op, allocs/op: of the whole update, from its start.
//
// Each call makes one bulk UPDATE, whatever b.N: run it with
// -benchtime=1x (more would take seconds per op, on a table that grows by
// one version of each row per op).
func BenchmarkSource_BulkUpdate(b *testing.B) {
	benchRequire(b)
	dsn, redisAddr := benchServers(b, fmt.Sprintf(`CREATE TABLE bulk (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
INSERT INTO bulk (id) SELECT generate_series(1, %d);`, benchBulkRows), "VACUUM ANALYZE bulk")
	engine, target := benchInvalidator(b, redisAddr, cdc.Rule{Table: "public.bulk", Namespace: "bulk", Keys: []string{"{id}"}})
	src := benchRun(b, dsn, engine)
	writer := benchConn(b, dsn)
	ctx := context.Background()
	b.ReportAllocs()

	benchWaitConfirmed(b, src, benchWALPosition(b, writer), waitTimeout)
	keys, busy := target.keys.Load(), target.busy.Load()
	target.first.Store(nil)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	base, stop := benchPeak()
	b.ResetTimer()
	start := time.Now()
	if _, err := writer.Exec(ctx, "UPDATE bulk SET v = v + 1"); err != nil {
		b.Fatal(err)
	}
	commit := time.Now()
	applied := benchWaitConfirmed(b, src, benchWALPosition(b, writer), benchBulkTimeout)
	b.StopTimer()
	peak := stop()
	runtime.ReadMemStats(&after)

	if n := target.keys.Load() - keys; n < benchBulkRows {
		b.Fatalf("%d keys evicted, want %d", n, benchBulkRows)
	}
	apply := applied.Sub(commit)
	mib := func(n uint64) float64 { return float64(n) / (1 << 20) }
	b.ReportMetric(benchBulkRows/apply.Seconds(), "changes/s")
	b.ReportMetric(float64(apply.Microseconds())/1e3, "apply-ms")
	b.ReportMetric(float64(commit.Sub(start).Microseconds())/1e3, "update-ms")
	b.ReportMetric(mib(peak.heap-base.heap), "peak-heap-MB")
	b.ReportMetric(float64(applied.Sub(start).Nanoseconds()), "ns/op")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc), "B/op")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs), "allocs/op")
	b.Logf("bulk UPDATE of %d rows: UPDATE %v, then applied in %v (%.0f changes/s): first Delete %v after the commit, last returned %v after it, %v spent in Delete; heap %.1f MiB before, peak %.1f MiB; memory mapped by the runtime %.1f MiB before, peak %.1f MiB",
		benchBulkRows, commit.Sub(start).Round(time.Millisecond), apply.Round(time.Millisecond), benchBulkRows/apply.Seconds(),
		target.first.Load().Sub(commit).Round(time.Millisecond), target.last.Load().Sub(commit).Round(time.Millisecond),
		time.Duration(target.busy.Load()-busy).Round(time.Millisecond),
		mib(base.heap), mib(peak.heap), mib(base.total), mib(peak.total))
}
