package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/redisstore"
)

func Example() {
	m := miniredis.NewMiniRedis() // stands in for a real server
	if err := m.Start(); err != nil {
		panic(err)
	}
	defer m.Close()
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer func() { _ = rdb.Close() }()

	ctx := context.Background()
	store := redisstore.New(rdb, nil)
	if err := store.Set(ctx, "user:42", []byte(`{"name":"Ada"}`), 10*time.Minute); err != nil {
		panic(err)
	}
	v, err := store.Get(ctx, "user:42")
	fmt.Printf("%s %v\n", v, err)

	_, err = store.Get(ctx, "user:43")
	fmt.Println(errors.Is(err, l2.ErrMiss))

	vals, err := store.GetMany(ctx, []string{"user:43", "user:42"})
	fmt.Printf("%q %v\n", vals, err)

	fmt.Println(m.Keys()) // the Redis keys
	// Output:
	// {"name":"Ada"} <nil>
	// true
	// ["" "{\"name\":\"Ada\"}"] <nil>
	// [{tc:user:42}]
}

func ExampleStore_Key() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer func() { _ = rdb.Close() }()
	store := redisstore.New(rdb, &redisstore.Options{Prefix: "app1:"})
	fmt.Println(store.Key("user:42"))
	// A companion key shares the hash tag, hence the Cluster slot.
	fmt.Println(store.Key("user:42") + ":lease")
	// Output:
	// {app1:user:42}
	// {app1:user:42}:lease
}
