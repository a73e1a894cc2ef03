package tiered_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// UserV2 is User with a field added: the next version of a service.
type UserV2 struct {
	ID      int64
	Name    string
	Email   string
	Age     int
	Admin   bool
	Score   float64
	Tags    []string
	Address Address
	Phone   string
}

// Product shares nothing with User but the namespace, by mistake.
type Product struct {
	SKU   string
	Price int
}

// schemaTarget is an L2 and a bus factory for the schema tests: in memory,
// and on real Redis (one node, Cluster).
type schemaTarget struct {
	name   string
	store  l2.Store
	newBus func(id string) invalidate.Bus
	raw    func(key string) []byte // the bytes L2 holds for the key of namespace "shared"
}

func schemaTargets(t *testing.T) []schemaTarget {
	hub := invalidate.NewHub()
	mem := memstore.New(nil)
	t.Cleanup(func() { _ = mem.Close() })
	targets := []schemaTarget{{
		name:   "memstore",
		store:  mem,
		newBus: func(id string) invalidate.Bus { return hub.NewBus(id) },
		raw: func(key string) []byte {
			b, _ := mem.Namespace("shared").Get(context.Background(), key)
			return b
		},
	}}
	if testing.Short() || !redistest.Enabled() {
		return targets
	}
	for _, rt := range redisTargets(t) {
		rdb, admin := rt.client(t), rt.admin(t)
		store := redisstore.New(rdb, nil)
		targets = append(targets, schemaTarget{
			name:  rt.name,
			store: store,
			newBus: func(id string) invalidate.Bus {
				b, err := redisbus.New(rdb, &redisbus.Options{Keys: testBusKeys, ID: id})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = b.Close() })
				return b
			},
			raw: func(key string) []byte {
				b, err := admin.Get(context.Background(), store.Namespace("shared").(*redisstore.Store).Key(key)).Bytes()
				if err != nil && !errors.Is(err, redis.Nil) {
					t.Fatal(err)
				}
				return b
			},
		})
	}
	return targets
}

// newTyped builds a cache of values V in the namespace "shared" whose
// loader counts its calls and serves value(id).
func newTyped[V any](t *testing.T, tg schemaTarget, id string, st *stats.Counter, calls *atomic.Int64, value func(int64) V) *tiered.Cache[int64, V] {
	t.Helper()
	bus := tg.newBus(id)
	c, err := tiered.New(&tiered.Options[int64, V]{
		Name: "shared", L2: tg.store, Bus: bus, Stats: st, L1: &recordingL1{}, // synchronous: loads counted exactly
		Loader: loader.Func[int64, V](func(_ context.Context, k int64) (V, error) {
			calls.Add(1)
			return value(k), nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	waitFor(t, id+"'s subscription", func() bool { return st.Snapshot().Get(stats.Subscribed) == 1 })
	return c
}

func userV2(id int64) UserV2 {
	u := user(id)
	return UserV2{ID: u.ID, Name: u.Name, Email: u.Email, Age: u.Age, Score: u.Score, Tags: u.Tags, Address: u.Address, Phone: "+44 20"}
}

// Item 4: a value written by a cache of another type (a Name shared by
// mistake) is never decoded into garbage: the reader treats it as a miss
// and loads, and leaves the other cache's value alone.
func TestSchema_OtherTypeIsAMiss(t *testing.T) {
	ctx := context.Background()
	for _, tg := range schemaTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			var su, sp stats.Counter
			var lu, lp atomic.Int64
			users := newTyped(t, tg, "users", &su, &lu, user)
			products := newTyped(t, tg, "products", &sp, &lp, func(id int64) Product { return Product{SKU: fmt.Sprint("sku-", id), Price: 10} })
			if err := users.Set(ctx, 1, user(1)); err != nil {
				t.Fatal(err)
			}
			// The Set's message would drop key 1 from the products cache's
			// L1 after its load filled it: let it arrive first.
			waitFor(t, "the Set's message", func() bool { return sp.Snapshot().Get(stats.Received) == 1 })
			before := tg.raw("1")
			for range 3 {
				p, err := products.Get(ctx, 1)
				if err != nil || p.SKU != "sku-1" {
					t.Fatalf("products.Get over a User value: %+v, %v; want the loader's product", p, err)
				}
			}
			if lp.Load() != 1 {
				t.Fatalf("products loaded %d times, want 1 (then L1)", lp.Load())
			}
			if s := sp.Snapshot(); s.Get(stats.L2Corrupt) != 0 || s.Get(stats.L2Foreign) != 1 {
				t.Fatalf("products counted %d corrupt and %d foreign values, want 0 and 1", s.Get(stats.L2Corrupt), s.Get(stats.L2Foreign))
			}
			if !bytes.Equal(tg.raw("1"), before) {
				t.Fatal("the products cache replaced the users cache's value in L2")
			}
			u, err := users.Get(ctx, 1)
			if err != nil || u.Name != user(1).Name || lu.Load() != 0 {
				t.Fatalf("users.Get: %+v, %v after %d loads; want its own value from L1 or L2", u, err, lu.Load())
			}
		})
	}
}

// Item 4: a rolling deploy, old and new versions of a struct side by side:
// neither reads the other's values, neither overwrites or deletes them in a
// loop, and a Delete or a Set from either reaches both.
func TestSchema_RollingDeploy(t *testing.T) {
	ctx := context.Background()
	for _, tg := range schemaTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			var so, sn stats.Counter
			var lo, ln atomic.Int64
			old := newTyped(t, tg, "old", &so, &lo, user)
			nu := newTyped(t, tg, "new", &sn, &ln, userV2)

			// The old version loads and stores the key; the new one
			// reads it as a miss and loads, without writing over it.
			if u, err := old.Get(ctx, 7); err != nil || u.ID != 7 {
				t.Fatalf("old.Get: %+v, %v", u, err)
			}
			oldFrame := tg.raw("7")
			if v, err := nu.Get(ctx, 7); err != nil || v.Phone != "+44 20" {
				t.Fatalf("new.Get over the old value: %+v, %v; want its loader's value", v, err)
			}
			if !bytes.Equal(tg.raw("7"), oldFrame) {
				t.Fatal("the new version overwrote the old version's value on a read")
			}
			// Reads alternate: no more loads (each has its own L1), and L2
			// stays as it was.
			for range 5 {
				if _, err := old.Get(ctx, 7); err != nil {
					t.Fatal(err)
				}
				if _, err := nu.Get(ctx, 7); err != nil {
					t.Fatal(err)
				}
			}
			if lo.Load() != 1 || ln.Load() != 1 || !bytes.Equal(tg.raw("7"), oldFrame) {
				t.Fatalf("loads old %d, new %d (want 1 and 1); L2 unchanged: %v", lo.Load(), ln.Load(), bytes.Equal(tg.raw("7"), oldFrame))
			}

			// A Delete from the new version reaches the old one's L1 and
			// L2: the old one loads again.
			if err := nu.Delete(ctx, 7); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the old version to drop the key", func() bool {
				_, _ = old.Get(ctx, 7)
				return lo.Load() == 2
			})
			// A Set from the new version: the old one drops its copy,
			// misses on the new value and loads, and leaves the new value
			// in L2.
			if err := nu.Set(ctx, 7, userV2(7)); err != nil {
				t.Fatal(err)
			}
			newFrame := tg.raw("7")
			waitFor(t, "the old version to load after the new one's Set", func() bool {
				_, _ = old.Get(ctx, 7)
				return lo.Load() == 3
			})
			for range 5 {
				if _, err := old.Get(ctx, 7); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(tg.raw("7"), newFrame) || lo.Load() != 3 {
				t.Fatalf("after the new version's Set: old loaded %d times (want 3), L2 unchanged: %v", lo.Load(), bytes.Equal(tg.raw("7"), newFrame))
			}
			if c := so.Snapshot().Get(stats.L2Corrupt) + sn.Snapshot().Get(stats.L2Corrupt); c != 0 {
				t.Fatalf("%d values counted corrupt: another schema is not corruption", c)
			}
		})
	}
}
