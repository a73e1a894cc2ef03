package rueidisstore_test

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/rueidis"

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
