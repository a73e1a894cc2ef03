package tiered_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/codec"
	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/internal/envelope"
	"github.com/tiercache/tiercache/tiered/stats"
)

// The tests of this file play an adversary, or an ordinary mistake, that
// writes to L2 behind the cache's back (issue 12).

// rawTarget is an L2 whose bytes the test reads and writes directly: in
// memory, on one redis-server and on a 3+3 Cluster.
type rawTarget struct {
	name  string
	store l2.Store
	// get and put read and write the bytes under the L2 key of key in
	// namespace ns, as the store frames it, behind the cache's back.
	get func(t *testing.T, ns, key string) []byte
	put func(t *testing.T, ns, key string, b []byte)
}

func rawTargets(t *testing.T) []rawTarget {
	mem := memstore.New(nil)
	t.Cleanup(func() { _ = mem.Close() })
	targets := []rawTarget{{
		name:  "memstore",
		store: mem,
		get: func(t *testing.T, ns, key string) []byte {
			b, err := mem.Namespace(ns).Get(context.Background(), key)
			if err != nil && !errors.Is(err, l2.ErrMiss) {
				t.Fatal(err)
			}
			return b
		},
		put: func(t *testing.T, ns, key string, b []byte) {
			if err := mem.Namespace(ns).Set(context.Background(), key, b, time.Hour); err != nil {
				t.Fatal(err)
			}
		},
	}}
	if testing.Short() || !redistest.Enabled() {
		return targets
	}
	for _, rt := range redisTargets(t) {
		store, admin := redisstore.New(rt.client(t), nil), rt.admin(t)
		rkey := func(ns, key string) string { return store.Namespace(ns).(*redisstore.Store).Key(key) }
		targets = append(targets, rawTarget{
			name:  rt.name,
			store: store,
			get: func(t *testing.T, ns, key string) []byte {
				b, err := admin.Get(context.Background(), rkey(ns, key)).Bytes()
				if err != nil && !errors.Is(err, redis.Nil) {
					t.Fatal(err)
				}
				return b
			},
			put: func(t *testing.T, ns, key string, b []byte) {
				if err := admin.Set(context.Background(), rkey(ns, key), b, time.Hour).Err(); err != nil {
					t.Fatal(err)
				}
			},
		})
	}
	return targets
}

// reframe returns frame with its header changed by edit and a valid
// checksum: what someone who knows the format can write.
func reframe(t *testing.T, frame []byte, edit func(*envelope.Header)) []byte {
	t.Helper()
	h, payload, err := envelope.Decode(frame)
	if err != nil {
		t.Fatalf("reframe: %v", err)
	}
	edit(&h)
	return envelope.Append(nil, h, payload)
}

// hostileCache builds a cache "users" over store whose loader serves
// user(id) with the name suffixed by version.
func hostileCache(t *testing.T, store l2.Store, l1 *recordingL1, st *stats.Counter, now func() time.Time, opt func(*tiered.Options[int64, User])) *tiered.Cache[int64, User] {
	t.Helper()
	opts := &tiered.Options[int64, User]{
		Name: "users", L2: store, L1: l1, Stats: st, Now: now,
		Loader: loader.Func[int64, User](func(_ context.Context, id int64) (User, error) { return user(id), nil }),
	}
	if opt != nil {
		opt(opts)
	}
	c, err := tiered.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Item 4: a frame copied from another key of the same cache (same type)
// is not served as the value of the key it was copied to: it is a counted
// miss, and the key's own value is loaded.
func TestHostile_FrameCopiedFromAnotherKey(t *testing.T) {
	ctx := context.Background()
	for _, tg := range rawTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			writer := hostileCache(t, tg.store, &recordingL1{}, &stats.Counter{}, nil, nil)
			if err := writer.Set(ctx, 1, user(1)); err != nil {
				t.Fatal(err)
			}
			if err := writer.Set(ctx, 2, user(2)); err != nil {
				t.Fatal(err)
			}
			tg.put(t, "users", "2", tg.get(t, "users", "1")) // key 2 now holds key 1's frame

			st := &stats.Counter{}
			reader := hostileCache(t, tg.store, &recordingL1{}, st, nil, nil)
			got, err := reader.Get(ctx, 2)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != 2 {
				t.Fatalf("Get(2) served key 1's value %+v", got)
			}
			if n := st.Snapshot().Get(stats.L2Corrupt); n != 1 {
				t.Errorf("L2Corrupt = %d, want 1 (the copied frame, counted)", n)
			}
		})
	}
}

// Item 3: a frame whose expiry is forged (or damaged) far in the future,
// or far in the past, gives no lifetime beyond what the cache itself would
// give: L1 keeps it at most L1TTL (an L1 TTL of 0 would mean "never
// expires"), it turns stale after TTL, and an expiry far in the past is not
// served as a stale value.
func TestHostile_ForgedExpiryIsClamped(t *testing.T) {
	ctx := context.Background()
	for _, tg := range rawTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			clock := newFakeClock()
			clock.Advance(time.Duration(time.Now().UnixNano()))
			writer := hostileCache(t, tg.store, &recordingL1{}, &stats.Counter{}, clock.Now, nil)
			for id := int64(1); id <= 3; id++ {
				if err := writer.Set(ctx, id, user(id)); err != nil {
					t.Fatal(err)
				}
			}
			key := func(id int64) string { return strconv.FormatInt(id, 10) }
			forge := func(id int64, expiry int64) {
				tg.put(t, "users", key(id), reframe(t, tg.get(t, "users", key(id)), func(h *envelope.Header) {
					h.Expiry = expiry
					h.Delta = math.MaxUint32 * time.Microsecond
				}))
			}
			forge(1, math.MaxInt64)                              // overflows a naive L1 TTL
			forge(2, clock.Now().AddDate(200, 0, 0).UnixMilli()) // 200 years: fresh for good
			forge(3, math.MinInt64)                              // overflows a naive stale check

			var loads int
			l1 := &recordingL1{}
			reader := hostileCache(t, tg.store, l1, &stats.Counter{}, clock.Now, func(o *tiered.Options[int64, User]) {
				o.StaleWhileRevalidate = time.Hour
				o.Loader = loader.Func[int64, User](func(_ context.Context, id int64) (User, error) {
					loads++
					u := user(id)
					u.Name = "reloaded"
					return u, nil
				})
			})
			for _, id := range []int64{1, 2} {
				if _, err := reader.Get(ctx, id); err != nil {
					t.Fatal(err)
				}
				if ttl := l1.lastTTL(); ttl <= 0 || ttl > tiered.DefaultL1TTL {
					t.Errorf("key %d: L1 TTL %v, want within (0, L1TTL=%v]", id, ttl, tiered.DefaultL1TTL)
				}
			}
			if got, err := reader.Get(ctx, 3); err != nil || got.Name != "reloaded" {
				t.Errorf("key 3 (expiry in the distant past): %+v, %v; want the loader's value, not a stale one", got, err)
			}

			// Past TTL, the forged values are stale: a fresh reader (empty
			// L1) reloads them rather than serving them.
			clock.Advance(tiered.DefaultTTL + time.Minute)
			loads = 0
			fresh := hostileCache(t, tg.store, &recordingL1{}, &stats.Counter{}, clock.Now, func(o *tiered.Options[int64, User]) {
				o.Loader = loader.Func[int64, User](func(_ context.Context, id int64) (User, error) {
					loads++
					return user(id), nil
				})
			})
			for _, id := range []int64{1, 2} {
				if _, err := fresh.Get(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			if loads != 2 {
				t.Errorf("after TTL, %d loads of the 2 forged keys; want 2 (their expiry clamped to TTL)", loads)
			}
		})
	}
}

// tagFails is a Redis store whose tag indexes cannot be written.
type tagFails struct{ *redisstore.Store }

func (s tagFails) Tag(context.Context, []string, []string, time.Duration) error {
	return errors.New("tag index unavailable")
}

func (s tagFails) Namespace(ns string) l2.Store {
	return tagFails{s.Store.Namespace(ns).(*redisstore.Store)}
}

// Item 2: a value is never in L2 without its tag indexes. When the index
// cannot be written, SetTagged fails and L2 does not hold the new value
// (before, the value was written first and served, unindexed, by every
// instance whose L1 did not hold the key, until the retry deleted it).
func TestHostile_TagFailureStoresNoValue(t *testing.T) {
	ctx := context.Background()
	for _, tg := range rawTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			store := tg.store
			switch s := store.(type) {
			case *memstore.Store:
				s.FailWhen(func(op string) error {
					if op == "tag" {
						return errors.New("tag index unavailable")
					}
					return nil
				})
			case *redisstore.Store:
				store = tagFails{s}
			}
			c := hostileCache(t, store, &recordingL1{}, &stats.Counter{}, nil, nil)
			if err := c.Set(ctx, 1, user(1)); err != nil {
				t.Fatal(err)
			}
			u := user(1)
			u.Name = "tagged value"
			if err := c.SetTagged(ctx, 1, u, "team"); err == nil {
				t.Fatal("SetTagged succeeded although its tag index could not be written")
			}
			if raw := tg.get(t, "users", "1"); bytes.Contains(raw, []byte(u.Name)) {
				t.Fatal("L2 holds the value whose tag index could not be written")
			}
		})
	}
}

// Item 7: a loader that never returns and ignores its context holds
// neither its callers past LoadTimeout nor Close: they get the context's
// error, and the loader is counted and logged as abandoned.
func TestHostile_LoaderIgnoringContext(t *testing.T) {
	for _, tg := range rawTargets(t) {
		t.Run(tg.name, func(t *testing.T) { testLoaderIgnoringContext(t, tg.store) })
	}
}

func testLoaderIgnoringContext(t *testing.T, store l2.Store) {
	ctx := context.Background()
	release := make(chan struct{})
	defer close(release) // the loader's goroutine ends with the test
	st := &stats.Counter{}
	c, err := tiered.New(&tiered.Options[int64, User]{
		Name: "deaf", L2: store, Stats: st, LoadTimeout: 50 * time.Millisecond,
		Loader: loader.Func[int64, User](func(context.Context, int64) (User, error) {
			<-release // deaf to its context
			return user(1), nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	within := func(what string, f func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { defer close(done); f() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s still blocked after 10 s (LoadTimeout 50ms)", what)
		}
	}
	within("Get", func() {
		if _, err := c.Get(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Get: %v, want an error wrapping context.DeadlineExceeded", err)
		}
	})
	waitFor(t, "the abandoned load counted", func() bool { return st.Snapshot().Get(stats.LoadAbandoned) == 1 })

	// A load that Close cancels: Close returns although the loader never
	// does, and so does the caller.
	got := make(chan error, 1)
	go func() { _, err := c.Get(ctx, 2); got <- err }()
	waitFor(t, "the second load to start", func() bool { return st.Snapshot().Get(stats.L1Miss) >= 2 })
	within("Close", func() { _ = c.Close() })
	within("the Get that Close interrupted", func() {
		if err := <-got; err == nil {
			t.Error("the Get that Close interrupted succeeded")
		}
	})
}

// clearCounter is an L1 that counts its Clear calls.
type clearCounter struct {
	recordingL1
	clears atomic.Int64
}

func (c *clearCounter) Clear() {
	c.clears.Add(1)
	c.recordingL1.Clear()
}

// Item 6: reasons to flush L1 that arrive in a flood (here messages that
// ask for a flush, as anyone who can publish on the channel can send) cost
// an atomic add each, not a walk of L1: at most one Clear per short window.
// And none of them lets L1 serve an entry from before it.
func TestHostile_FlushesCoalesced(t *testing.T) {
	ctx := context.Background()
	hub := invalidate.NewHub()
	attacker := hub.NewBus("attacker")
	t.Cleanup(func() { _ = attacker.Close() })
	bus := hub.NewBus("victim")
	t.Cleanup(func() { _ = bus.Close() })
	st := &stats.Counter{}
	l1 := &clearCounter{}
	c := hostileCache(t, memstore.New(nil), nil, st, nil, func(o *tiered.Options[int64, User]) {
		o.L1, o.Bus = l1, bus
	})
	waitFor(t, "the subscription", func() bool { return st.Snapshot().Get(stats.Subscribed) == 1 })
	if _, err := c.Get(ctx, 1); err != nil {
		t.Fatal(err)
	}
	base := l1.clears.Load()
	const flushes = 300
	start := time.Now()
	for i := range flushes {
		hits := st.Snapshot().Get(stats.L1Hit)
		if _, err := c.Get(ctx, 1); err != nil || st.Snapshot().Get(stats.L1Hit) != hits+1 {
			t.Fatalf("flush %d: the read before it was not an L1 hit (%v)", i, err)
		}
		if err := attacker.Publish(ctx, &invalidate.Message{Namespace: "users", Flush: true}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the flush message", func() bool { return st.Snapshot().Get(stats.FlushRemote) == int64(i+1) })
		if _, err := c.Get(ctx, 1); err != nil || st.Snapshot().Get(stats.L1Hit) != hits+1 {
			t.Fatalf("flush %d: L1 served an entry from before the flush (%v)", i, err)
		}
	}
	elapsed := time.Since(start)
	clears := l1.clears.Load() - base
	t.Logf("%d flushes in %v: %d L1 clears, %d coalesced", flushes, elapsed, clears, st.Snapshot().Get(stats.FlushCoalesced))
	// At most one Clear per 100 ms window, plus the first.
	if limit := int64(elapsed/(100*time.Millisecond)) + 2; clears > limit {
		t.Errorf("%d L1 clears for %d flushes in %v, want at most %d", clears, flushes, elapsed, limit)
	}
}

// allocated returns the bytes allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// leastAllocated is the least that f(run) allocated in allocRuns calls:
// the count is the whole process's, and the goroutines of other tests'
// caches (an L1's maintenance, a pipeliner's flusher) add to it now and
// then.
func leastAllocated(f func(run int)) uint64 {
	least := allocated(func() { f(0) })
	for run := 1; run < allocRuns; run++ {
		least = min(least, allocated(func() { f(run) }))
	}
	return least
}

const allocRuns = 2

// Item 8: a value in L2 larger than MaxValueSize (a writer with a larger
// limit wrote it) is neither decompressed nor decoded, nor kept in L1:
// reading it costs its bytes on the wire once, and GetMany of several
// such values no more than their sum.
func TestHostile_OversizedValueNotDecoded(t *testing.T) {
	ctx := context.Background()
	const size = 4 << 20 // 4 MiB, over the default MaxValueSize of 1 MiB
	big := user(1)
	big.Name = strings.Repeat("x", size)
	for _, tg := range rawTargets(t) {
		for _, compressed := range []bool{false, true} {
			name := tg.name
			if compressed {
				name += "/s2"
			}
			t.Run(name, func(t *testing.T) {
				var comp codec.Compressor
				if compressed {
					comp = codec.S2{}
				}
				writer := hostileCache(t, tg.store, &recordingL1{}, &stats.Counter{}, nil, func(o *tiered.Options[int64, User]) {
					o.MaxValueSize, o.Compressor = -1, comp
				})
				// Each run reads keys of its own: a read loads the key
				// and replaces the oversized value.
				ids := func(run int) []int64 {
					return []int64{1 + 5*int64(run), 2 + 5*int64(run), 3 + 5*int64(run), 4 + 5*int64(run), 5 + 5*int64(run)}
				}
				for run := range allocRuns {
					for _, id := range ids(run) {
						if err := writer.Set(ctx, id, big); err != nil {
							t.Fatal(err)
						}
					}
				}
				wire := len(tg.get(t, "users", "1"))

				st := &stats.Counter{}
				l1 := &recordingL1{}
				reader := hostileCache(t, tg.store, l1, st, nil, func(o *tiered.Options[int64, User]) { o.Compressor = comp })
				var got User
				a := leastAllocated(func(run int) {
					var err error
					if got, err = reader.Get(ctx, ids(run)[0]); err != nil {
						t.Fatal(err)
					}
				})
				if got.Name == big.Name {
					t.Fatal("Get served the oversized value")
				}
				if a > uint64(wire)+(1<<20) {
					t.Errorf("Get of a %d-byte value (%d on the wire) allocated %d bytes, want at most its wire size + 1 MiB", size, wire, a)
				}
				a = leastAllocated(func(run int) {
					m, err := reader.GetMany(ctx, ids(run)[1:])
					if err != nil || len(m) != 4 {
						t.Fatalf("GetMany: %d values, %v", len(m), err)
					}
				})
				if a > 4*uint64(wire)+(1<<20) {
					t.Errorf("GetMany of 4 oversized values (%d bytes each on the wire) allocated %d bytes, want at most their sum + 1 MiB", wire, a)
				}
				if n := st.Snapshot().Get(stats.ValueTooLarge); n != 5*allocRuns {
					t.Errorf("ValueTooLarge = %d, want %d", n, 5*allocRuns)
				}
				t.Logf("%d bytes on the wire per value; Get and GetMany allocated within bounds", wire)
			})
		}
	}
}

// Item 1: the key layout is unambiguous for every key string. A value
// whose key holds "|tag|" was taken for a tag index by redisstore and
// survived Flush and InvalidatePrefix (and was served after them).
func TestHostile_TagLookalikeKeys(t *testing.T) {
	ctx := context.Background()
	for _, tg := range rawTargets(t) {
		t.Run(tg.name, func(t *testing.T) {
			var loads atomic.Int64
			c, err := tiered.New(&tiered.Options[string, string]{
				Name: "users", L2: tg.store, L1: &recordingL1{},
				Loader: loader.Func[string, string](func(_ context.Context, k string) (string, error) {
					loads.Add(1)
					return "loaded " + k, nil
				}),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			keys := []string{"a|tag|b", "|tag|x", "p|tag|", "p:x|tag|y"}
			for _, op := range []struct {
				name string
				run  func() error
			}{
				{"Flush", func() error { return c.Flush(ctx) }},
				{"InvalidatePrefix", func() error { return c.InvalidatePrefix(ctx, "") }},
			} {
				for _, k := range keys {
					if err := c.Set(ctx, k, "old "+k); err != nil {
						t.Fatal(err)
					}
				}
				if err := op.run(); err != nil {
					t.Fatal(err)
				}
				for _, k := range keys {
					if raw := tg.get(t, "users", k); raw != nil && !isTombstone(raw) {
						t.Errorf("%s: L2 still holds the value of %q", op.name, k)
					}
					if v, err := c.Get(ctx, k); err != nil || v != "loaded "+k {
						t.Errorf("%s: Get(%q) = %q, %v; want the loader's value", op.name, k, v, err)
					}
				}
			}
		})
	}
}
