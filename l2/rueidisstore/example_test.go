package rueidisstore_test

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l2/rueidisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
)

func Example() {
	srv, err := miniredis.Run() // an embedded Redis; use your server's address
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	cache, err := tiered.New(&tiered.Options[int64, string]{
		Name: "user",
		L2:   rueidisstore.New(client, nil),
		Loader: loader.Func[int64, string](func(_ context.Context, id int64) (string, error) {
			return fmt.Sprintf("user %d", id), nil
		}),
	})
	if err != nil {
		panic(err)
	}
	defer func() { _ = cache.Close() }()
	v, err := cache.Get(context.Background(), 42)
	fmt.Println(v, err)
	// Output: user 42 <nil>
}

// A bus that publishes its invalidations on the store's rueidis
// connection and subscribes with go-redis.
func ExampleStore_Publish() {
	srv, err := miniredis.Run() // an embedded Redis; use your server's address
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true})
	if err != nil {
		panic(err)
	}
	defer client.Close()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer func() { _ = rdb.Close() }()

	store := rueidisstore.New(client, nil)
	bus, err := redisbus.New(rdb, &redisbus.Options{Publish: store.Publish})
	if err != nil {
		panic(err)
	}
	defer func() { _ = bus.Close() }()
	cache, err := tiered.New(&tiered.Options[int64, string]{Name: "user", L2: store, Bus: bus})
	if err != nil {
		panic(err)
	}
	defer func() { _ = cache.Close() }()
	ctx := context.Background()
	fmt.Println(cache.Set(ctx, 42, "Ada")) // the invalidation goes out through store.Publish
	fmt.Println(cache.Get(ctx, 42))
	// Output:
	// <nil>
	// Ada <nil>
}
