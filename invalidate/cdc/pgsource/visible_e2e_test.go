package pgsource

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tiercache/tiercache/internal/pgtest"
	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// countingTarget counts the Delete calls that reach a Target.
type countingTarget struct {
	cdc.Target
	deletes atomic.Int64
}

func (c *countingTarget) Delete(ctx context.Context, keys ...string) error {
	c.deletes.Add(1)
	return c.Target.Delete(ctx, keys...)
}

// A committed transaction reaches the source before other sessions can see
// it. Here the gap is held open on purpose: the server waits for a
// synchronous standby that does not exist (synchronous_standby_names), so
// an UPDATE's commit is on disk, streamed, and invisible until its wait is
// cancelled. A cache that evicted the row on receipt would reload the old
// row at once and keep it; the source waits until the transaction is
// visible, and the cache serves the new row.
func TestSource_WaitsUntilVisible(t *testing.T) {
	t.Parallel()
	for _, skip := range []bool{false, true} {
		name := "wait"
		if skip {
			name = "SkipVisibilityWait"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stale := visibilityRace(t, skip)
			switch {
			case !skip && stale:
				t.Error("the cache served the old row after the source applied the update")
			case skip && !stale:
				// The race the wait closes, shown without it: if this
				// fails, the test no longer holds the gap open.
				t.Error("without the wait, the cache did not keep the old row: the test did not reproduce the race")
			}
		})
	}
}

// visibilityRace runs the race and reports whether the cache served the
// old row at the end.
func visibilityRace(t *testing.T, skip bool) (stale bool) {
	srv := pgtest.NewServer(t, pgtest.Setting("synchronous_standby_names", "ghost"), pgtest.Setting("synchronous_commit", "local"))
	ctx := t.Context()
	if _, err := srv.SQL(ctx, "postgres", "CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL); INSERT INTO items VALUES (1, 0);"); err != nil {
		t.Fatal(err)
	}
	pg := &pgEnv{t: t, srv: srv}
	pg.conn = pg.connect()
	db, err := pgxpool.New(ctx, srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	loads := loader.Func[int, int](func(ctx context.Context, id int) (int, error) {
		var v int
		err := db.QueryRow(ctx, "SELECT v FROM items WHERE id = $1", id).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, tiered.ErrNotFound
		}
		return v, err
	})
	hub := invalidate.NewHub()
	store := memstore.New(nil)
	t.Cleanup(func() { _ = store.Close() })
	var st stats.Counter
	cache, err := tiered.New(&tiered.Options[int, int]{Name: "item", L2: store, Bus: hub.NewBus("app"), Loader: loads, Stats: &st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	inv, err := tiered.NewInvalidator(&tiered.InvalidatorOptions{Name: "item", L2: store, Bus: hub.NewBus("cdc")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inv.Close() })
	target := &countingTarget{Target: inv}
	engine, err := cdc.New(&cdc.Options{
		Rules:   []cdc.Rule{{Table: "public.items", Namespace: "item", Keys: []string{"{id}"}}},
		Targets: map[string]cdc.Target{"item": target},
	})
	if err != nil {
		t.Fatal(err)
	}
	lg := &logs{}
	opts := pg.options(engine)
	opts.SkipVisibilityWait = skip
	opts.Logger = lg.logger()
	src, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, src)
	r.waitConnected(t)
	if v, err := cache.Get(ctx, 1); err != nil || v != 0 {
		t.Fatalf("Get(1) = %d, %v; want 0", v, err)
	}

	// The writer's commit waits for the standby: on disk, not visible.
	writer := make(chan error, 1)
	go func() {
		conn, err := pgx.Connect(ctx, srv.DSN("postgres"))
		if err != nil {
			writer <- err
			return
		}
		defer func() { _ = conn.Close(context.Background()) }()
		_, err = conn.Exec(ctx, "SET synchronous_commit = on; UPDATE items SET v = 1 WHERE id = 1")
		writer <- err
	}()
	waitFor(t, waitTimeout, "the UPDATE to wait for the standby", func() bool {
		var n int
		err := pg.conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'").Scan(&n)
		return err == nil && n == 1
	})
	// The source received it: it evicted the row (without the wait), or
	// it logs that it waits.
	waitFor(t, waitTimeout, "the source to evict the row or to say that it waits", func() bool {
		return target.deletes.Load() > 0 || lg.count("not visible yet") > 0
	})
	if target.deletes.Load() > 0 {
		// The eviction's message must have reached the cache before the
		// reload below: a load that a message overtakes keeps its value
		// out of both tiers (the generation guard), and the race would
		// not show.
		waitFor(t, waitTimeout, "the cache to hear the eviction", func() bool { return st.Snapshot().Get(stats.Received) > 0 })
	}
	if v, err := cache.Get(ctx, 1); err != nil || v != 0 { // a reload reads the old row
		t.Fatalf("Get(1) while the update is invisible = %d, %v; want 0", v, err)
	}
	pg.exec("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")
	if err := <-writer; err != nil {
		t.Fatalf("the UPDATE: %v", err)
	}
	pg.waitApplied(r)
	v, err := cache.Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after the source applied the update: Get(1) = %d (%d deletes)", v, target.deletes.Load())
	return v == 0
}
