package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// invalidatorTarget is an L2 and a bus factory for the Invalidator test:
// in memory, and on a real 3+3 Cluster.
type invalidatorTarget struct {
	name   string
	store  func() l2.Store
	newBus func(id string) invalidate.Bus
}

func invalidatorTargets(t *testing.T) []invalidatorTarget {
	hub := invalidate.NewHub()
	mem := memstore.New(nil)
	t.Cleanup(func() { _ = mem.Close() })
	targets := []invalidatorTarget{{
		name:   "memstore",
		store:  func() l2.Store { return mem },
		newBus: func(id string) invalidate.Bus { return hub.NewBus(id) },
	}}
	if !redistest.Enabled() {
		return targets
	}
	cl := redistest.NewCluster(t)
	newClient := func() *redis.ClusterClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	return append(targets, invalidatorTarget{
		name:  "cluster",
		store: func() l2.Store { return redisstore.New(newClient(), nil) },
		newBus: func(id string) invalidate.Bus {
			b, err := redisbus.New(newClient(), &redisbus.Options{Keys: testBusKeys, ID: id})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
			return b
		},
	})
}

// Item 12: a process without a typed cache (a CDC consumer) removes keys
// and tags of a namespace with the guarantees of Delete: gone from L2 and
// from every instance's L1, and a load that read the source before the
// removal does not write its older value back.
func TestInvalidator(t *testing.T) {
	for _, tg := range invalidatorTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := context.Background()
			const nkeys, ntags, instances = 1000, 10, 4
			var version atomic.Int64 // the source: every key's value is "v<version>"
			version.Store(1)
			gate := newOnceGate() // holds the first load of key -1
			load := loader.Func[int64, User](func(_ context.Context, id int64) (User, error) {
				u := User{ID: id, Name: "v" + strconv.FormatInt(version.Load(), 10)}
				if id == -1 {
					gate.pass()
				}
				return u, nil
			})
			var in []*tiered.Cache[int64, User]
			var l1s []*recordingL1
			for i := range instances {
				l1 := &recordingL1{}
				var st stats.Counter
				c, err := tiered.New(&tiered.Options[int64, User]{
					Name: "inv", L1: l1, L2: tg.store(), Bus: tg.newBus(fmt.Sprint("typed-", i)), Loader: load, Stats: &st,
					Tags: func(id int64, _ User) []string {
						if id < 0 {
							return nil
						}
						return []string{fmt.Sprint("tag-", id%ntags)}
					},
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = c.Close() })
				waitFor(t, "a subscription", func() bool { return st.Snapshot().Get(stats.Subscribed) == 1 })
				in, l1s = append(in, c), append(l1s, l1)
			}
			iv, err := tiered.NewInvalidator(&tiered.InvalidatorOptions{Name: "inv", L2: tg.store(), Bus: tg.newBus("cdc")})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = iv.Close() }()

			// Keys 0..1999 are read by every instance: the first 1000 will
			// be deleted by key, the others (tagged tag-0..tag-9) by tag.
			ids := make([]int64, 2*nkeys)
			for i := range ids {
				ids[i] = int64(i)
			}
			for _, c := range in {
				if got, err := c.GetMany(ctx, ids); err != nil || len(got) != len(ids) {
					t.Fatalf("GetMany: %d values, %v", len(got), err)
				}
			}
			// A load of key -1 reads the source (v1) and waits; meanwhile
			// the source changes and the invalidator deletes the key.
			loaded := make(chan User)
			go func() {
				u, _ := in[0].Get(ctx, -1)
				loaded <- u
			}()
			<-gate.started

			version.Store(2)
			keys := make([]string, nkeys)
			for i := range keys {
				keys[i] = strconv.Itoa(i)
			}
			if err := iv.Delete(ctx, append(keys, "-1")...); err != nil {
				t.Fatal(err)
			}
			tags := make([]string, ntags)
			for i := range tags {
				tags[i] = fmt.Sprint("tag-", i)
			}
			if err := iv.InvalidateTags(ctx, tags...); err != nil {
				t.Fatal(err)
			}
			gate.open()
			if u := <-loaded; u.Name != "v1" {
				t.Fatalf("the racing load returned %q, want the v1 it read", u.Name)
			}

			// Gone from every L1 (the messages arrive asynchronously on
			// Redis), and every read now sees v2 in L2 or the source.
			for i, l1 := range l1s {
				waitFor(t, fmt.Sprint("instance ", i, "'s L1 to empty"), func() bool {
					for _, id := range append(ids, -1) {
						if _, ok := l1.Get(strconv.FormatInt(id, 10)); ok {
							return false
						}
					}
					return true
				})
			}
			store := tg.store().(l2.Namespacer).Namespace("inv")
			frames, err := store.GetMany(ctx, append(keys, "1500", "1999", "-1"))
			if err != nil {
				t.Fatal(err)
			}
			for i, f := range frames {
				if f != nil && !isTombstone(f) {
					t.Fatalf("L2 still holds a value for key %d of the check", i)
				}
			}
			for i, c := range in {
				got, err := c.GetMany(ctx, append(ids, -1))
				if err != nil {
					t.Fatal(err)
				}
				for id, u := range got {
					if u.Name != "v2" {
						t.Fatalf("instance %d read %q for key %d, want v2", i, u.Name, id)
					}
				}
			}
			if h := iv.Health(); h.Err() != nil {
				t.Fatalf("invalidator's health: %v", h.Err())
			}
		})
	}
}

// The Invalidator refuses what its caches would refuse.
func TestInvalidator_Options(t *testing.T) {
	t.Parallel()
	if _, err := tiered.NewInvalidator(nil); !errors.Is(err, tiered.ErrInvalidOptions) {
		t.Fatalf("nil options: %v", err)
	}
	if _, err := tiered.NewInvalidator(&tiered.InvalidatorOptions{Name: "a:b"}); !errors.Is(err, tiered.ErrInvalidOptions) {
		t.Fatalf("a bad name: %v", err)
	}
}
