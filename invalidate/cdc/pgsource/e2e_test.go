package pgsource

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
)

type user struct {
	ID        int64
	Email     string
	CompanyID int32
}

// Test 7: end to end. Two instances of a read-through cache of users
// (namespace "user", keyed by id: L1, a shared L2, a bus between them) and
// a CDC consumer (this source, a tiered.Invalidator as the engine's
// Target). A plain SQL UPDATE, which no cache hears of, changes rows: both
// instances serve the new rows afterwards.
func TestSource_EndToEnd(t *testing.T) {
	t.Parallel()
	const n = 20
	pg := newPG(t, fmt.Sprintf(`CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, company_id int NOT NULL);
INSERT INTO users SELECT i, 'old-' || i || '@example.com', i %% 3 FROM generate_series(1, %d) i;`, n))
	ctx := t.Context()
	db, err := pgxpool.New(ctx, pg.srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	load := loader.Func[int64, user](func(ctx context.Context, id int64) (user, error) {
		var u user
		err := db.QueryRow(ctx, "SELECT id, email, company_id FROM users WHERE id = $1", id).Scan(&u.ID, &u.Email, &u.CompanyID)
		if errors.Is(err, pgx.ErrNoRows) {
			return u, tiered.ErrNotFound
		}
		return u, err
	})

	hub := invalidate.NewHub()
	store := memstore.New(nil)
	t.Cleanup(func() { _ = store.Close() })
	var caches []*tiered.Cache[int64, user]
	for i := range 2 {
		c, err := tiered.New(&tiered.Options[int64, user]{Name: "user", L2: store, Bus: hub.NewBus(fmt.Sprintf("app-%d", i)), Loader: load})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		caches = append(caches, c)
	}
	inv, err := tiered.NewInvalidator(&tiered.InvalidatorOptions{Name: "user", L2: store, Bus: hub.NewBus("cdc")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inv.Close() })
	engine, err := cdc.New(&cdc.Options{
		Rules:   []cdc.Rule{{Table: "public.users", Namespace: "user", Keys: []string{"{id}"}}},
		Targets: map[string]cdc.Target{"user": inv},
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

	// Both instances cache the old rows.
	for _, c := range caches {
		for id := int64(1); id <= n; id++ {
			if u, err := c.Get(ctx, id); err != nil || u.Email != fmt.Sprintf("old-%d@example.com", id) {
				t.Fatalf("Get(%d) = %+v, %v; want the old row", id, u, err)
			}
		}
	}
	start := time.Now()
	pg.exec("UPDATE users SET email = 'new-' || id || '@example.com'")
	for i, c := range caches {
		for id := int64(1); id <= n; id++ {
			want := fmt.Sprintf("new-%d@example.com", id)
			waitFor(t, waitTimeout, fmt.Sprintf("instance %d to serve the new row %d", i, id), func() bool {
				u, err := c.Get(ctx, id)
				return err == nil && u.Email == want
			})
		}
	}
	t.Logf("both instances serve the %d new rows %v after the UPDATE", n, time.Since(start).Round(time.Millisecond))
}
