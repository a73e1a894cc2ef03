package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// A read-through cache: the loader runs on a miss, once per key.
func ExampleNew() {
	ctx := context.Background()
	shared := memstore.New(nil) // in production: redisstore.New(rdb, nil)
	var st stats.Counter
	users, err := tiered.New(&tiered.Options[int64, string]{
		Name: "user",
		L2:   shared,
		TTL:  time.Hour,
		Loader: loader.Func[int64, string](func(ctx context.Context, id int64) (string, error) {
			if id == 0 {
				return "", tiered.ErrNotFound
			}
			return fmt.Sprintf("user-%d", id), nil
		}),
		Stats: &st,
	})
	if err != nil {
		panic(err)
	}
	defer func() { _ = users.Close() }()

	name, err := users.Get(ctx, 42)
	fmt.Println(name, err)
	_, err = users.Get(ctx, 0)
	fmt.Println(errors.Is(err, tiered.ErrNotFound))
	fmt.Println("loads:", st.Snapshot().Loads())
	// Output:
	// user-42 <nil>
	// true
	// loads: 2
}

// Cache-aside: no loader; the caller fills the cache after a miss.
func ExampleCache_Set() {
	ctx := context.Background()
	c, err := tiered.New(&tiered.Options[string, int]{Name: "counter", L2: memstore.New(nil)})
	if err != nil {
		panic(err)
	}
	defer func() { _ = c.Close() }()

	_, err = c.Get(ctx, "visits")
	fmt.Println(errors.Is(err, tiered.ErrMiss))
	if err := c.Set(ctx, "visits", 7); err != nil {
		panic(err)
	}
	v, err := c.Get(ctx, "visits")
	fmt.Println(v, err)
	// Output:
	// true
	// 7 <nil>
}

// GetMany with a batch loader: one call for every miss.
func ExampleCache_GetMany() {
	ctx := context.Background()
	c, err := tiered.New(&tiered.Options[int, string]{
		Name: "sq",
		L2:   memstore.New(nil),
		BatchLoader: loader.BatchFunc[int, string](func(ctx context.Context, ids []int) (map[int]string, error) {
			fmt.Println("batch of", len(ids))
			out := make(map[int]string, len(ids))
			for _, id := range ids {
				out[id] = fmt.Sprint(id * id)
			}
			return out, nil
		}),
	})
	if err != nil {
		panic(err)
	}
	defer func() { _ = c.Close() }()
	m, err := c.GetMany(ctx, []int{2, 3, 4})
	fmt.Println(m, err)
	// Output:
	// batch of 3
	// map[2:4 3:9 4:16] <nil>
}

// Two instances share an L2 and a bus: a write on one drops the key from
// the other's L1. In production each instance has its own
// redisbus.New(rdb, nil); invalidate.Hub connects buses in one process.
func ExampleOptions_bus() {
	ctx := context.Background()
	shared, hub := memstore.New(nil), invalidate.NewHub()
	newInstance := func(id string) *tiered.Cache[string, string] {
		c, err := tiered.New(&tiered.Options[string, string]{Name: "greeting", L2: shared, Bus: hub.NewBus(id)})
		if err != nil {
			panic(err)
		}
		return c
	}
	a, b := newInstance("a"), newInstance("b")
	defer func() { _ = a.Close() }()
	defer func() { _ = b.Close() }()

	_ = a.Set(ctx, "en", "hello")
	v, _ := b.Get(ctx, "en") // from L2, now in b's L1 too
	fmt.Println(v)
	_ = a.Set(ctx, "en", "hi") // evicts b's copy
	v, _ = b.Get(ctx, "en")
	fmt.Println(v)
	// Output:
	// hello
	// hi
}

// Tags group keys for one invalidation across L2 and every instance's L1.
func ExampleCache_InvalidateTags() {
	ctx := context.Background()
	products, err := tiered.New(&tiered.Options[int64, string]{Name: "product", L2: memstore.New(nil)})
	if err != nil {
		panic(err)
	}
	defer func() { _ = products.Close() }()

	_ = products.SetTagged(ctx, 1, "mug", "category:kitchen")
	_ = products.SetTagged(ctx, 2, "pan", "category:kitchen")
	_ = products.SetTagged(ctx, 3, "book", "category:books")
	if err := products.InvalidateTags(ctx, "category:kitchen"); err != nil {
		panic(err)
	}
	for id := int64(1); id <= 3; id++ {
		v, err := products.Get(ctx, id)
		fmt.Println(id, v, errors.Is(err, tiered.ErrMiss))
	}
	// Output:
	// 1  true
	// 2  true
	// 3 book false
}

// Stale serving: when the source is down, a value past its expiry is served
// for up to StaleIfError instead of the loader's error.
func ExampleOptions_staleIfError() {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now } // a fake clock, for the example
	down := false
	prices, err := tiered.New(&tiered.Options[string, int]{
		Name:         "price",
		L2:           memstore.New(&memstore.Options{Now: clock}),
		TTL:          time.Minute,
		StaleIfError: time.Hour,
		Now:          clock,
		Loader: loader.Func[string, int](func(ctx context.Context, sku string) (int, error) {
			if down {
				return 0, errors.New("pricing service unavailable")
			}
			return 1999, nil
		}),
	})
	if err != nil {
		panic(err)
	}
	defer func() { _ = prices.Close() }()

	fmt.Println(prices.Get(ctx, "sku-1"))
	down = true
	now = now.Add(10 * time.Minute) // expired, within StaleIfError
	fmt.Println(prices.Get(ctx, "sku-1"))
	now = now.Add(2 * time.Hour) // beyond it
	_, err = prices.Get(ctx, "sku-1")
	fmt.Println(err)
	// Output:
	// 1999 <nil>
	// 1999 <nil>
	// tiered: price: load: pricing service unavailable
}

// Fail-safe: while the source is slow, a read that holds a value past its
// expiry (within StaleIfError) waits LoadSoftTimeout at most, then gets
// that value while the load goes on; and the source is asked once per
// FailSafeThrottle, not once per read.
func ExampleOptions_loadSoftTimeout() {
	ctx := context.Background()
	var now atomic.Int64 // a fake clock, for the example
	now.Store(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
	var calls atomic.Int32
	var slow atomic.Bool
	prices, err := tiered.New(&tiered.Options[string, int]{
		Name:             "price",
		L2:               memstore.New(&memstore.Options{Now: clock}),
		TTL:              time.Minute,
		StaleIfError:     time.Hour,
		LoadSoftTimeout:  20 * time.Millisecond,
		LoadTimeout:      5 * time.Second,
		FailSafeThrottle: 30 * time.Second,
		Now:              clock,
		Loader: loader.Func[string, int](func(ctx context.Context, sku string) (int, error) {
			calls.Add(1)
			if slow.Load() {
				<-ctx.Done() // the pricing service hangs until LoadTimeout
				return 0, ctx.Err()
			}
			return 1999, nil
		}),
	})
	if err != nil {
		panic(err)
	}
	defer func() { _ = prices.Close() }()

	fmt.Println(prices.Get(ctx, "sku-1"))
	slow.Store(true)
	now.Add(int64(10 * time.Minute)) // expired, within StaleIfError
	for range 3 {
		fmt.Println(prices.Get(ctx, "sku-1")) // the first after 20 ms, the others at once
	}
	fmt.Println("loader calls:", calls.Load())
	// Output:
	// 1999 <nil>
	// 1999 <nil>
	// 1999 <nil>
	// 1999 <nil>
	// loader calls: 2
}

// Per-call options: a read that never loads (Peek), and a value that lives
// shorter than the cache's TTL.
func ExampleCache_GetWith() {
	ctx := context.Background()
	sessions, err := tiered.New(&tiered.Options[string, string]{
		Name: "session",
		L2:   memstore.New(nil),
		TTL:  time.Hour,
		Loader: loader.Func[string, string](func(ctx context.Context, id string) (string, error) {
			return "loaded " + id, nil
		}),
	})
	if err != nil {
		panic(err)
	}
	defer func() { _ = sessions.Close() }()

	_, err = sessions.GetWith(ctx, "a", tiered.GetOptions{Peek: true})
	fmt.Println(err)
	_ = sessions.SetWith(ctx, "a", "login", tiered.SetOptions{TTL: 5 * time.Minute})
	fmt.Println(sessions.GetWith(ctx, "a", tiered.GetOptions{Peek: true}))
	// Output:
	// tiered: miss
	// login <nil>
}

// Adaptive caching: the loader decides how long what it loaded lives.
func ExampleAdapt() {
	ctx := context.Background()
	prices, err := tiered.New(&tiered.Options[string, int]{
		Name: "price",
		L2:   memstore.New(nil),
		TTL:  time.Hour,
		Loader: loader.Func[string, int](func(ctx context.Context, sku string) (int, error) {
			price, volatile := 1999, sku == "flash-sale"
			if a := tiered.Adapt(ctx); a != nil && volatile {
				a.TTL = 10 * time.Second // changes often: cache it briefly
				a.Tags = []string{"volatile"}
			}
			return price, nil
		}),
	})
	if err != nil {
		panic(err)
	}
	defer func() { _ = prices.Close() }()
	fmt.Println(prices.Get(ctx, "flash-sale"))
	// Output:
	// 1999 <nil>
}

// Write-through: the source of truth first, then the cache. A write the
// source refuses leaves the cache as it was.
func ExampleCache_WriteThrough() {
	ctx := context.Background()
	db := map[int64]string{1: "Ada"} // the source of truth
	users, err := tiered.New(&tiered.Options[int64, string]{
		Name: "user",
		L2:   memstore.New(nil), // in production: redisstore.New(rdb, nil)
		Loader: loader.Func[int64, string](func(ctx context.Context, id int64) (string, error) {
			if name, ok := db[id]; ok {
				return name, nil
			}
			return "", tiered.ErrNotFound
		}),
		Writer: tiered.WriterFunc[int64, string](func(ctx context.Context, ch tiered.Change[int64, string]) error {
			switch {
			case ch.Delete:
				delete(db, ch.Key)
			case ch.Value == "":
				return errors.New("name must not be empty")
			default:
				db[ch.Key] = ch.Value
			}
			return nil
		}),
	})
	if err != nil {
		panic(err)
	}
	defer func() { _ = users.Close() }()

	fmt.Println(users.WriteThrough(ctx, 1, "Ada Lovelace"))
	name, _ := users.Get(ctx, 1)
	fmt.Println(name, db[1])

	err = users.WriteThrough(ctx, 1, "")
	name, _ = users.Get(ctx, 1)
	fmt.Println(errors.Is(err, tiered.ErrWriteFailed), name)

	fmt.Println(users.DeleteThrough(ctx, 1))
	_, err = users.Get(ctx, 1)
	fmt.Println(errors.Is(err, tiered.ErrNotFound))
	// Output:
	// <nil>
	// Ada Lovelace Ada Lovelace
	// true Ada Lovelace
	// <nil>
	// true
}

// Write-behind: the write is served at once, and reaches the source of
// truth when the flusher runs (FlushBehind here; every Interval, or at
// once when a batch is full, otherwise). This one is in memory mode; set
// WriteBehindOptions.Queue (redisstore.NewQueue) for writes that survive
// the instance.
func ExampleCache_WriteBehind() {
	ctx := context.Background()
	db := map[int64]string{} // the source of truth
	var batches int
	users, err := tiered.New(&tiered.Options[int64, string]{
		Name: "user",
		L2:   memstore.New(nil), // in production: redisstore.New(rdb, nil)
		BatchWriter: tiered.BatchWriterFunc[int64, string](func(ctx context.Context, chs []tiered.Change[int64, string]) error {
			batches++
			for _, ch := range chs {
				db[ch.Key] = ch.Value
			}
			return nil
		}),
		WriteBehind: &tiered.WriteBehindOptions[int64, string]{Interval: time.Hour},
	})
	if err != nil {
		panic(err)
	}
	defer func() { _ = users.Close() }()

	for _, name := range []string{"Ada", "Ada L.", "Ada Lovelace"} {
		if err := users.WriteBehind(ctx, 1, name); err != nil {
			panic(err)
		}
	}
	name, _ := users.Get(ctx, 1)
	fmt.Printf("cache %q, source %q\n", name, db[1])

	if err := users.FlushBehind(ctx); err != nil {
		panic(err)
	}
	fmt.Printf("source %q after %d batch\n", db[1], batches)
	// Output:
	// cache "Ada Lovelace", source ""
	// source "Ada Lovelace" after 1 batch
}
