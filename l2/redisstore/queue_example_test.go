package redisstore_test

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2/redisstore"
)

func ExampleNewQueue() {
	m := miniredis.NewMiniRedis() // stands in for a real server
	if err := m.Start(); err != nil {
		panic(err)
	}
	defer m.Close()
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer func() { _ = rdb.Close() }()

	ctx := context.Background()
	q, err := redisstore.NewQueue(rdb, &redisstore.QueueOptions{
		Namespace: "users",
		Consumer:  "host-1", // this instance's name among the readers
		Shards:    4,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(q.Keys()[0])

	seqs, _ := q.Add(ctx, []string{"user:42", "user:42"})
	fmt.Println(seqs[0] < seqs[1]) // a later write of a key, a larger number

	entries, _ := q.Read(ctx, 100)
	for _, e := range entries {
		fmt.Println(e.Key, e.Deliveries)
	}
	n, _, _ := q.Depth(ctx)
	fmt.Println(n) // read, not acknowledged yet

	_, _ = q.Ack(ctx, entries) // the writes are in the source of truth
	n, _, _ = q.Depth(ctx)
	fmt.Println(n)
	// Output:
	// {tc:users|wb|0}:queue
	// true
	// user:42 1
	// user:42 1
	// 2
	// 0
}
