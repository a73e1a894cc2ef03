// Command invalidation runs two instances of a service in one program, each
// with its own Redis client, its own invalidation bus (redisbus) and its own
// tiered.Cache over one shared fake database, and shows how a write on one
// instance drops the key from the other's L1: Set, Delete and tags.
//
// It uses an embedded Redis (miniredis) unless REDIS_ADDR names a real one:
//
//	go run ./examples/invalidation
//	REDIS_ADDR=127.0.0.1:6379 go run ./examples/invalidation
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l1"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Product is a row of the fake database.
type Product struct {
	ID      int64
	Name    string
	Price   int64 // cents
	Version int64 // bumped by every update of the row
}

func (p Product) String() string {
	return fmt.Sprintf("%s v%d $%d.%02d", p.Name, p.Version, p.Price/100, p.Price%100)
}

// fakeDB is the source of truth that both instances share.
type fakeDB struct {
	mu      sync.Mutex
	rows    map[int64]Product
	queries int
}

func newFakeDB() *fakeDB {
	db := &fakeDB{rows: make(map[int64]Product)}
	for _, p := range []Product{
		{ID: 1, Name: "Gopher mug", Price: 1200},
		{ID: 2, Name: "Go book", Price: 4000},
		{ID: 3, Name: "Redis book", Price: 3500},
		{ID: 4, Name: "SQL book", Price: 2500},
	} {
		p.Version = 1
		db.rows[p.ID] = p
	}
	return db
}

// Product reads a row: it is the caches' loader, one query per call.
func (db *fakeDB) Product(_ context.Context, id int64) (Product, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.queries++
	p, ok := db.rows[id]
	if !ok {
		return Product{}, fmt.Errorf("product %d: %w", id, tiered.ErrNotFound)
	}
	return p, nil
}

// Update applies change to row id, bumps its version and returns the row.
func (db *fakeDB) Update(id int64, change func(*Product)) Product {
	db.mu.Lock()
	defer db.mu.Unlock()
	p := db.rows[id]
	change(&p)
	p.Version++
	db.rows[id] = p
	return p
}

// Queries returns how many times the loader read the database.
func (db *fakeDB) Queries() int {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.queries
}

// instance is one copy of the service: its own Redis client, bus and cache.
type instance struct {
	name  string
	rdb   *redis.Client
	bus   *redisbus.Bus
	l1    *l1.Ristretto
	stats *stats.Counter
	cache *tiered.Cache[int64, Product]
}

func newInstance(addr, name string, db *fakeDB) (*instance, error) {
	in := &instance{name: name, stats: &stats.Counter{}}
	in.rdb = redis.NewClient(&redis.Options{Addr: addr})
	var err error
	in.bus, err = redisbus.New(in.rdb, &redisbus.Options{
		ID: "instance-" + strings.ToLower(name),
		// Messages are authenticated with a key every instance shares, so
		// that nobody else who can PUBLISH on the channel is heard. Load it
		// from your secret store; this one is for the example only.
		Keys: [][]byte{[]byte("example only: not a secret key!!")},
		// The last 10,000 messages stay in a Redis stream beside the
		// channel: a subscription that breaks (a network blip, a
		// failover) replays what it missed instead of flushing L1.
		LogLength: 10_000,
	})
	if err != nil {
		_ = in.rdb.Close()
		return nil, err
	}
	// The default L1, made here so that get can wait for it (see get).
	// The cache owns it and closes it.
	in.l1, err = l1.NewRistretto(l1.Options{})
	if err != nil {
		_ = in.bus.Close()
		_ = in.rdb.Close()
		return nil, err
	}
	in.cache, err = tiered.New(&tiered.Options[int64, Product]{
		Name:   "invalidation.product",
		L1:     in.l1,
		L2:     redisstore.New(in.rdb, nil),
		Bus:    in.bus,
		Loader: loader.Func[int64, Product](db.Product),
		Stats:  in.stats,
	})
	if err != nil {
		in.l1.Close()
		_ = in.bus.Close()
		_ = in.rdb.Close()
		return nil, err
	}
	return in, nil
}

// Close closes the cache (it unsubscribes from the bus), then the bus
// (which does not close the client), then the client.
func (in *instance) Close() {
	_ = in.cache.Close()
	_ = in.bus.Close()
	_ = in.rdb.Close()
}

// get reads id and says where the value came from, by the counter the read
// moved.
func (in *instance) get(ctx context.Context, id int64) (Product, string, error) {
	before := in.stats.Snapshot()
	p, err := in.cache.Get(ctx, id)
	// L1 (ristretto) makes a new entry visible asynchronously: wait for
	// it, so that the next Get of id is an L1 hit for sure.
	in.l1.Wait()
	after := in.stats.Snapshot()
	from := "?"
	switch {
	case after.Get(stats.L1Hit) > before.Get(stats.L1Hit):
		from = "L1"
	case after.Get(stats.L2Hit) > before.Get(stats.L2Hit):
		from = "L2"
	case after.Loads() > before.Loads():
		from = "database"
	}
	return p, from, err
}

// count returns the instance's total of ev.
func (in *instance) count(ev stats.Event) int64 { return in.stats.Snapshot().Get(ev) }

// waitFor polls the counter of ev until it reaches want, and fails after
// 5 s. Invalidations arrive asynchronously: the program waits for the
// receiving instance to count them rather than sleeping.
func (in *instance) waitFor(ctx context.Context, ev stats.Event, want int64) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		got := in.count(ev)
		if got >= want {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("instance %s: %v is %d, want %d: %w", in.name, ev, got, want, ctx.Err())
		}
	}
}

const booksTag = "category:books"

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
	fmt.Println("L2 and bus:", where)

	db := newFakeDB()
	a, err := newInstance(addr, "A", db)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.waitFor(ctx, stats.Subscribed, 1); err != nil {
		return err
	}
	// Empty the namespace, which a real Redis may hold from an earlier
	// run. Flush publishes too: do it before B exists, so that B's
	// counters show only the steps below (A skips its own message).
	if err := a.cache.Flush(ctx); err != nil {
		return err
	}
	b, err := newInstance(addr, "B", db)
	if err != nil {
		return err
	}
	defer b.Close()
	// Whatever a cache holds before its subscription is in place may have
	// missed messages (it flushes its L1 then): start once both are.
	if err := b.waitFor(ctx, stats.Subscribed, 1); err != nil {
		return err
	}
	fmt.Println("A and B subscribed to", a.bus.Channel(a.cache.Name()))

	// read prints one Get of id on in.
	read := func(in *instance, id int64) error {
		p, from, err := in.get(ctx, id)
		if err != nil {
			return err
		}
		fmt.Printf("   %s get %d -> %-22s (%s)\n", in.name, id, p, from)
		return nil
	}

	fmt.Println("\n1. A and B read product 1, twice each")
	for _, in := range []*instance{a, a, b, b} {
		if err := read(in, 1); err != nil {
			return err
		}
	}
	fmt.Printf("   database queries %d, L1 hits: A %d, B %d\n",
		db.Queries(), a.count(stats.L1Hit), b.count(stats.L1Hit))

	fmt.Println("\n2. A updates product 1 in the database, then calls Set")
	p := db.Update(1, func(p *Product) { p.Price = 1500 })
	if err := a.cache.Set(ctx, 1, p); err != nil {
		return err
	}
	if err := b.waitFor(ctx, stats.ReceivedKeys, 1); err != nil {
		return err
	}
	fmt.Printf("   B received %d message, dropped %d key from its L1\n",
		b.count(stats.Received), b.count(stats.ReceivedKeys))
	if err := read(b, 1); err != nil {
		return err
	}

	fmt.Println("\n3. B updates product 1 in the database, then calls Delete")
	db.Update(1, func(p *Product) { p.Price = 900 })
	if err := b.cache.Delete(ctx, 1); err != nil {
		return err
	}
	if err := a.waitFor(ctx, stats.ReceivedKeys, 1); err != nil {
		return err
	}
	fmt.Printf("   A received %d message, dropped %d key from its L1\n",
		a.count(stats.Received), a.count(stats.ReceivedKeys))
	queries := db.Queries()
	if err := read(a, 1); err != nil {
		return err
	}
	fmt.Printf("   database queries %d -> %d\n", queries, db.Queries())

	books := []int64{2, 3, 4}
	fmt.Printf("\n4. A puts the books on sale: database, then SetTagged(%q); B reads them\n", booksTag)
	for _, id := range books {
		p := db.Update(id, func(p *Product) { p.Price = p.Price * 8 / 10 })
		if err := a.cache.SetTagged(ctx, id, p, booksTag); err != nil {
			return err
		}
	}
	// B drops each book from its L1 (where they are not yet) before it
	// reads them: wait for that, or a late message would evict them.
	if err := b.waitFor(ctx, stats.ReceivedKeys, 1+int64(len(books))); err != nil {
		return err
	}
	for _, id := range books {
		for range 2 {
			if err := read(b, id); err != nil {
				return err
			}
		}
	}
	fmt.Printf("   the sale ends: B updates the books in the database, then InvalidateTags(%q)\n", booksTag)
	for _, id := range books {
		db.Update(id, func(p *Product) { p.Price = p.Price * 10 / 8 })
	}
	msgs, keys := a.count(stats.Received), a.count(stats.ReceivedKeys)
	if err := b.cache.InvalidateTags(ctx, booksTag); err != nil {
		return err
	}
	if err := a.waitFor(ctx, stats.ReceivedKeys, keys+int64(len(books))); err != nil {
		return err
	}
	fmt.Printf("   A received %d message, dropped %d keys from its L1\n",
		a.count(stats.Received)-msgs, a.count(stats.ReceivedKeys)-keys)
	queries = db.Queries()
	for _, id := range books {
		for _, in := range []*instance{a, b} {
			if err := read(in, id); err != nil {
				return err
			}
		}
	}
	fmt.Printf("   database queries %d -> %d: one load per book, B reads it from L2\n", queries, db.Queries())

	// Every message comes back to its sender, which skips it. In this
	// program each Publish is sent alone (the next one starts after it
	// returns), so the senders skip as many as they published.
	fmt.Println("\n5. invalidation stats")
	for _, in := range []*instance{a, b} {
		if err := in.waitFor(ctx, stats.Skipped, in.count(stats.Published)); err != nil {
			return err
		}
		s := in.stats.Snapshot()
		var lag time.Duration
		if n := s.Get(stats.InvalidationLag); n > 0 {
			lag = s.Duration(stats.InvalidationLag) / time.Duration(n)
		}
		fmt.Printf("   %s: published %d, received %d messages (%d keys), skipped %d own, mean lag %v\n",
			in.name, s.Get(stats.Published), s.Get(stats.Received), s.Get(stats.ReceivedKeys),
			s.Get(stats.Skipped), lag.Round(time.Microsecond))
	}
	return nil
}
