package rueidisstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l2/rueidisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// signals is a stats.Recorder that tells when its cache subscribed and
// when it applied another instance's message.
type signals struct {
	stats.Noop
	subscribed, received chan struct{}
}

func newSignals() *signals {
	return &signals{subscribed: make(chan struct{}, 1), received: make(chan struct{}, 16)}
}

func (s *signals) Add(ev stats.Event, _ int) {
	var ch chan struct{}
	switch ev {
	case stats.Subscribed:
		ch = s.subscribed
	case stats.Received:
		ch = s.received
	default:
		return
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

func await(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10s", what)
	}
}

// testPublish checks Store.Publish as the Publish of a redisbus.Bus on
// the servers at addrs: a write of one instance reaches the L1 of
// another, whose bus subscribed with go-redis (sharded on a Cluster) while
// the writer's messages went out on its store's rueidis connection.
func testPublish(t *testing.T, addrs []string, cluster bool) {
	var sub redis.UniversalClient
	if cluster {
		sub = redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	} else {
		sub = redis.NewClient(&redis.Options{Addr: addrs[0]})
	}
	t.Cleanup(func() { _ = sub.Close() })
	var version atomic.Int64
	version.Store(1)
	load := loader.Func[string, int64](func(context.Context, string) (int64, error) { return version.Load(), nil })

	var published, sharded atomic.Int64
	newCache := func(id string, sig *signals) *tiered.Cache[string, int64] {
		store := rueidisstore.New(newClient(t, addrs...), nil)
		bus, err := redisbus.New(sub, &redisbus.Options{ID: id, Publish: func(ctx context.Context, ch string, p []byte, sh bool) error {
			published.Add(1)
			if sh {
				sharded.Add(1)
			}
			return store.Publish(ctx, ch, p, sh)
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bus.Close() })
		c, err := tiered.New(&tiered.Options[string, int64]{Name: "pub", L2: store, Bus: bus, Loader: load, Stats: sig, TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		await(t, sig.subscribed, id+"'s subscription")
		return c
	}
	writer, reader := newCache("writer", newSignals()), newSignals()
	readerCache := newCache("reader", reader)

	ctx := context.Background()
	if v, err := readerCache.Get(ctx, "k"); err != nil || v != 1 {
		t.Fatalf("reader: Get = %d, %v; want 1", v, err)
	}
	version.Store(2)
	if err := writer.Set(ctx, "k", 2); err != nil {
		t.Fatal(err)
	}
	await(t, reader.received, "invalidation at the reader")
	if v, err := readerCache.Get(ctx, "k"); err != nil || v != 2 {
		t.Errorf("reader after the writer's Set: Get = %d, %v; want 2", v, err)
	}
	if published.Load() == 0 {
		t.Error("the writer's bus never called Store.Publish")
	}
	if want := published.Load(); cluster && sharded.Load() != want || !cluster && sharded.Load() != 0 {
		t.Errorf("%d of %d publishes sharded on cluster=%v", sharded.Load(), want, cluster)
	}
}
