package redisstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2/redisstore"
)

// Memory reads every node of a Cluster; Warnings says what the production
// checklist asks to fix.
func ExampleMemory() {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"redis-0:6379", "redis-1:6379"}})
	defer func() { _ = rdb.Close() }()

	nodes, err := redisstore.Memory(context.Background(), rdb)
	if err != nil {
		log.Printf("some nodes did not answer: %v", err) // the others are in nodes
	}
	for _, n := range nodes {
		fmt.Printf("%s %s: %d of %d bytes (%s), %d evicted\n", n.Addr, n.Role, n.Used, n.MaxMemory, n.Policy, n.EvictedKeys)
		for _, w := range n.Warnings() {
			log.Print(w)
		}
	}
}

func ExampleNodeMemory_Warnings() {
	m := redisstore.NodeMemory{Addr: "10.0.0.7:6379", Role: "master", Policy: "noeviction"}
	for _, w := range m.Warnings() {
		fmt.Println(w)
	}
	m = redisstore.NodeMemory{Addr: "10.0.0.7:6379", Role: "master", MaxMemory: 4 << 30, Policy: "volatile-lru"}
	fmt.Println(len(m.Warnings()))
	// Output:
	// redis 10.0.0.7:6379 (master): maxmemory is not set: Redis grows until the host runs out of memory and never evicts; set maxmemory, with a volatile-* policy (volatile-lru or volatile-lfu)
	// redis 10.0.0.7:6379 (master): maxmemory-policy is noeviction: once memory is full, Redis refuses writes (OOM) instead of evicting cached values; use volatile-lru or volatile-lfu
	// 0
}
