package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/tiered"
)

// Product is a row of the products table, and the cached value.
type Product struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Price int64  `json:"price"` // cents
}

// productsTable is the table the fake database reports changes of, as
// PostgreSQL's logical replication would name it.
var productsTable = cdc.Table{Database: "shop", Schema: "public", Name: "products"}

// DB is the source of truth: an in-memory products table, ids 1..n at
// start. Every call costs about a millisecond (a timer, as a round trip to
// a database would), and is counted.
type DB struct {
	latency time.Duration
	calls   atomic.Int64

	mu   sync.Mutex
	rows map[int64]Product
}

// NewDB returns a database of n products.
func NewDB(n int, latency time.Duration) *DB {
	db := &DB{latency: latency, rows: make(map[int64]Product, n)}
	for id := range int64(n) {
		id++
		db.rows[id] = Product{ID: id, Name: "product-" + strconv.FormatInt(id, 10), Price: 100 + id%10_000}
	}
	return db
}

// Calls returns how many queries and writes the database served.
func (db *DB) Calls() int64 { return db.calls.Load() }

// roundTrip is the cost of one call: the database's latency, or ctx's
// end, whichever comes first.
func (db *DB) roundTrip(ctx context.Context) error {
	db.calls.Add(1)
	t := time.NewTimer(db.latency)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Product is the cache's Loader: SELECT ... WHERE id = $1.
func (db *DB) Product(ctx context.Context, id int64) (Product, error) {
	if err := db.roundTrip(ctx); err != nil {
		return Product{}, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	p, ok := db.rows[id]
	if !ok {
		return Product{}, fmt.Errorf("product %d: %w", id, tiered.ErrNotFound)
	}
	return p, nil
}

// Products is the cache's BatchLoader: SELECT ... WHERE id = ANY($1). Ids
// that have no row are left out of the map (not found).
func (db *DB) Products(ctx context.Context, ids []int64) (map[int64]Product, error) {
	if err := db.roundTrip(ctx); err != nil {
		return nil, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	out := make(map[int64]Product, len(ids))
	for _, id := range ids {
		if p, ok := db.rows[id]; ok {
			out[id] = p
		}
	}
	return out, nil
}

// Write is the cache's Writer, for WriteThrough and DeleteThrough: one
// UPSERT or DELETE.
func (db *DB) Write(ctx context.Context, ch tiered.Change[int64, Product]) error {
	return db.WriteMany(ctx, []tiered.Change[int64, Product]{ch})
}

// WriteMany is the cache's BatchWriter, for write-behind's flusher: one
// transaction for the whole batch. It stores each value exactly as given:
// the cache holds the value it wrote through, so a column that the
// database would fill in itself (a version, an updated_at) would make the
// two disagree until the next load.
func (db *DB) WriteMany(ctx context.Context, chs []tiered.Change[int64, Product]) error {
	if err := db.roundTrip(ctx); err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	for _, ch := range chs {
		if ch.Delete {
			delete(db.rows, ch.Key)
			continue
		}
		db.rows[ch.Key] = ch.Value
	}
	return nil
}

// BatchJob stands in for what changes rows behind the cache's back (a
// nightly repricing, an admin tool): every tick it changes the price of a
// few products straight in the database, and reports each change as a
// cdc.Event, with its commit time, to apply: what PostgreSQL's logical
// replication and invalidate/cdc/pgsource would deliver. Like a source,
// it keeps the changes that apply refused and sends them again at the next
// tick (evictions are idempotent). It returns when ctx ends.
func (db *DB) BatchJob(ctx context.Context, every time.Duration, perTick, hottest int, apply func(context.Context, []cdc.Event) error) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var pending []cdc.Event
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pending = append(pending, db.reprice(perTick, hottest)...)
		if err := apply(ctx, pending); err == nil {
			pending = pending[:0]
		}
	}
}

// reprice changes the price of n products among the hottest ids (those
// the caches hold) and returns the changes. A product deleted meanwhile is
// left alone.
func (db *DB) reprice(n, hottest int) []cdc.Event {
	db.mu.Lock()
	defer db.mu.Unlock()
	events := make([]cdc.Event, 0, n)
	for range n {
		id := int64(rand.IntN(hottest)) + 1
		p, ok := db.rows[id]
		if !ok {
			continue
		}
		p.Price = max(0, p.Price+int64(rand.IntN(21))-10)
		db.rows[id] = p
		events = append(events, cdc.Event{
			Table:  productsTable,
			Op:     cdc.Update,
			After:  cdc.Row{"id": strconv.FormatInt(id, 10), "price": strconv.FormatInt(p.Price, 10)},
			Commit: time.Now(),
		})
	}
	return events
}
