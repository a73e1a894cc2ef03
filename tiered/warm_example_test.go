package tiered_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
)

// Warm a cache before it takes traffic: the first instance loads the keys
// from the database in batches; the next one finds them in L2.
func ExampleCache_Warm() {
	ctx := context.Background()
	shared := memstore.New(nil) // in production: redisstore.New(rdb, nil)
	db := loader.BatchFunc[int64, string](func(ctx context.Context, ids []int64) (map[int64]string, error) {
		out := make(map[int64]string, len(ids))
		for _, id := range ids {
			if id%100 != 0 { // every hundredth user does not exist
				out[id] = fmt.Sprint("user-", id)
			}
		}
		return out, nil
	})
	newInstance := func() *tiered.Cache[int64, string] {
		c, err := tiered.New(&tiered.Options[int64, string]{
			Name: "user", L2: shared, BatchLoader: db, NotFoundTTL: time.Minute,
		})
		if err != nil {
			panic(err)
		}
		return c
	}
	ids := func(yield func(int64) bool) { // e.g. the ids of yesterday's active users
		for id := range int64(1000) {
			if !yield(id) {
				return
			}
		}
	}

	a := newInstance()
	defer func() { _ = a.Close() }()
	p, err := a.Warm(ctx, ids, &tiered.WarmOptions{BatchSize: 250})
	fmt.Printf("a: %d keys, %d loaded, %d not found, %d source calls, %v\n", p.Keys, p.Loaded, p.NotFound, p.SourceCalls, err)

	b := newInstance()
	defer func() { _ = b.Close() }()
	p, err = b.Warm(ctx, ids, nil)
	fmt.Printf("b: %d keys, %d from L2, %d source calls, %v\n", p.Keys, p.FromL2, p.SourceCalls, err)
	// Output:
	// a: 1000 keys, 990 loaded, 10 not found, 4 source calls, <nil>
	// b: 1000 keys, 1000 from L2, 0 source calls, <nil>
}

// Record the most read keys, and warm them in the next instance: Close
// saves the list in L2, and WarmHot reads it back.
func ExampleCache_WarmHot() {
	ctx := context.Background()
	shared := memstore.New(nil)
	newInstance := func() *tiered.Cache[string, int] {
		c, err := tiered.New(&tiered.Options[string, int]{
			Name: "stock", L2: shared, HotKeys: 2,
			Loader: loader.Func[string, int](func(ctx context.Context, sku string) (int, error) { return len(sku), nil }),
			Rand:   func() float64 { return 0 }, // records every read here; by default one in DefaultHotKeysSample
		})
		if err != nil {
			panic(err)
		}
		return c
	}
	a := newInstance()
	for _, sku := range []string{"mug", "pan", "mug", "lid", "mug", "pan"} {
		_, _ = a.Get(ctx, sku)
	}
	_ = a.Close() // saves the list of hot keys

	b := newInstance()
	defer func() { _ = b.Close() }()
	hot, _ := b.HotKeys(ctx)
	fmt.Println(hot)
	p, err := b.WarmHot(ctx, nil)
	fmt.Printf("%d from L2, %d source calls, %v\n", p.FromL2, p.SourceCalls, err)
	// Output:
	// [mug pan]
	// 2 from L2, 0 source calls, <nil>
}
