// Command writebehind shows the two write patterns of tiered.Cache that
// write the database for you: write-through (the database first, then the
// cache) and durable write-behind (the cache at once, the database later,
// in batches, by whichever instance is alive).
//
// It uses an embedded Redis (miniredis) unless REDIS_ADDR names a real one:
//
//	go run ./examples/writebehind
//	REDIS_ADDR=127.0.0.1:6379 go run ./examples/writebehind
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/tiered"
)

// fakeDB is the source of truth: prices by product id. Each call takes
// 2 ms; a negative price violates a constraint.
type fakeDB struct {
	mu     sync.Mutex
	prices map[int64]int64
	calls  int
	rows   int
}

var errConstraint = errors.New("price must not be negative")

func (db *fakeDB) Load(_ context.Context, id int64) (int64, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	p, ok := db.prices[id]
	if !ok {
		return 0, tiered.ErrNotFound
	}
	return p, nil
}

func (db *fakeDB) WriteMany(ctx context.Context, chs []tiered.Change[int64, int64]) error {
	select {
	case <-time.After(2 * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	db.calls++
	for _, ch := range chs {
		if ch.Value < 0 {
			return errConstraint // the transaction rolls back
		}
	}
	for _, ch := range chs {
		db.rows++
		if ch.Delete {
			delete(db.prices, ch.Key)
		} else {
			db.prices[ch.Key] = ch.Value
		}
	}
	return nil
}

func (db *fakeDB) price(id int64) int64 {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.prices[id]
}

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	addr := os.Getenv("REDIS_ADDR")
	if addr == "" {
		mr, err := miniredis.Run()
		if err != nil {
			return err
		}
		defer mr.Close()
		addr = mr.Addr()
	}
	db := &fakeDB{prices: map[int64]int64{7: 1000}}

	// instance starts one service instance: its own Redis client, bus and
	// queue reader. Their flushers are held back (a long Interval) so that
	// the demo can show a write-behind queue with A gone; in a service
	// they write every 100 ms by default, and any instance's flusher writes
	// any instance's queued writes.
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	instance := func(name string) (*tiered.Cache[int64, int64], error) {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		closers = append(closers, func() { _ = rdb.Close() })
		bus, err := redisbus.New(rdb, &redisbus.Options{ID: name})
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() { _ = bus.Close() })
		queue, err := redisstore.NewQueue(rdb, &redisstore.QueueOptions{Namespace: "price", Consumer: name, ClaimAfter: time.Second})
		if err != nil {
			return nil, err
		}
		behind := &tiered.WriteBehindOptions[int64, int64]{
			Queue:    queue, // durable: Redis Streams
			Interval: time.Hour, BatchSize: 1_000_000,
		}
		return tiered.New(&tiered.Options[int64, int64]{
			Name:        "price",
			L2:          redisstore.New(rdb, nil),
			Bus:         bus,
			Loader:      db,
			BatchWriter: db,
			WriteBehind: behind,
		})
	}
	a, err := instance("A")
	if err != nil {
		return err
	}
	b, err := instance("B")
	if err != nil {
		return err
	}
	defer func() { _ = b.Close() }()

	fmt.Println("write-through: the database first, then the cache")
	if err := a.WriteThrough(ctx, 7, 1250); err != nil {
		return err
	}
	p, err := b.Get(ctx, 7)
	if err != nil {
		return err
	}
	fmt.Printf("  A WriteThrough(7, 1250) -> database %d, B reads %d\n", db.price(7), p)
	err = a.WriteThrough(ctx, 7, -5)
	p, _ = b.Get(ctx, 7)
	fmt.Printf("  A WriteThrough(7, -5)   -> %v; database %d, B reads %d\n", errors.Is(err, tiered.ErrWriteFailed), db.price(7), p)

	fmt.Println("write-behind: the cache at once, the database later")
	const writes, products = 1000, 20
	calls, rows := db.calls, db.rows // the write-through's
	for i := range writes {
		id := int64(100 + i%products)
		if err := a.WriteBehind(ctx, id, int64(i)); err != nil {
			return err
		}
	}
	p, err = b.Get(ctx, 107)
	if err != nil {
		return err
	}
	fmt.Printf("  A accepted %d price changes of %d products; B reads product 107 = %d, the database has %d (%d calls since)\n",
		writes, products, p, db.price(107), db.calls-calls)
	// A dies here, its writes still queued in Redis (no Close: Close would
	// have written them). B's flusher writes them (FlushBehind: now).
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := b.FlushBehind(fctx); err != nil {
		return err
	}
	fmt.Printf("  A is gone; B wrote them: product 107 = %d in the database, %d rows in %d call(s) for %d accepted writes\n",
		db.price(107), db.rows-rows, db.calls-calls, writes)
	for i := range products {
		id := int64(100 + i)
		if want := int64(writes - products + i); db.price(id) != want {
			return fmt.Errorf("product %d: the database has %d, the last accepted price was %d", id, db.price(id), want)
		}
	}
	return nil
}
