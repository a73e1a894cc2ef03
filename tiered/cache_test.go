package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/codec"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

func TestNewValidatesOptions(t *testing.T) {
	t.Parallel()
	type point struct{ X, Y int }
	for _, tc := range []struct {
		name string
		err  func() error
	}{
		{"nil options", func() error { _, err := tiered.New[string, int](nil); return err }},
		{"empty name", func() error { _, err := tiered.New(&tiered.Options[string, int]{}); return err }},
		{"name with colon", func() error { _, err := tiered.New(&tiered.Options[string, int]{Name: "a:b"}); return err }},
		{"name with brace", func() error { _, err := tiered.New(&tiered.Options[string, int]{Name: "a{b"}); return err }},
		{"negative TTL", func() error { _, err := tiered.New(&tiered.Options[string, int]{Name: "a", TTL: -1}); return err }},
		{"jitter above 1", func() error { _, err := tiered.New(&tiered.Options[string, int]{Name: "a", Jitter: 1.5}); return err }},
		{"struct key without Key", func() error { _, err := tiered.New(&tiered.Options[point, int]{Name: "a"}); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if !errors.Is(err, tiered.ErrInvalidOptions) || !strings.HasPrefix(err.Error(), "tiered: ") {
				t.Fatalf("err = %v, want ErrInvalidOptions starting with \"tiered: \"", err)
			}
		})
	}
}

func TestDefaultKeys(t *testing.T) {
	t.Parallel()
	type UserID int64
	type Slug string
	ctx := context.Background()

	ids, err := tiered.New(&tiered.Options[UserID, string]{Name: "ids",
		Loader: loader.Func[UserID, string](func(_ context.Context, id UserID) (string, error) { return fmt.Sprint(int64(id)), nil })})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ids.Close() }()
	for _, id := range []UserID{0, -7, 1 << 62} {
		if v, err := ids.Get(ctx, id); err != nil || v != fmt.Sprint(int64(id)) {
			t.Fatalf("Get(%d) = %q, %v", id, v, err)
		}
	}

	slugs, err := tiered.New(&tiered.Options[Slug, int]{Name: "slugs"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = slugs.Close() }()
	if err := slugs.Set(ctx, "hello", 5); err != nil {
		t.Fatal(err)
	}
	if v, err := slugs.Get(ctx, "hello"); err != nil || v != 5 {
		t.Fatalf("Get(hello) = %d, %v", v, err)
	}
}

func TestGetLoadsOnceThenServesFromL1(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	got, err := f.cache.Get(ctx, 1)
	if err != nil || got.ID != 1 || got.Address.City != "London" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	// The L1 fill after a load is asynchronous: wait until it serves.
	waitFor(t, "an L1 hit", func() bool {
		_, err := f.cache.Get(ctx, 1)
		return err == nil && f.snap().Get(stats.L1Hit) > 0
	})
	if n := f.loader.calls.Load(); n != 1 {
		t.Fatalf("loader calls = %d, want 1", n)
	}
	if f.l2.Len() != 1 {
		t.Fatalf("L2 holds %d values, want 1", f.l2.Len())
	}
}

func TestSecondInstanceReadsThroughL2(t *testing.T) {
	t.Parallel()
	a := newFixture(t, nil)
	b, err := tiered.New(&tiered.Options[int64, User]{Name: "user", L2: a.l2, Loader: a.loader, Now: a.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	ctx := context.Background()
	if _, err := a.cache.Get(ctx, 9); err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx, 9)
	if err != nil || got.ID != 9 {
		t.Fatalf("second instance: %+v, %v", got, err)
	}
	if n := a.loader.calls.Load(); n != 1 {
		t.Fatalf("loader calls = %d, want 1 (the second instance reads L2)", n)
	}
}

func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	for i := range int64(200) {
		u := user(i)
		u.Name = fmt.Sprintf("v%d", i)
		if err := f.cache.Set(ctx, i, u); err != nil {
			t.Fatal(err)
		}
		// L2 down: the value can only come from L1.
		f.l2.FailWith(errors.New("down"))
		got, err := f.cache.Get(ctx, i)
		f.l2.FailWith(nil)
		if err != nil || got.Name != u.Name {
			t.Fatalf("Get(%d) right after Set = %q, %v", i, got.Name, err)
		}
	}
	if n := f.loader.calls.Load(); n != 0 {
		t.Fatalf("loader called %d times", n)
	}
}

func TestCacheAsideMiss(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *tiered.Options[int64, User]) { o.Loader = nil })
	if _, err := f.cache.Get(context.Background(), 1); !errors.Is(err, tiered.ErrMiss) {
		t.Fatalf("err = %v, want ErrMiss", err)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	t.Run("cached for NotFoundTTL", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, func(o *tiered.Options[int64, User]) { o.NotFoundTTL = time.Minute })
		f.loader.setErr(fmt.Errorf("no row: %w", tiered.ErrNotFound))
		ctx := context.Background()
		for range 3 {
			if _, err := f.cache.Get(ctx, 5); !errors.Is(err, tiered.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
		}
		if n := f.loader.calls.Load(); n != 1 {
			t.Fatalf("loader calls = %d, want 1 (negative answer cached)", n)
		}
		// A second instance sees the negative entry in L2.
		// (No L1 there: its entries expire on the real clock, not the fake one.)
		other, err := tiered.New(&tiered.Options[int64, User]{Name: "user", L2: f.l2, Loader: f.loader, Now: f.clock.Now, L1: noL1{}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = other.Close() }()
		if _, err := other.Get(ctx, 5); !errors.Is(err, tiered.ErrNotFound) {
			t.Fatalf("other instance: err = %v", err)
		}
		if n := f.loader.calls.Load(); n != 1 {
			t.Fatalf("loader calls = %d after the second instance, want 1", n)
		}
		// After NotFoundTTL the key is loaded again.
		f.clock.Advance(2 * time.Minute)
		f.loader.setErr(nil)
		if _, err := other.Get(ctx, 5); err != nil {
			t.Fatalf("after NotFoundTTL: %v", err)
		}
	})
	t.Run("not cached by default", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		f.loader.setErr(tiered.ErrNotFound)
		for range 3 {
			if _, err := f.cache.Get(context.Background(), 5); !errors.Is(err, tiered.ErrNotFound) {
				t.Fatalf("err = %v", err)
			}
		}
		if n := f.loader.calls.Load(); n != 3 {
			t.Fatalf("loader calls = %d, want 3", n)
		}
	})
}

func TestLoaderErrorIsReturnedNotCached(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	boom := errors.New("db down")
	f.loader.setErr(boom)
	if _, err := f.cache.Get(context.Background(), 1); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	f.loader.setErr(nil)
	if _, err := f.cache.Get(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if s := f.snap(); s.Get(stats.LoadFailure) != 1 || s.Get(stats.LoadSuccess) != 1 {
		t.Fatalf("loads: %d failures, %d successes", s.Get(stats.LoadFailure), s.Get(stats.LoadSuccess))
	}
}

// TestStampede: 1,000 goroutines Get the same cold key; the loader is held
// until every one of them has missed L2, and is called exactly once.
func TestStampede(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	f := newFixture(t, nil)
	f.loader.hook = func(context.Context, int64) { <-release }
	const n = 1000
	stampede(t, n, 77, func(ctx context.Context) (User, error) { return f.cache.Get(ctx, 77) },
		func() bool { return f.snap().Get(stats.L2Miss) == n }, release)
	if got := f.loader.calls.Load(); got != 1 {
		t.Fatalf("loader calls = %d, want 1", got)
	}
}

func TestLoaderPanicReachesEveryWaiter(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	f := newFixture(t, nil)
	f.loader.hook = func(context.Context, int64) {
		<-release
		panic("loader exploded")
	}
	const n = 50
	errs := make(chan error, n)
	for range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := f.cache.Get(ctx, 3)
			errs <- err
		}()
	}
	waitFor(t, "all callers to reach the load", func() bool { return f.snap().Get(stats.L2Miss) == n })
	close(release)
	for range n {
		err := <-errs
		var pe *loader.PanicError
		if !errors.As(err, &pe) || pe.Value != "loader exploded" {
			t.Fatalf("err = %v, want a loader.PanicError", err)
		}
	}
}

func TestCancelledCallerDoesNotCancelLoad(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var loadCtxErr atomic.Value
	f := newFixture(t, nil)
	f.loader.hook = func(ctx context.Context, _ int64) {
		<-release
		if ctx.Err() != nil {
			loadCtxErr.Store(ctx.Err())
		}
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() {
		_, err := f.cache.Get(ctxA, 8)
		errA <- err
	}()
	waitFor(t, "the load to start", func() bool { return f.loader.calls.Load() == 1 })
	const others = 5
	vals := make(chan User, others)
	for range others {
		go func() {
			u, err := f.cache.Get(context.Background(), 8)
			if err != nil {
				t.Error(err)
			}
			vals <- u
		}()
	}
	waitFor(t, "the others to wait", func() bool { return f.snap().Get(stats.L2Miss) == 1+others })
	cancelA()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v, want context.Canceled", err)
	}
	close(release)
	for range others {
		if u := <-vals; u.ID != 8 {
			t.Fatalf("other caller got %+v", u)
		}
	}
	if err := loadCtxErr.Load(); err != nil {
		t.Fatalf("the load saw its context end: %v", err)
	}
	if n := f.loader.calls.Load(); n != 1 {
		t.Fatalf("loader calls = %d", n)
	}
}

func TestLoadContextKeepsValuesAndTimeout(t *testing.T) {
	t.Parallel()
	type ctxKey struct{}
	var sawValue atomic.Bool
	var deadline atomic.Int64
	f := newFixture(t, func(o *tiered.Options[int64, User]) { o.LoadTimeout = 3 * time.Second })
	f.loader.hook = func(ctx context.Context, _ int64) {
		sawValue.Store(ctx.Value(ctxKey{}) == "trace-1")
		if d, ok := ctx.Deadline(); ok {
			deadline.Store(int64(time.Until(d)))
		}
	}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "trace-1"))
	defer cancel()
	if _, err := f.cache.Get(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if !sawValue.Load() {
		t.Fatal("the load lost the caller's context values")
	}
	if d := time.Duration(deadline.Load()); d <= 0 || d > 3*time.Second {
		t.Fatalf("load deadline in %v, want within LoadTimeout (3s)", d)
	}
}

// TestStaleSetInProcess: a load reads the old value from the source, then a
// Delete of the key completes, then the load returns. The old value must
// end up in neither tier.
func TestStaleSetInProcess(t *testing.T) {
	t.Parallel()
	loaded := make(chan struct{})
	release := make(chan struct{})
	f := newFixture(t, nil)
	f.loader.hook = func(context.Context, int64) {
		close(loaded) // the old value has been read
		<-release
	}
	ctx := context.Background()
	res := make(chan error, 1)
	go func() {
		_, err := f.cache.Get(ctx, 4)
		res <- err
	}()
	<-loaded
	if err := f.cache.Delete(ctx, 4); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-res; err != nil {
		t.Fatal(err) // the waiter still gets the value it asked for
	}
	if f.holds(t, 4) {
		t.Fatal("the load wrote its value to L2 after the Delete")
	}
	f.loader.hook = nil
	f.l2.FailWith(errors.New("down")) // only L1 could answer now
	defer f.l2.FailWith(nil)
	before := f.loader.calls.Load()
	if _, err := f.cache.Get(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if f.loader.calls.Load() != before+1 {
		t.Fatal("Get after Delete was served from L1: the stale value was kept")
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	for i := range int64(3) {
		if err := f.cache.Set(ctx, i, user(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.cache.Delete(ctx, 0, 1, 99); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int64]bool{0: false, 1: false, 2: true, 99: false} {
		if got := f.holds(t, id); got != want {
			t.Errorf("L2 holds a value for %d: %v, want %v", id, got, want)
		}
	}
	if _, err := f.cache.Get(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if n := f.loader.calls.Load(); n != 1 {
		t.Fatalf("loader calls = %d, want 1 (deleted key reloaded)", n)
	}
	if err := f.cache.Delete(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWritesReturnL2Errors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	if err := f.cache.Set(ctx, 1, user(1)); err != nil {
		t.Fatal(err)
	}
	down := errors.New("connection refused")
	f.l2.FailWith(down)
	if err := f.cache.Set(ctx, 1, user(2)); !errors.Is(err, down) {
		t.Fatalf("Set: %v, want %v", err, down)
	}
	if err := f.cache.SetMany(ctx, map[int64]User{1: user(3)}); !errors.Is(err, down) {
		t.Fatalf("SetMany: %v", err)
	}
	if err := f.cache.Delete(ctx, 1); !errors.Is(err, down) {
		t.Fatalf("Delete: %v", err)
	}
	// The failed writes left nothing in L1: the next read loads.
	if _, err := f.cache.Get(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if f.loader.calls.Load() != 1 {
		t.Fatal("a failed write left its value in L1")
	}
}

// TestL2DownReadsGoOn: with L2 failing, Get keeps answering from the loader;
// reads skip L2 for the cool-down, then one probe finds it back.
func TestL2DownReadsGoOn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *tiered.Options[int64, User]) {
		o.L2Cooldown = 5 * time.Second
		o.L1 = noL1{} // every read reaches L2
	})
	ctx := context.Background()
	f.l2.FailWith(errors.New("down"))
	for i := range int64(20) {
		if u, err := f.cache.Get(ctx, i); err != nil || u.ID != i {
			t.Fatalf("Get(%d) with L2 down: %+v, %v", i, u, err)
		}
	}
	s := f.snap()
	if s.Get(stats.L2Error) != 1 || s.Get(stats.L2Skipped) < 19 {
		t.Fatalf("L2 errors %d, skipped %d; want 1 error, then skips", s.Get(stats.L2Error), s.Get(stats.L2Skipped))
	}
	f.l2.FailWith(nil)
	f.clock.Advance(6 * time.Second) // cool-down over: the next read probes L2
	if _, err := f.cache.Get(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if f.l2.Len() == 0 {
		t.Fatal("L2 not used again after the cool-down")
	}
	hits := f.snap().Get(stats.L2Hit)
	if _, err := f.cache.Get(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if f.snap().Get(stats.L2Hit) != hits+1 {
		t.Fatal("second read did not hit L2")
	}
}

func TestL2SlowReadsGoOn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *tiered.Options[int64, User]) { o.L2Timeout = 20 * time.Millisecond })
	f.l2.SetDelay(time.Minute)
	ctx := context.Background()
	if u, err := f.cache.Get(ctx, 1); err != nil || u.ID != 1 {
		t.Fatalf("Get with slow L2: %+v, %v", u, err)
	}
	if f.snap().Get(stats.L2Error) == 0 {
		t.Fatal("the slow L2 read was not counted as an error")
	}
}

func TestCorruptL2ValueIsRepaired(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	for i, junk := range [][]byte{
		nil, {0}, []byte("plain string"), {0xC7, 0x7C, 3, 0, 0, 0}, // truncated frame of the current version
		[]byte(strings.Repeat("\xff", 64)),
	} {
		id := int64(i)
		if err := f.l2.Set(ctx, fmt.Sprintf("user:%d", id), junk, time.Hour); err != nil {
			t.Fatal(err)
		}
		u, err := f.cache.Get(ctx, id)
		if err != nil || u.ID != id {
			t.Fatalf("Get over junk %q: %+v, %v", junk, u, err)
		}
		b, err := f.l2.Get(ctx, fmt.Sprintf("user:%d", id))
		if err != nil || string(b) == string(junk) {
			t.Fatalf("key %d not repaired: %q, %v", id, b, err)
		}
	}
	if got := f.snap().Get(stats.L2Corrupt); got != 5 {
		t.Fatalf("corrupt values counted: %d, want 5", got)
	}
}

func TestGetManyBatchLoader(t *testing.T) {
	t.Parallel()
	var batches atomic.Int64
	var lastBatch atomic.Int64
	f := newFixture(t, func(o *tiered.Options[int64, User]) {
		o.NotFoundTTL = time.Minute
		o.BatchLoader = loader.BatchFunc[int64, User](func(_ context.Context, ids []int64) (map[int64]User, error) {
			batches.Add(1)
			lastBatch.Store(int64(len(ids)))
			out := make(map[int64]User, len(ids))
			for _, id := range ids {
				if id%10 != 0 { // multiples of 10 do not exist
					out[id] = user(id)
				}
			}
			return out, nil
		})
	})
	ctx := context.Background()
	// 1..5 in L2 already, 6 in L1.
	for i := range int64(5) {
		if err := f.cache.Set(ctx, i+1, user(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	keys := make([]int64, 0, 100)
	for i := range int64(100) {
		keys = append(keys, i+1)
	}
	keys = append(keys, 1, 2) // duplicates
	got, err := f.cache.GetMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 90 {
		t.Fatalf("GetMany returned %d values, want 90", len(got))
	}
	for id, u := range got {
		if u.ID != id || id%10 == 0 {
			t.Fatalf("got[%d] = %+v", id, u)
		}
	}
	if batches.Load() != 1 || lastBatch.Load() != 95 {
		t.Fatalf("batch loader: %d calls, last with %d keys; want 1 call with 95", batches.Load(), lastBatch.Load())
	}
	// Everything is cached now, negative answers included.
	other, err := tiered.New(&tiered.Options[int64, User]{Name: "user", L2: f.l2, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Close() }()
	got2, err := other.GetMany(ctx, keys)
	if err != nil || len(got2) != 90 {
		t.Fatalf("second instance: %d values, %v", len(got2), err)
	}
	if batches.Load() != 1 {
		t.Fatal("second instance called the batch loader")
	}
}

func TestGetManyWithoutBatchLoader(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	got, err := f.cache.GetMany(context.Background(), []int64{1, 2, 3})
	if err != nil || len(got) != 3 || got[2].ID != 2 {
		t.Fatalf("GetMany = %v, %v", got, err)
	}
	if n := f.loader.calls.Load(); n != 3 {
		t.Fatalf("loader calls = %d", n)
	}
	boom := errors.New("boom")
	f.loader.setErr(boom)
	if _, err := f.cache.GetMany(context.Background(), []int64{4}); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}

func TestSetManyGetMany(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *tiered.Options[int64, User]) { o.Loader = nil })
	ctx := context.Background()
	items := map[int64]User{}
	for i := range int64(50) {
		items[i] = user(i)
	}
	if err := f.cache.SetMany(ctx, items); err != nil {
		t.Fatal(err)
	}
	if f.l2.Len() != 50 {
		t.Fatalf("L2 holds %d", f.l2.Len())
	}
	f.l2.FailWith(errors.New("down")) // read-your-writes from L1
	got, err := f.cache.GetMany(ctx, []int64{0, 10, 49, 50})
	f.l2.FailWith(nil)
	if err != nil || len(got) != 3 || got[49].ID != 49 {
		t.Fatalf("GetMany = %d values %v, %v", len(got), got, err)
	}
}

func TestTTLAndJitter(t *testing.T) {
	t.Parallel()
	rec := &recordingL1{}
	f := newFixture(t, func(o *tiered.Options[int64, User]) {
		o.L1 = rec
		o.TTL = time.Minute
		o.L1TTL = time.Hour // longer than TTL: L1 must still stop at TTL
		o.Jitter = 0.5
		o.Rand = func() float64 { return 0.99 } // 49.5% off the TTL
	})
	ctx := context.Background()
	if _, err := f.cache.Get(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The L1 entry lives until the jittered expiry: 60 s * (1 - 0.495).
	if ttl := rec.lastTTL(); ttl != 30300*time.Millisecond {
		t.Fatalf("L1 TTL = %v, want 30.3s", ttl)
	}
	// L2 holds it as long, as a second instance (no L1 of its own) sees.
	other, err := tiered.New(&tiered.Options[int64, User]{Name: "user", L2: f.l2, Loader: f.loader, Now: f.clock.Now, L1: noL1{}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Close() }()
	f.clock.Advance(30 * time.Second)
	if _, err := other.Get(ctx, 1); err != nil || f.loader.calls.Load() != 1 {
		t.Fatalf("reloaded before the jittered TTL: %d calls, %v", f.loader.calls.Load(), err)
	}
	f.clock.Advance(time.Second)
	if _, err := other.Get(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if n := f.loader.calls.Load(); n != 2 {
		t.Fatalf("loader calls = %d after the jittered TTL, want 2", n)
	}
	// With a short L1TTL, that is the L1 lifetime.
	rec2 := &recordingL1{}
	short := newFixture(t, func(o *tiered.Options[int64, User]) { o.L1 = rec2; o.L1TTL = 5 * time.Second })
	if _, err := short.cache.Get(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if ttl := rec2.lastTTL(); ttl != 5*time.Second {
		t.Fatalf("L1 TTL = %v, want L1TTL (5s)", ttl)
	}
}

func TestCompression(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("compressible ", 500)
	f := newFixture(t, func(o *tiered.Options[int64, User]) { o.Compressor = codec.S2{} })
	ctx := context.Background()
	u := user(1)
	u.Name = big
	if err := f.cache.Set(ctx, 1, u); err != nil {
		t.Fatal(err)
	}
	raw, err := f.l2.Get(ctx, "user:1")
	if err != nil || len(raw) > len(big)/2 {
		t.Fatalf("stored %d bytes for a %d-byte name: not compressed (%v)", len(raw), len(big), err)
	}
	// Another instance reads it from L2.
	other, err := tiered.New(&tiered.Options[int64, User]{Name: "user", L2: f.l2, Compressor: codec.S2{}, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Close() }()
	got, err := other.Get(ctx, 1)
	if err != nil || got.Name != big {
		t.Fatalf("Get of a compressed value: %d bytes, %v", len(got.Name), err)
	}
}

func TestWithoutL2(t *testing.T) {
	t.Parallel()
	l := &countingLoader{}
	c, err := tiered.New(&tiered.Options[int64, User]{Name: "local", Loader: l})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ctx := context.Background()
	if err := c.Set(ctx, 1, user(1)); err != nil {
		t.Fatal(err)
	}
	if u, err := c.Get(ctx, 1); err != nil || u.ID != 1 || l.calls.Load() != 0 {
		t.Fatalf("Get = %+v, %v, %d loads", u, err, l.calls.Load())
	}
	if err := c.Delete(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, 1); err != nil || l.calls.Load() != 1 {
		t.Fatalf("after Delete: %v, %d loads", err, l.calls.Load())
	}
}

func TestCloseCancelsLoadsAndIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	started := make(chan struct{})
	f.loader.hook = func(ctx context.Context, _ int64) {
		close(started)
		<-ctx.Done() // a loader that honours its context
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := make(chan error, 1)
	go func() {
		_, err := f.cache.Get(ctx, 1)
		res <- err
	}()
	<-started
	if err := f.cache.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.cache.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-res; err == nil {
		t.Fatal("a load cut short by Close returned no error")
	}
	if _, err := f.cache.Get(ctx, 1); !errors.Is(err, tiered.ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := f.cache.Set(ctx, 1, User{}); !errors.Is(err, tiered.ErrClosed) {
		t.Fatalf("Set after Close: %v", err)
	}
	if _, err := f.cache.GetMany(ctx, []int64{1}); !errors.Is(err, tiered.ErrClosed) {
		t.Fatalf("GetMany after Close: %v", err)
	}
	if err := f.cache.SetMany(ctx, map[int64]User{1: {}}); !errors.Is(err, tiered.ErrClosed) {
		t.Fatalf("SetMany after Close: %v", err)
	}
	if err := f.cache.Delete(ctx, 1); !errors.Is(err, tiered.ErrClosed) {
		t.Fatalf("Delete after Close: %v", err)
	}
}

func TestL1HitDoesNotAllocate(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if err := f.cache.Set(ctx, 1, user(1)); err != nil {
		t.Fatal(err)
	}
	sc, err := tiered.New(&tiered.Options[string, User]{Name: "s", L2: memstore.New(nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sc.Close() }()
	if err := sc.Set(ctx, "ada", user(1)); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(1000, func() { _, _ = sc.Get(ctx, "ada") }); a != 0 {
		t.Fatalf("L1 hit with a string key: %v allocs, want 0", a)
	}
	if a := testing.AllocsPerRun(1000, func() { _, _ = f.cache.Get(ctx, 1) }); a != 0 {
		t.Fatalf("L1 hit with a small int key: %v allocs, want 0", a)
	}
	// A loaded value (its load took time): the hit reads the clock to draw
	// an early refresh.
	f.loader.hook = func(context.Context, int64) { f.clock.Advance(time.Millisecond) }
	if _, err := f.cache.Get(ctx, 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the loaded value in L1", func() bool {
		hits := f.snap().Get(stats.L1Hit)
		_, _ = f.cache.Get(ctx, 2)
		return f.snap().Get(stats.L1Hit) > hits
	})
	if a := testing.AllocsPerRun(1000, func() { _, _ = f.cache.Get(ctx, 2) }); a != 0 {
		t.Fatalf("L1 hit of a loaded value: %v allocs, want 0", a)
	}
	if n := f.snap().Get(stats.EarlyRefresh); n != 0 {
		t.Fatalf("%d early refreshes of a value an hour from its expiry", n)
	}
	// The same with the default clock, which a hit reads from a goroutine
	// of its own.
	lc, err := tiered.New(&tiered.Options[string, User]{Name: "l", TTL: time.Hour,
		Loader: loader.Func[string, User](func(context.Context, string) (User, error) {
			time.Sleep(2 * time.Millisecond) // a load time above the clock's resolution
			return user(3), nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lc.Close() }()
	if _, err := lc.Get(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(1000, func() { _, _ = lc.Get(ctx, "ada") }); a != 0 {
		t.Fatalf("L1 hit of a loaded value, default clock: %v allocs, want 0", a)
	}
}

// TestConcurrentWritesKeepTiersInAgreement: Sets, Deletes, SetManys and
// reads of a few keys from many goroutines; afterwards every key that L1
// holds has the value L2 holds.
func TestConcurrentWritesKeepTiersInAgreement(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *tiered.Options[int64, User]) { o.Loader = nil })
	f.l2.SetDelay(20 * time.Microsecond) // a round trip: widens the windows between tiers
	ctx := context.Background()
	const keys, workers, ops = 4, 8, 300
	var wg sync.WaitGroup
	var version atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ops {
				id := int64((w + i) % keys)
				switch i % 5 {
				case 0:
					u := user(id)
					u.Age = int(version.Add(1))
					if err := f.cache.Set(ctx, id, u); err != nil {
						t.Error(err)
					}
				case 1:
					if err := f.cache.Delete(ctx, id); err != nil {
						t.Error(err)
					}
				case 2:
					batch := map[int64]User{}
					for j := range int64(keys) {
						u := user(j)
						u.Age = int(version.Add(1))
						batch[j] = u
					}
					if err := f.cache.SetMany(ctx, batch); err != nil {
						t.Error(err)
					}
				default:
					if _, err := f.cache.Get(ctx, id); err != nil && !errors.Is(err, tiered.ErrMiss) {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	f.l2.SetDelay(0)
	reader, err := tiered.New(&tiered.Options[int64, User]{Name: "user", L2: f.l2, L1: noL1{}, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reader.Close() }()
	for id := range int64(keys) {
		inL2, l2err := reader.Get(ctx, id)
		f.l2.FailWith(errors.New("down")) // now only L1 answers
		inL1, l1err := f.cache.Get(ctx, id)
		f.l2.FailWith(nil)
		switch {
		case l1err != nil: // not in L1: nothing to disagree with
		case l2err != nil:
			t.Errorf("key %d: L1 holds version %d, L2 holds nothing (%v)", id, inL1.Age, l2err)
		case inL1.Age != inL2.Age:
			t.Errorf("key %d: L1 holds version %d, L2 holds %d", id, inL1.Age, inL2.Age)
		}
	}
}

// ristretto drops the Set of a new key while an earlier Set of it still
// waits in its buffer. A read fills L1 asynchronously; a Set right after
// must still win (read-your-writes), not the value the read put there. The
// same with otter, whose Sets are applied at once.
func TestSetAfterPendingFill(t *testing.T) {
	t.Parallel()
	for _, b := range l1Backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			shared := memstore.New(nil)
			defer func() { _ = shared.Close() }()
			writer, err := tiered.New(&tiered.Options[int, int]{Name: "n", L2: shared})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = writer.Close() }()
			c, err := tiered.New(&tiered.Options[int, int]{Name: "n", L2: shared, L1: b.new(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = c.Close() }()
			stale := 0
			for k := range 500 {
				if err := writer.Set(ctx, k, 1); err != nil {
					t.Fatal(err)
				}
				if v, err := c.Get(ctx, k); err != nil || v != 1 { // from L2; its L1 fill may be buffered
					t.Fatalf("Get(%d) = %d, %v", k, v, err)
				}
				if err := c.Set(ctx, k, 2); err != nil {
					t.Fatal(err)
				}
				if v, _ := c.Get(ctx, k); v != 2 {
					stale++
				}
			}
			if stale > 0 {
				t.Errorf("%d of 500 Gets after a Set returned the value read before it", stale)
			}
		})
	}
}

// A read right after a load hits L1 with the default store (otter applies
// a fill before Set returns); ristretto's buffered fills may miss.
func TestReadAfterLoadHitsL1(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	const keys = 1000
	for id := range int64(keys) {
		if _, err := f.cache.Get(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := f.cache.Get(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	s := f.snap()
	if s.Get(stats.L1Hit) != keys || f.loader.calls.Load() != keys {
		t.Errorf("%d keys loaded then read again: %d L1 hits, %d loads; want %d and %d",
			keys, s.Get(stats.L1Hit), f.loader.calls.Load(), keys, keys)
	}
}

// A miss costs two L2 calls: with leases, the read that takes the lease
// (l2.LeaseReader) and the load's SetLeased; without, the read and the
// conditional write. (It cost three: the flight looked at L2 again, with
// the lease script under leases.)
func TestMiss_TwoL2Calls(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		leaseTTL time.Duration
		write    stats.Op
	}{{"leases", 0, stats.OpSetLeased}, {"no-leases", -1, stats.OpSetIf}} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, func(o *tiered.Options[int64, User]) { o.LeaseTTL, o.L1 = c.leaseTTL, noL1{} })
			ctx := context.Background()
			const keys = 100
			for id := range int64(keys) {
				if _, err := f.cache.Get(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			s := f.snap()
			calls := func(op stats.Op) int64 { return s.L2Calls(op, stats.OK) }
			if calls(stats.OpGet) != keys || calls(c.write) != keys || calls(stats.OpLease) != 0 || calls(stats.OpSetIf)+calls(stats.OpSetLeased) != keys {
				t.Errorf("%d misses: %d gets, %d leases, %d set_leased, %d set_if; want %d gets and %d %v",
					keys, calls(stats.OpGet), calls(stats.OpLease), calls(stats.OpSetLeased), calls(stats.OpSetIf), keys, keys, c.write)
			}
			if c.leaseTTL == 0 && s.Get(stats.LeaseGranted) != keys {
				t.Errorf("%d misses under leases: %d granted, want %d", keys, s.Get(stats.LeaseGranted), keys)
			}
			for id := range int64(keys) {
				if !f.holds(t, id) {
					t.Fatalf("key %d not in L2 after its load", id)
				}
			}
			if got := f.loader.calls.Load(); got != keys {
				t.Errorf("%d loads, want %d", got, keys)
			}
		})
	}
}
