package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/pgtest"
	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/internal/writecheck"
	"github.com/tiercache/tiercache/tiered"
)

// pgRows is a source of truth in a PostgreSQL table, rows (id, version).
// A write is a transaction that holds the row 0-1 ms before it commits,
// and one in ten rolls back instead (the source refuses it); concurrent
// transactions reach the table in whatever order PostgreSQL gives them.
type pgRows struct {
	pool    *pgxpool.Pool
	table   string
	refused sync.Map // versions rolled back
}

var errRolledBack = errors.New("the transaction was rolled back")

func newPgRows(t testing.TB, table string) *pgRows {
	t.Helper()
	pgtest.Require(t)
	srv := pgtest.NewServer(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, srv.DSN("postgres")+"&pool_max_conns=32")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (id bigint PRIMARY KEY, version bigint NOT NULL)", table)); err != nil {
		t.Fatal(err)
	}
	return &pgRows{pool: pool, table: table}
}

func (s *pgRows) Write(ctx context.Context, ch tiered.Change[int64, writecheck.Value]) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if ch.Delete {
			_, err = tx.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE id = $1", s.table), ch.Key)
		} else {
			_, err = tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s (id, version) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version", s.table), ch.Key, ch.Value.Version)
		}
		if err != nil {
			return err
		}
		if rand.IntN(10) == 0 {
			if !ch.Delete {
				s.refused.Store(ch.Value.Version, true)
			}
			return errRolledBack // BeginFunc rolls back
		}
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond) // the transaction holds the row a while
		return nil
	})
}

func (s *pgRows) Load(ctx context.Context, k int64) (writecheck.Value, error) {
	v, err := s.Row(ctx, k)
	switch {
	case err != nil:
		return writecheck.Value{}, err
	case v == 0:
		return writecheck.Value{}, tiered.ErrNotFound
	}
	return writecheck.Value{Key: k, Version: v}, nil
}

func (s *pgRows) Row(ctx context.Context, k int64) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, fmt.Sprintf("SELECT version FROM %s WHERE id = $1", s.table), k).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

func (s *pgRows) Refused(v int64) bool {
	_, ok := s.refused.Load(v)
	return ok
}

// The write-through check of package tiered (internal/writecheck) against a
// real PostgreSQL table and a real redis-server: 4 instances x 2 writers on
// 64 keys; after quiet every instance reads what the table holds, and no
// read ever sees a rolled-back value.
func TestWriteThrough_PostgreSQL(t *testing.T) {
	redistest.Require(t)
	src := newPgRows(t, "wt_rows")
	srv := redistest.NewServer(t)
	rep := writecheck.Run(t, writecheck.Config{
		NewClient: func(t *testing.T) redis.UniversalClient {
			c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			t.Cleanup(func() { _ = c.Close() })
			return c
		},
		Source:  src,
		BusKeys: [][]byte{[]byte("tiercache bench bus key, 32 byte")},
	})
	t.Log(rep)
}
