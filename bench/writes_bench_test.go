package bench

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/pgtest"
	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/tiered"
)

// The write-pattern benchmark: writers draw ids from a Zipf distribution
// (s = writeZipfS) over writeKeys rows of one PostgreSQL table and write
// each through one of the patterns; a direct UPDATE (an upsert) of the row
// is the baseline.
const (
	writeKeys     = 10_000
	writeZipfS    = 1.1
	writeParallel = 8 // goroutines per GOMAXPROCS
)

// Row is the value of the write benchmark.
type Row struct {
	ID, Version int64
	Body        string
}

// pgWrites is the table of the benchmark, and its writers: one upsert
// per Write, one statement per WriteMany; calls counts both.
type pgWrites struct {
	pool  *pgxpool.Pool
	calls atomic.Int64
	rows  atomic.Int64
}

const upsertOne = `INSERT INTO items (id, version, body) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, body = EXCLUDED.body`

const upsertMany = `INSERT INTO items (id, version, body)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[])
ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, body = EXCLUDED.body`

func newPgWrites(b *testing.B, opts ...pgtest.Option) *pgWrites {
	b.Helper()
	pgtest.Require(b)
	srv := pgtest.NewServer(b, opts...)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, srv.DSN("postgres")+"&pool_max_conns=32")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE items (id bigint PRIMARY KEY, version bigint NOT NULL, body text NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO items SELECT g, 0, '' FROM generate_series(0, $1) g`, writeKeys-1); err != nil {
		b.Fatal(err)
	}
	return &pgWrites{pool: pool}
}

func (p *pgWrites) Write(ctx context.Context, ch tiered.Change[int64, Row]) error {
	p.calls.Add(1)
	p.rows.Add(1)
	_, err := p.pool.Exec(ctx, upsertOne, ch.Key, ch.Value.Version, ch.Value.Body)
	return err
}

func (p *pgWrites) WriteMany(ctx context.Context, chs []tiered.Change[int64, Row]) error {
	p.calls.Add(1)
	p.rows.Add(int64(len(chs)))
	ids := make([]int64, len(chs))
	versions := make([]int64, len(chs))
	bodies := make([]string, len(chs))
	for i, ch := range chs {
		ids[i], versions[i], bodies[i] = ch.Key, ch.Value.Version, ch.Value.Body
	}
	_, err := p.pool.Exec(ctx, upsertMany, ids, versions, bodies)
	return err
}

func (p *pgWrites) Load(ctx context.Context, id int64) (Row, error) {
	r := Row{ID: id}
	err := p.pool.QueryRow(ctx, `SELECT version, body FROM items WHERE id = $1`, id).Scan(&r.Version, &r.Body)
	return r, err
}

// BenchmarkWrite_Patterns measures accepted writes per second of each
// write pattern beside a direct UPDATE of the row, on a real PostgreSQL and
// a real redis-server, and for write-behind how many source calls and rows
// the flusher needed per accepted write (what coalescing and batching
// saved). PostgreSQL runs with fsync off (the test servers' default: a
// commit costs a round trip and CPU) and with fsync on (a commit waits for
// the disk, as in production).
func BenchmarkWrite_Patterns(b *testing.B) {
	for _, fsync := range []string{"off", "on"} {
		b.Run("fsync="+fsync, func(b *testing.B) {
			benchWritePatterns(b, newPgWrites(b, pgtest.Setting("fsync", fsync)))
		})
	}
}

func benchWritePatterns(b *testing.B, pg *pgWrites) {
	addr := redisAddr(b)
	body := strings.Repeat("x", 64)
	run := func(b *testing.B, write func(ctx context.Context, id, version int64) error) {
		var version atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(writeParallel)
		start := time.Now()
		b.ResetTimer()
		var seed atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			z := rand.NewZipf(rand.New(rand.NewSource(seed.Add(1))), writeZipfS, 1, writeKeys-1)
			ctx := context.Background()
			for pb.Next() {
				if err := write(ctx, int64(z.Uint64()), version.Add(1)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
	}
	b.Run("direct-UPDATE", func(b *testing.B) {
		before := pg.calls.Load()
		run(b, func(ctx context.Context, id, version int64) error {
			return pg.Write(ctx, tiered.Change[int64, Row]{Key: id, Value: Row{ID: id, Version: version, Body: body}})
		})
		b.ReportMetric(float64(pg.calls.Load()-before)/float64(b.N), "source-calls/op")
	})
	newCache := func(b *testing.B, behind *tiered.WriteBehindOptions[int64, Row]) *tiered.Cache[int64, Row] {
		client := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 64})
		b.Cleanup(func() { _ = client.Close() })
		bus, err := redisbus.New(client, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = bus.Close() })
		c, err := tiered.New(&tiered.Options[int64, Row]{
			Name: "items", L2: redisstore.New(client, nil), Bus: bus, Loader: pg, Writer: pg, BatchWriter: pg,
			MaxL2Calls: 64, WriteBehind: behind,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		return c
	}
	b.Run("write-through", func(b *testing.B) {
		c := newCache(b, nil)
		before := pg.calls.Load()
		run(b, func(ctx context.Context, id, version int64) error {
			return c.WriteThrough(ctx, id, Row{ID: id, Version: version, Body: body})
		})
		b.ReportMetric(float64(pg.calls.Load()-before)/float64(b.N), "source-calls/op")
	})
	for _, durable := range []bool{false, true} {
		name := "write-behind-memory"
		if durable {
			name = "write-behind-durable"
		}
		b.Run(name, func(b *testing.B) {
			flush(b, addr)
			opts := &tiered.WriteBehindOptions[int64, Row]{MaxQueued: 1_000_000, Block: true, BatchSize: 500, Interval: 50 * time.Millisecond}
			if durable {
				client := redis.NewClient(&redis.Options{Addr: addr})
				b.Cleanup(func() { _ = client.Close() })
				q, err := redisstore.NewQueue(client, &redisstore.QueueOptions{Namespace: "items", Consumer: fmt.Sprint("bench-", b.N)})
				if err != nil {
					b.Fatal(err)
				}
				opts.Queue = q
			}
			c := newCache(b, opts)
			beforeCalls, beforeRows := pg.calls.Load(), pg.rows.Load()
			run(b, func(ctx context.Context, id, version int64) error {
				return c.WriteBehind(ctx, id, Row{ID: id, Version: version, Body: body})
			})
			fctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := c.FlushBehind(fctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(pg.calls.Load()-beforeCalls)/float64(b.N), "source-calls/op")
			b.ReportMetric(float64(pg.rows.Load()-beforeRows)/float64(b.N), "rows/op")
		})
	}
}
