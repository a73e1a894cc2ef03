package redisbus_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/invalidate/redisbus"
)

// The channel of a namespace: Prefix (ending with ':'), Scope, and the
// database of the client's options when it is not 0. No client here
// connects.
func TestBus_Channel(t *testing.T) {
	t.Parallel()
	const addr = "127.0.0.1:1"
	single := func(db int) redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: addr, DB: db}) }
	tests := []struct {
		name   string
		client redis.UniversalClient
		opts   *redisbus.Options
		want   string
	}{
		{"default", single(0), nil, "tc:inv:user"},
		{"prefix", single(0), &redisbus.Options{Prefix: "app:"}, "app:user"},
		{"prefix without its colon", single(0), &redisbus.Options{Prefix: "tc:inv"}, "tc:inv:user"},
		{"scope", single(0), &redisbus.Options{Scope: "shop"}, "tc:inv:shop:user"},
		{"database 5", single(5), nil, "tc:inv:db5:user"},
		{"scope and database 12", single(12), &redisbus.Options{Scope: "shop", Prefix: "x"}, "x:shop:db12:user"},
		{"Sentinel, database 2", redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: "mymaster", SentinelAddrs: []string{addr}, DB: 2,
		}), nil, "tc:inv:db2:user"},
		{"Ring, database 3", redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": addr}, DB: 3}), nil, "tc:inv:db3:user"},
		{"Cluster", redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}}), &redisbus.Options{Scope: "shop"}, "tc:inv:shop:user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			t.Cleanup(func() { _ = tt.client.Close() })
			b := newBus(t, tt.client, tt.opts)
			if got := b.Channel("user"); got != tt.want {
				t.Errorf("Channel(user) = %q, want %q", got, tt.want)
			}
		})
	}
}
