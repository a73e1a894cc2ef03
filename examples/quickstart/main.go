// Command quickstart runs a small service-like program on a two-tier cache:
// a slow fake database behind tiered.Cache, two instances sharing one Redis,
// and the per-tier hit counts at the end.
//
// It uses an embedded Redis (miniredis) unless REDIS_ADDR names a real one:
//
//	go run ./examples/quickstart
//	REDIS_ADDR=127.0.0.1:6379 go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Product is what the fake database stores.
type Product struct {
	ID    int64
	Name  string
	Price int64 // cents
	Tags  []string
}

// slowDB is the source of truth: every query takes 20 ms.
type slowDB struct{ queries atomic.Int64 }

func (db *slowDB) Product(ctx context.Context, id int64) (Product, error) {
	db.queries.Add(1)
	select {
	case <-time.After(20 * time.Millisecond):
	case <-ctx.Done():
		return Product{}, ctx.Err()
	}
	if id > 100 {
		return Product{}, fmt.Errorf("product %d: %w", id, tiered.ErrNotFound)
	}
	return Product{ID: id, Name: fmt.Sprintf("product-%d", id), Price: 100 * id, Tags: []string{"demo"}}, nil
}

// took formats the time since start for the demo: ms for loads, µs for hits.
func took(start time.Time) string {
	d := time.Since(start)
	if d >= time.Millisecond {
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
}

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	addr := os.Getenv("REDIS_ADDR")
	where := "real Redis at " + addr
	if addr == "" {
		mr, err := miniredis.Run()
		if err != nil {
			return err
		}
		defer mr.Close()
		addr, where = mr.Addr(), "embedded Redis (miniredis)"
	}
	fmt.Println("L2:", where)

	db := &slowDB{}
	newInstance := func(st *stats.Counter) (*tiered.Cache[int64, Product], func(), error) {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		c, err := tiered.New(&tiered.Options[int64, Product]{
			Name:        "quickstart.product",
			L2:          redisstore.New(rdb, nil),
			TTL:         10 * time.Minute,
			L1TTL:       time.Minute,
			NotFoundTTL: 30 * time.Second,
			Loader:      loader.Func[int64, Product](db.Product),
			Stats:       st,
		})
		if err != nil {
			_ = rdb.Close()
			return nil, nil, err
		}
		return c, func() { _ = c.Close(); _ = rdb.Close() }, nil
	}

	var statsA, statsB stats.Counter
	a, closeA, err := newInstance(&statsA)
	if err != nil {
		return err
	}
	defer closeA()
	b, closeB, err := newInstance(&statsB)
	if err != nil {
		return err
	}
	defer closeB()

	// Instance A: cold reads load from the database once per key (and
	// clean up anything an earlier run left in a real Redis).
	if err := a.Delete(ctx, 1, 2, 3, 404); err != nil {
		return err
	}
	for _, id := range []int64{1, 2, 3, 1, 2, 3, 1} {
		start := time.Now()
		p, err := a.Get(ctx, id)
		if err != nil {
			return err
		}
		fmt.Printf("A get %d -> %-10s %8v\n", id, p.Name, took(start))
	}

	// Instance B has its own L1: its first reads come from L2, not the DB.
	for _, id := range []int64{1, 2, 3} {
		start := time.Now()
		p, err := b.Get(ctx, id)
		if err != nil {
			return err
		}
		fmt.Printf("B get %d -> %-10s %8v\n", id, p.Name, took(start))
	}

	// A missing product is loaded once, then answered from the cache.
	for range 2 {
		if _, err := b.Get(ctx, 404); !errors.Is(err, tiered.ErrNotFound) {
			return fmt.Errorf("want ErrNotFound, got %v", err) //nolint:errorlint // err is nil when the product was found, and %w would print %!w(<nil>)
		}
	}
	fmt.Println("B get 404 -> not found (cached for 30s)")

	// A write on A is read back by A at once.
	if err := a.Set(ctx, 2, Product{ID: 2, Name: "renamed", Price: 1}); err != nil {
		return err
	}
	p, err := a.Get(ctx, 2)
	if err != nil {
		return err
	}
	fmt.Printf("A set 2, get 2 -> %s\n", p.Name)

	fmt.Printf("\ndatabase queries: %d\n", db.queries.Load())
	for _, inst := range []struct {
		name string
		s    stats.Snapshot
	}{{"A", statsA.Snapshot()}, {"B", statsB.Snapshot()}} {
		fmt.Printf("instance %s: L1 hits %d, L1 misses %d, L2 hits %d, L2 misses %d, loads %d\n",
			inst.name, inst.s.Get(stats.L1Hit), inst.s.Get(stats.L1Miss),
			inst.s.Get(stats.L2Hit), inst.s.Get(stats.L2Miss), inst.s.Loads())
	}
	return nil
}
