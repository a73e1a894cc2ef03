package kafkasource_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/invalidate/cdc"
	"github.com/tiercache/tiercache/invalidate/cdc/kafkasource"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
)

type user struct {
	ID   int64
	Name string
}

// Rows changed in the database reach every instance's cache through
// Debezium, Kafka, the Source and a tiered.Invalidator: both tiers of two
// instances serve the new rows.
func TestSourceEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n, instances = 50, 2
	var mu sync.Mutex
	db := make(map[int64]string) // the users table: id -> name
	for id := range int64(n) {
		db[id] = "v1"
	}
	load := loader.Func[int64, user](func(_ context.Context, id int64) (user, error) {
		mu.Lock()
		defer mu.Unlock()
		return user{ID: id, Name: db[id]}, nil
	})

	store := memstore.New(nil)
	t.Cleanup(func() { _ = store.Close() })
	hub := invalidate.NewHub()
	var caches []*tiered.Cache[int64, user]
	for range instances {
		c, err := tiered.New(&tiered.Options[int64, user]{Name: "user", L2: store, Bus: hub.NewBus(""), Loader: load})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		waitFor(t, 5*time.Second, "a subscription", func() bool { return c.Health().Subscribed })
		caches = append(caches, c)
	}
	read := func(c *tiered.Cache[int64, user], id int64) string {
		u, err := c.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get(%d): %v", id, err)
		}
		return u.Name
	}
	for _, c := range caches {
		for id := range int64(n) {
			if got := read(c, id); got != "v1" {
				t.Fatalf("Get(%d) = %q, want v1", id, got)
			}
		}
	}

	// Every row changes in the database; the caches hold the old rows.
	cluster := newCluster(t, 2, usersTopic)
	var records []*kgo.Record
	mu.Lock()
	for id := range int64(n) {
		db[id] = "v2"
		s := strconv.FormatInt(id, 10)
		records = append(records, record(usersTopic, int32(id%2), idKey(s),
			dbz("users", "u", fmt.Sprintf(`{"id":%s,"name":"v1"}`, s), fmt.Sprintf(`{"id":%s,"name":"v2"}`, s))))
	}
	mu.Unlock()
	produce(t, newProducer(t, cluster), records...)
	for _, c := range caches {
		if got := read(c, 0); got != "v1" {
			t.Fatalf("before the Source: Get(0) = %q, want the cached v1", got)
		}
	}

	iv, err := tiered.NewInvalidator(&tiered.InvalidatorOptions{Name: "user", L2: store, Bus: hub.NewBus("cdc")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iv.Close() })
	engine, err := cdc.New(&cdc.Options{
		Rules:   []cdc.Rule{{Table: "public.users", Namespace: "user", Keys: []string{"{id}"}}},
		Targets: map[string]cdc.Target{"user": iv},
	})
	if err != nil {
		t.Fatal(err)
	}
	run := start(t, newSource(t, cluster, kafkasource.Options{Group: "cache", Topics: []string{usersTopic}, Engine: engine}))
	waitFor(t, 10*time.Second, "every instance serving the new rows", func() bool {
		for _, c := range caches {
			for id := range int64(n) {
				if read(c, id) != "v2" {
					return false
				}
			}
		}
		return true
	})
	waitFor(t, 10*time.Second, "every offset committed", func() bool { return commitLag(cluster, "cache", usersTopic) == "" })
	run.stop(t)
}
