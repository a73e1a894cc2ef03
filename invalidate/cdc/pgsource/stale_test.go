package pgsource

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// The acceptance run: staleRows rows, of which ids up to staleIDs exist
// at times; staleStatements INSERT, UPDATE and DELETE statements, each its
// own transaction, from staleWriters connections; staleInstances caches
// reading meanwhile.
const (
	staleRows       = 1000
	staleIDs        = 1200
	staleStatements = 10000
	staleWriters    = 4
	staleInstances  = 4
	staleReaders    = 2  // per instance
	staleHot        = 50 // half the statements and reads go to ids 1..staleHot
)

// staleBusKey authenticates the test's bus messages.
var staleBusKey = [][]byte{[]byte("pgsource stale test bus key, 32b")}

type staleRow struct {
	ID, V int64
	Note  string
}

// Acceptance: PostgreSQL, real Redis (one node and a 3+3 Cluster), 4
// cache instances on it, and this source as the only path from the
// database to the caches. 10,000 INSERT, UPDATE and DELETE statements run
// through plain SQL while the instances read the same rows, through
// loaders slowed on purpose after their SELECT, so that loads that read a
// row before a commit finish after its eviction. Once the writers stop and
// the source has applied the server's WAL position (and the last bus
// message has reached every instance), every instance's Get of every id
// returns the database's row, or ErrNotFound for a row that does not
// exist: 0 stale.
func TestStale_PostgreSQL(t *testing.T) {
	t.Parallel()
	t.Run("one-node", func(t *testing.T) {
		t.Parallel()
		srv := redistest.NewServer(t)
		staleRun(t, func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: srv.Addr()}) })
	})
	t.Run("cluster", func(t *testing.T) {
		t.Parallel()
		cl := redistest.NewCluster(t)
		staleRun(t, func() redis.UniversalClient { return redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()}) })
	})
}

// staleInstance is one cache instance of the run.
type staleInstance struct {
	cache *tiered.Cache[int64, staleRow]
	bus   *markBus
	stats *stats.Counter
}

func staleRun(t *testing.T, newClient func() redis.UniversalClient) {
	pg := newPG(t, fmt.Sprintf(`CREATE TABLE rows (id bigint PRIMARY KEY, v bigint NOT NULL, note text NOT NULL);
INSERT INTO rows SELECT i, 0, 'row ' || i FROM generate_series(1, %d) i;`, staleRows))
	ctx := t.Context()
	client := func() redis.UniversalClient {
		c := newClient()
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	db, err := pgxpool.New(ctx, pg.srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)

	// committed[id] counts the commits of id, evicted[id] the evictions
	// of its key that the engine finished; loads counts the loads, raced
	// those during which a commit of their row returned and an eviction of
	// it finished: loads that a tombstone alone must keep out of the cache.
	var committed, evicted [staleIDs + 1]atomic.Int64
	var writing [staleWriters]atomic.Int64 // the id each writer writes
	var loads, raced atomic.Int64
	load := loader.Func[int64, staleRow](func(ctx context.Context, id int64) (staleRow, error) {
		commits, evictions := committed[id].Load(), evicted[id].Load()
		var r staleRow
		err := db.QueryRow(ctx, "SELECT id, v, note FROM rows WHERE id = $1", id).Scan(&r.ID, &r.V, &r.Note)
		// The answer travels back while the writers go on.
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		loads.Add(1)
		if committed[id].Load() != commits && evicted[id].Load() != evictions {
			raced.Add(1)
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return r, tiered.ErrNotFound
		}
		return r, err
	})

	var instances []*staleInstance
	for i := range staleInstances {
		c := client()
		bus, err := redisbus.New(c, &redisbus.Options{Keys: staleBusKey, ID: fmt.Sprint("app-", i)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bus.Close() })
		in := &staleInstance{bus: &markBus{Bus: bus}, stats: &stats.Counter{}}
		in.cache, err = tiered.New(&tiered.Options[int64, staleRow]{Name: "row", L2: redisstore.New(c, nil), Bus: in.bus,
			Loader: load, Stats: in.stats, NotFoundTTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = in.cache.Close() })
		instances = append(instances, in)
	}
	c := client()
	bus, err := redisbus.New(c, &redisbus.Options{Keys: staleBusKey, ID: "cdc"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	inv, err := tiered.NewInvalidator(&tiered.InvalidatorOptions{Name: "row", L2: redisstore.New(c, nil), Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inv.Close() })
	cdcStats := &stats.Counter{}
	engine, err := cdc.New(&cdc.Options{
		Rules:   []cdc.Rule{{Table: "public.rows", Namespace: "row", Keys: []string{"{id}"}}},
		Targets: map[string]cdc.Target{"row": countedTarget{inv, &evicted}},
		Stats:   cdcStats,
	})
	if err != nil {
		t.Fatal(err)
	}
	src, err := New(pg.options(engine))
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, src)
	r.waitConnected(t)
	for _, in := range instances {
		waitFor(t, waitTimeout, "the subscriptions", func() bool { return in.stats.Snapshot().Get(stats.Subscribed) == 1 })
	}

	start := time.Now()
	stopReads := make(chan struct{})
	var reads atomic.Int64
	var readers sync.WaitGroup
	readErrs := make(chan error, staleInstances*staleReaders)
	for i, in := range instances {
		for k := range staleReaders {
			readers.Go(func() {
				rnd := rand.New(rand.NewPCG(uint64(i), uint64(k)))
				for n := 0; n < 200000; n++ { // bounded; the writers end it sooner
					select {
					case <-stopReads:
						return
					default:
					}
					id := pickID(rnd)
					if w := writing[rnd.IntN(staleWriters)].Load(); w > 0 && rnd.IntN(2) == 0 {
						id = w // the row a writer is writing
					}
					if _, err := in.cache.Get(ctx, id); err != nil && !errors.Is(err, tiered.ErrNotFound) {
						readErrs <- err
						return
					}
					reads.Add(1)
				}
			})
		}
	}
	counts, err := staleWrites(ctx, pg.srv.DSN("postgres"), &committed, &writing)
	close(stopReads)
	readers.Wait()
	if err != nil {
		t.Fatal(err)
	}
	close(readErrs)
	for err := range readErrs {
		t.Errorf("Get: %v", err)
	}
	written := time.Since(start)

	// The source applies the server's WAL position; then a marker sent
	// after every eviction reaches each instance: it has received every
	// eviction before it (pub/sub keeps one publisher's order).
	pg.waitApplied(r)
	if err := inv.Delete(ctx, "mark"); err != nil {
		t.Fatal(err)
	}
	for i, in := range instances {
		waitFor(t, waitTimeout, fmt.Sprintf("instance %d to receive the marker", i), func() bool { return in.bus.marked.Load() })
	}

	want := make(map[int64]staleRow)
	rows, err := db.Query(ctx, "SELECT id, v, note FROM rows")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var row staleRow
		if err := rows.Scan(&row.ID, &row.V, &row.Note); err != nil {
			t.Fatal(err)
		}
		want[row.ID] = row
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	stale := 0
	for i, in := range instances {
		for id := int64(1); id <= staleIDs; id++ {
			got, err := in.cache.Get(ctx, id)
			w, exists := want[id]
			switch {
			case exists && (err != nil || got != w):
				stale++
				if stale <= 10 {
					t.Errorf("instance %d: Get(%d) = %+v, %v; the database holds %+v (%d commits)", i, id, got, err, w, committed[id].Load())
				}
			case !exists && !errors.Is(err, tiered.ErrNotFound):
				stale++
				if stale <= 10 {
					t.Errorf("instance %d: Get(%d) = %+v, %v; the row does not exist (%d commits)", i, id, got, err, committed[id].Load())
				}
			}
		}
	}
	s := cdcStats.Snapshot()
	t.Logf("%d statements (%d INSERT, %d UPDATE, %d DELETE) in %v beside %d reads and %d loads (%d outlived a commit of their row and its eviction); source: %d changes applied; %d stale of %d reads after the source caught up",
		staleStatements, counts["insert"], counts["update"], counts["delete"], written.Round(time.Millisecond), reads.Load(), loads.Load(), raced.Load(),
		s.Get(stats.CDCApplied), stale, staleInstances*staleIDs)
}

// pickID returns an id: half the time one of the hot ones.
func pickID(rnd *rand.Rand) int64 {
	if rnd.IntN(2) == 0 {
		return 1 + rnd.Int64N(staleHot)
	}
	return 1 + rnd.Int64N(staleIDs)
}

// staleWrites runs staleStatements statements from staleWriters
// connections, each writer on the ids of its own (id % staleWriters),
// three in a row on each id it picks (so that a load set off by one
// eviction races the next commit): an INSERT of an id that does not
// exist, else an UPDATE or, one time in four, a DELETE. It counts each
// commit in committed[id], keeps the id writer w writes in writing[w],
// and returns the statements by kind.
func staleWrites(ctx context.Context, dsn string, committed *[staleIDs + 1]atomic.Int64, writing *[staleWriters]atomic.Int64) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*waitTimeout)
	defer cancel()
	var mu sync.Mutex
	counts := make(map[string]int)
	var wg sync.WaitGroup
	errs := make(chan error, staleWriters)
	for w := range staleWriters {
		wg.Go(func() {
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				errs <- err
				return
			}
			defer func() { _ = conn.Close(context.Background()) }()
			exists := make(map[int64]bool)
			for id := int64(1); id <= staleRows; id++ {
				exists[id] = true
			}
			rnd := rand.New(rand.NewPCG(uint64(w), 7))
			mine := make(map[string]int)
			var id int64
			for i := range staleStatements / staleWriters {
				if i%3 == 0 { // three statements in a row on one id
					id = pickID(rnd)
					id += (int64(w) - id%staleWriters + staleWriters) % staleWriters // the writer's own
					if id > staleIDs {
						id -= staleWriters
					}
					writing[w].Store(id)
				}
				var kind, sql string
				switch {
				case !exists[id]:
					kind, sql = "insert", "INSERT INTO rows (id, v, note) VALUES ($1, 0, 'new ' || $1::bigint)"
				case rnd.IntN(4) == 0:
					kind, sql = "delete", "DELETE FROM rows WHERE id = $1"
				default:
					kind, sql = "update", "UPDATE rows SET v = v + 1, note = 'updated ' || $1::bigint || ' at ' || clock_timestamp() WHERE id = $1"
				}
				if _, err := conn.Exec(ctx, sql, id); err != nil {
					errs <- fmt.Errorf("%s of %d: %w", kind, id, err)
					return
				}
				exists[id] = kind != "delete"
				committed[id].Add(1)
				mine[kind]++
			}
			mu.Lock()
			for k, n := range mine {
				counts[k] += n
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	return counts, <-errs
}

// markBus tells when its subscription received the key "mark".
type markBus struct {
	invalidate.Bus
	marked atomic.Bool
}

func (b *markBus) Subscribe(ns string, h invalidate.Handler) (func(), error) {
	return b.Bus.Subscribe(ns, markHandler{h, b})
}

type markHandler struct {
	invalidate.Handler
	b *markBus
}

func (h markHandler) Receive(m *invalidate.Message) {
	h.Handler.Receive(m)
	if !h.b.marked.Load() && strings.Contains(strings.Join(m.Keys, "\x00")+"\x00", "mark\x00") {
		h.b.marked.Store(true)
	}
}

// countedTarget counts, per id, the deletes of its key that returned.
type countedTarget struct {
	cdc.Target
	evicted *[staleIDs + 1]atomic.Int64
}

func (c countedTarget) Delete(ctx context.Context, keys ...string) error {
	if err := c.Target.Delete(ctx, keys...); err != nil {
		return err
	}
	for _, k := range keys {
		if id, err := strconv.Atoi(k); err == nil && id >= 0 && id <= staleIDs {
			c.evicted[id].Add(1)
		}
	}
	return nil
}
