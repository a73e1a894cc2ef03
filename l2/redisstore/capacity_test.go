package redisstore_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2/redisstore"
)

// Capacity is the client's pool, or PipelinedCapacity when the store
// auto-pipelines; 0 for a client whose pool it does not know. No server
// is needed: nothing is sent.
func TestCapacity(t *testing.T) {
	t.Parallel()
	one := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", PoolSize: 7})
	t.Cleanup(func() { _ = one.Close() })
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, PoolSize: 9})
	t.Cleanup(func() { _ = cluster.Close() })
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	t.Cleanup(func() { _ = ring.Close() })
	deadlines := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", PoolSize: 7, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = deadlines.Close() })
	for _, tc := range []struct {
		name   string
		client redis.UniversalClient
		opts   *redisstore.Options
		want   int
	}{
		{"one node, pipelined", one, nil, redisstore.PipelinedCapacity},
		{"one node, NoAutoPipeline", one, &redisstore.Options{NoAutoPipeline: true}, 7},
		{"one node, ContextTimeoutEnabled", deadlines, nil, 7},
		{"cluster", cluster, nil, 9},
		{"ring", ring, nil, 0},
	} {
		if got := redisstore.New(tc.client, tc.opts).Capacity(); got != tc.want {
			t.Errorf("%s: Capacity() = %d, want %d", tc.name, got, tc.want)
		}
	}
}
