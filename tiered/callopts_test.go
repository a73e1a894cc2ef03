package tiered_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/tiered"
)

// adaptTTL makes sl's loader ask for ttl with tiered.Adapt, and tags.
func adaptTTL(sl *seqLoader, ttl time.Duration, tags ...string) {
	sl.setBlock(func(ctx context.Context) {
		if a := tiered.Adapt(ctx); a != nil {
			a.TTL, a.Tags = ttl, tags
		}
	})
}

// Per-call TTLs (SetWith, GetWith) and a loader's (Adapt) are honoured in
// both tiers, on the fake clock: L1 gets at most the TTL, and L2 drops the
// value when it ends.
func TestCallTTLs(t *testing.T) {
	t.Parallel()
	f, sl, l1 := newSeqFixture(t, func(o *tiered.Options[int64, User]) {
		o.TTL, o.L1TTL, o.Beta = time.Hour, 10*time.Minute, -1 // Beta -1: L2 keeps a value exactly its TTL
	})
	ctx := context.Background()
	// expiresIn checks that L2 holds id until ttl from now, and not after.
	expiresIn := func(what string, id int64, ttl time.Duration) {
		t.Helper()
		f.clock.Advance(ttl - time.Millisecond)
		if !f.holds(t, id) {
			t.Fatalf("%s: L2 dropped key %d before its TTL (%v)", what, id, ttl)
		}
		f.clock.Advance(time.Millisecond)
		if f.holds(t, id) {
			t.Fatalf("%s: L2 holds key %d at its TTL (%v)", what, id, ttl)
		}
	}
	wantL1 := func(what string, ttl time.Duration) {
		t.Helper()
		if got := l1.lastTTL(); got != ttl {
			t.Fatalf("%s: L1 TTL %v, want %v", what, got, ttl)
		}
	}

	u := user(1)
	if err := f.cache.SetWith(ctx, 1, u, tiered.SetOptions{TTL: 30 * time.Second, L1TTL: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	wantL1("SetWith TTL 30s, L1TTL 5s", 5*time.Second)
	expiresIn("SetWith TTL 30s", 1, 30*time.Second)

	if err := f.cache.SetWith(ctx, 2, u, tiered.SetOptions{TTL: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	wantL1("SetWith TTL 30s", 30*time.Second) // within L1TTL: the value's own TTL
	expiresIn("SetWith TTL 30s", 2, 30*time.Second)

	if _, err := f.cache.GetWith(ctx, 3, tiered.GetOptions{TTL: 20 * time.Second, L1TTL: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	wantL1("GetWith TTL 20s, L1TTL 3s", 3*time.Second)
	expiresIn("GetWith TTL 20s", 3, 20*time.Second)

	adaptTTL(sl, 7*time.Second)
	getName(t, f.cache, 4)
	wantL1("a loader's 7s", 7*time.Second)
	expiresIn("a loader's 7s", 4, 7*time.Second)

	if _, err := f.cache.GetWith(ctx, 5, tiered.GetOptions{TTL: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	wantL1("a loader's 7s over GetWith's 20s", 7*time.Second)
	expiresIn("a loader's 7s over GetWith's 20s", 5, 7*time.Second)

	// The defaults are untouched.
	sl.setBlock(nil)
	getName(t, f.cache, 6)
	wantL1("no options", 10*time.Minute)
	expiresIn("no options", 6, time.Hour)

	if tiered.Adapt(ctx) != nil {
		t.Error("Adapt of a context that is not a loader's is not nil")
	}
}

// A loader's tags (Adapt) and a read's (GetOptions.Tags) index what it
// loaded: InvalidateTags finds it.
func TestCallTags(t *testing.T) {
	t.Parallel()
	f, sl, _ := newSeqFixture(t, nil)
	ctx := context.Background()
	adaptTTL(sl, 0, "volatile")
	getName(t, f.cache, 1)
	sl.setBlock(nil)
	getName(t, f.cache, 2)
	if _, err := f.cache.GetWith(ctx, 3, tiered.GetOptions{Tags: []string{"asked"}}); err != nil {
		t.Fatal(err)
	}
	adaptTTL(sl, 0, "volatile")
	if _, err := f.cache.GetWith(ctx, 4, tiered.GetOptions{Tags: []string{"asked"}}); err != nil {
		t.Fatal(err)
	}
	holds := func() [4]bool { return [4]bool{f.holds(t, 1), f.holds(t, 2), f.holds(t, 3), f.holds(t, 4)} }
	if err := f.cache.InvalidateTags(ctx, "volatile"); err != nil {
		t.Fatal(err)
	}
	if got, want := holds(), [4]bool{false, true, true, false}; got != want {
		t.Fatalf("after InvalidateTags(volatile): L2 holds keys 1-4 %v, want %v", got, want)
	}
	if err := f.cache.InvalidateTags(ctx, "asked"); err != nil {
		t.Fatal(err)
	}
	if got, want := holds(), [4]bool{false, true, false, false}; got != want {
		t.Fatalf("after InvalidateTags(asked): L2 holds keys 1-4 %v, want %v", got, want)
	}
	// Without tag indexes, a read that asks for tags is refused.
	g, _, _ := newSeqFixture(t, func(o *tiered.Options[int64, User]) { o.L2 = nil })
	if _, err := g.cache.GetWith(ctx, 1, tiered.GetOptions{Tags: []string{"x"}}); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("GetWith Tags without an L2: %v, want errors.ErrUnsupported", err)
	}
}

// SkipL1, Peek and Refresh, and what GetWith and SetWith refuse.
func TestGetWith(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("SkipL1", func(t *testing.T) {
		t.Parallel()
		f, _, l1 := newSeqFixture(t, nil)
		// Another instance on the same L2, without a bus: this one's L1
		// keeps what it read.
		other, err := tiered.New(&tiered.Options[int64, User]{Name: "user", L2: f.l2, Now: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = other.Close() })
		getName(t, f.cache, 1) // v1, in both tiers
		u := user(1)
		u.Name = "written elsewhere"
		if err := other.Set(ctx, 1, u); err != nil {
			t.Fatal(err)
		}
		got, err := f.cache.GetWith(ctx, 1, tiered.GetOptions{SkipL1: true})
		if err != nil || got.Name != u.Name {
			t.Fatalf("GetWith SkipL1 = %q, %v; want L2's %q", got.Name, err, u.Name)
		}
		if got := getName(t, f.cache, 1); got != "v1" {
			t.Fatalf("Get after GetWith SkipL1 = %q, want L1's v1 (SkipL1 must not fill L1)", got)
		}
		if err := f.cache.SetWith(ctx, 2, u, tiered.SetOptions{SkipL1: true}); err != nil {
			t.Fatal(err)
		}
		if _, ok := l1.Get("2"); ok || !f.holds(t, 2) {
			t.Fatalf("after SetWith SkipL1: in L1 %v, in L2 %v; want false, true", ok, f.holds(t, 2))
		}
	})
	t.Run("Peek", func(t *testing.T) {
		t.Parallel()
		f, sl, l1 := newSeqFixture(t, func(o *tiered.Options[int64, User]) { o.TTL = time.Minute })
		if _, err := f.cache.GetWith(ctx, 1, tiered.GetOptions{Peek: true}); !errors.Is(err, tiered.ErrMiss) || sl.calls.Load() != 0 {
			t.Fatalf("Peek of a key nowhere: %v after %d loads, want ErrMiss and no load", err, sl.calls.Load())
		}
		if f.holds(t, 1) {
			t.Fatal("Peek left something in L2 (a lease?)")
		}
		getName(t, f.cache, 1)
		l1.Clear()
		if got, err := f.cache.GetWith(ctx, 1, tiered.GetOptions{Peek: true}); err != nil || got.Name != "v1" {
			t.Fatalf("Peek of a key in L2 = %q, %v; want v1", got.Name, err)
		}
		if got, err := f.cache.GetWith(ctx, 1, tiered.GetOptions{Peek: true}); err != nil || got.Name != "v1" {
			t.Fatalf("Peek of a key in L1 = %q, %v; want v1", got.Name, err)
		}
		f.clock.Advance(time.Minute)
		if _, err := f.cache.GetWith(ctx, 1, tiered.GetOptions{Peek: true}); !errors.Is(err, tiered.ErrMiss) {
			t.Fatalf("Peek of an expired key: %v, want ErrMiss", err)
		}
		if n := sl.calls.Load(); n != 1 {
			t.Fatalf("%d loads, want 1 (Peek never loads)", n)
		}
	})
	t.Run("Refresh", func(t *testing.T) {
		t.Parallel()
		f, sl, _ := newSeqFixture(t, nil)
		getName(t, f.cache, 1)
		got, err := f.cache.GetWith(ctx, 1, tiered.GetOptions{Refresh: true})
		if err != nil || got.Name != "v2" || sl.calls.Load() != 2 {
			t.Fatalf("GetWith Refresh = %q, %v after %d loads; want v2 after 2", got.Name, err, sl.calls.Load())
		}
		if got := getName(t, f.cache, 1); got != "v2" || sl.calls.Load() != 2 || !f.holds(t, 1) {
			t.Fatalf("Get after the refresh = %q after %d loads; want v2 from a tier, after 2", got, sl.calls.Load())
		}
	})
	t.Run("invalid", func(t *testing.T) {
		t.Parallel()
		f, sl, _ := newSeqFixture(t, nil)
		for name, err := range map[string]error{
			"GetWith negative TTL": func() error { _, err := f.cache.GetWith(ctx, 1, tiered.GetOptions{TTL: -time.Second}); return err }(),
			"GetWith L1TTL in ns":  func() error { _, err := f.cache.GetWith(ctx, 1, tiered.GetOptions{L1TTL: 5}); return err }(),
			"GetWith Peek and Refresh": func() error {
				_, err := f.cache.GetWith(ctx, 1, tiered.GetOptions{Peek: true, Refresh: true})
				return err
			}(),
			"SetWith negative L1TTL": f.cache.SetWith(ctx, 1, user(1), tiered.SetOptions{L1TTL: -1}),
			"SetWith TTL in ns":      f.cache.SetWith(ctx, 1, user(1), tiered.SetOptions{TTL: 999}),
		} {
			if !errors.Is(err, tiered.ErrInvalidOptions) {
				t.Errorf("%s: %v, want ErrInvalidOptions", name, err)
			}
		}
		if n := sl.calls.Load(); n != 0 || f.holds(t, 1) {
			t.Fatalf("refused calls loaded %d times / stored: %v", n, f.holds(t, 1))
		}
	})
}

// On real Redis, one node and the Cluster: the PTTL of a key is the
// per-call TTL of SetWith and GetWith, or the loader's.
func TestRedis_CallTTLs(t *testing.T) {
	redistest.Require(t)
	for _, tg := range redisTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			ctx := context.Background()
			sl := &seqLoader{}
			store := tg.store(tg.client(t))
			c, err := tiered.New(&tiered.Options[int64, User]{
				Name: "calltl", L2: store, Loader: sl, TTL: time.Hour, Beta: -1,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			admin := tg.admin(t)
			pttl := func(id int64) time.Duration {
				t.Helper()
				k := store.Namespace("calltl").(*redisstore.Store).Key(strconv.FormatInt(id, 10))
				d, err := admin.PTTL(ctx, k).Result()
				if err != nil && !errors.Is(err, redis.Nil) {
					t.Fatal(err)
				}
				return d
			}
			within := func(what string, id int64, ttl time.Duration) {
				t.Helper()
				// A few seconds' slack for a slow machine, far from the
				// default hour.
				if got := pttl(id); got > ttl || got < ttl-5*time.Second {
					t.Errorf("%s: PTTL %v, want about %v", what, got, ttl)
				}
			}
			if err := c.SetWith(ctx, 1, user(1), tiered.SetOptions{TTL: 30 * time.Second}); err != nil {
				t.Fatal(err)
			}
			within("SetWith TTL 30s", 1, 30*time.Second)
			if _, err := c.GetWith(ctx, 2, tiered.GetOptions{TTL: 20 * time.Second}); err != nil {
				t.Fatal(err)
			}
			within("GetWith TTL 20s", 2, 20*time.Second)
			adaptTTL(sl, 7*time.Second)
			if _, err := c.Get(ctx, 3); err != nil {
				t.Fatal(err)
			}
			within("a loader's 7s", 3, 7*time.Second)
			sl.setBlock(nil)
			if _, err := c.Get(ctx, 4); err != nil {
				t.Fatal(err)
			}
			within("no options", 4, time.Hour)
		})
	}
}
