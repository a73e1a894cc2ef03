package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	defer users.Close()

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
	defer c.Close()

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
	defer c.Close()
	m, err := c.GetMany(ctx, []int{2, 3, 4})
	fmt.Println(m, err)
	// Output:
	// batch of 3
	// map[2:4 3:9 4:16] <nil>
}
