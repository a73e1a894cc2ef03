package tiered_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// A value expires while its source stalls (every call hangs for 2 s,
// deaf to its context), in simulated time (testing/synctest): LoadTimeout
// 150 ms, LoadSoftTimeout 20 ms, StaleIfError 1 min, FailSafeThrottle 5 s,
// a read every 10 ms. Every read answers within the soft timeout with the
// stale value, the loader is called at most once per throttle period,
// and once the source answers again its value replaces the stale one
// within a throttle period.
func TestFailSafe_StalledSource(t *testing.T) {
	t.Parallel()
	const (
		ttl      = time.Minute
		soft     = 20 * time.Millisecond
		hard     = 150 * time.Millisecond
		stall    = 2 * time.Second
		throttle = 5 * time.Second
		outage   = 30 * time.Second
	)
	synctest.Test(t, func(t *testing.T) {
		var (
			mu      sync.Mutex
			calls   []time.Time
			version = 1
			stalled bool
		)
		ld := loader.Func[int64, User](func(_ context.Context, id int64) (User, error) {
			mu.Lock()
			calls = append(calls, time.Now())
			v, s := version, stalled
			mu.Unlock()
			if s {
				time.Sleep(stall) // a hung connection: the context is not looked at
				return User{}, errors.New("source stalled")
			}
			u := user(id)
			u.Name = "v" + strconv.Itoa(v)
			return u, nil
		})
		store := memstore.New(&memstore.Options{Now: time.Now})
		defer func() { _ = store.Close() }()
		var counter stats.Counter
		c, err := tiered.New(&tiered.Options[int64, User]{
			Name: "user", L1: &expiringL1{}, L2: store, Loader: ld, Stats: &counter, Now: time.Now, Beta: -1,
			TTL: ttl, L1TTL: 2 * ttl, StaleIfError: time.Minute,
			LoadTimeout: hard, LoadSoftTimeout: soft, FailSafeThrottle: throttle,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		ctx := context.Background()
		read := func() (string, time.Duration) {
			t.Helper()
			start := time.Now()
			u, err := c.Get(ctx, 1)
			if err != nil {
				t.Fatalf("Get at %v: %v", time.Now().Format("15:04:05.000"), err)
			}
			return u.Name, time.Since(start)
		}
		if name, _ := read(); name != "v1" {
			t.Fatalf("first Get = %q, want v1", name)
		}

		time.Sleep(ttl) // v1 expires; the source stalls, and holds v2 when it answers
		mu.Lock()
		stalled, version = true, 2
		mu.Unlock()
		begin := time.Now()
		reads, longest := 0, time.Duration(0)
		for time.Since(begin) < outage {
			name, took := read()
			if name != "v1" {
				t.Fatalf("read %v into the outage: %q, want the stale v1", time.Since(begin), name)
			}
			reads++
			longest = max(longest, took)
			time.Sleep(10 * time.Millisecond)
		}
		if longest > soft {
			t.Errorf("the slowest of %d reads during the outage took %v, more than LoadSoftTimeout (%v)", reads, longest, soft)
		}
		mu.Lock()
		during := slices.Clone(calls[1:])
		mu.Unlock()
		for i := 1; i < len(during); i++ {
			if gap := during[i].Sub(during[i-1]); gap < throttle {
				t.Errorf("loader calls %d and %d during the outage %v apart, less than FailSafeThrottle (%v)", i-1, i, gap, throttle)
			}
		}
		if n := len(during); n < 2 || n > int(outage/throttle)+1 {
			t.Errorf("%d loader calls in %v of outage, want 2 to %d (one per FailSafeThrottle)", n, outage, int(outage/throttle)+1)
		}

		mu.Lock()
		stalled = false
		mu.Unlock()
		back := time.Now()
		for {
			name, took := read()
			if took > soft {
				t.Errorf("a read after the source came back took %v", took)
			}
			if name == "v2" {
				break
			}
			if time.Since(back) > throttle+hard {
				t.Fatalf("still %q %v after the source came back, want v2 within FailSafeThrottle + LoadTimeout", name, time.Since(back))
			}
			time.Sleep(10 * time.Millisecond)
		}
		recovered := time.Since(back)
		for range 10 {
			if name, _ := read(); name != "v2" {
				t.Fatalf("after the recovery: %q, want v2", name)
			}
		}
		s := counter.Snapshot()
		t.Logf("%d reads in %v of outage, the slowest %v; %d loader calls meanwhile; v2 served %v after the source came back; soft timeouts %d, throttled %d, stale served %d, abandoned %d",
			reads, outage, longest, len(during), recovered, s.Get(stats.SoftTimeout), s.Get(stats.Throttled),
			s.Get(stats.StaleServed), s.Get(stats.LoadAbandoned))
		if s.Get(stats.SoftTimeout) != int64(len(during)) {
			t.Errorf("%d soft timeouts, want one per loader call during the outage (%d)", s.Get(stats.SoftTimeout), len(during))
		}
		if s.Get(stats.Throttled) < int64(reads-len(during)) {
			t.Errorf("%d reads throttled, want at least %d (every read that did not call the loader)", s.Get(stats.Throttled), reads-len(during))
		}
	})
}

// FailSafeThrottle, on the fake clock: after a failed load whose stale
// value was served, reads of the key serve it without calling the loader
// for the throttle period, then one read asks again; a write ends the
// hold at once. Negative turns it off: every read calls the loader.
func TestFailSafeThrottle(t *testing.T) {
	t.Parallel()
	const (
		ttl      = time.Minute
		throttle = 10 * time.Second
	)
	boom := errors.New("source down")
	t.Run("on", func(t *testing.T) {
		t.Parallel()
		f, sl, _ := newSeqFixture(t, func(o *tiered.Options[int64, User]) {
			o.TTL, o.StaleIfError, o.L1TTL, o.Beta, o.FailSafeThrottle = ttl, 5*time.Minute, 10*time.Minute, -1, throttle
		})
		ctx := context.Background()
		if got := getName(t, f.cache, 1); got != "v1" {
			t.Fatalf("first Get: %q, want v1", got)
		}
		f.clock.Advance(ttl + time.Second)
		sl.setErr(boom)
		for i := range 20 {
			if got := getName(t, f.cache, 1); got != "v1" {
				t.Fatalf("Get %d after the failure: %q, want the stale v1", i, got)
			}
		}
		if n := sl.calls.Load(); n != 2 {
			t.Fatalf("%d loader calls for the first Get and 20 after the expiry, want 2", n)
		}
		if s := f.snap(); s.Get(stats.Throttled) != 19 || s.Get(stats.StaleServed) != 20 {
			t.Fatalf("throttled %d, stale served %d; want 19 and 20", s.Get(stats.Throttled), s.Get(stats.StaleServed))
		}
		f.clock.Advance(throttle - time.Millisecond)
		getName(t, f.cache, 1)
		if n := sl.calls.Load(); n != 2 {
			t.Fatalf("%d loader calls 1 ms before the throttle ends, want 2", n)
		}
		f.clock.Advance(time.Millisecond)
		if got := getName(t, f.cache, 1); got != "v1" || sl.calls.Load() != 3 {
			t.Fatalf("once the throttle ended: %q after %d loader calls, want the stale v1 after 3", got, sl.calls.Load())
		}
		// A write ends the hold: the next read serves it.
		u := user(1)
		u.Name = "written"
		if err := f.cache.Set(ctx, 1, u); err != nil {
			t.Fatal(err)
		}
		if got := getName(t, f.cache, 1); got != "written" {
			t.Fatalf("after a Set during the hold: %q, want written", got)
		}
		// So does the end of the StaleIfError window.
		f.clock.Advance(ttl + time.Second) // the written value expires
		getName(t, f.cache, 1)             // fails, holds it
		calls := sl.calls.Load()
		f.clock.Advance(5 * time.Minute)
		if _, err := f.cache.Get(ctx, 1); !errors.Is(err, boom) || sl.calls.Load() != calls+1 {
			t.Fatalf("past StaleIfError: %v after %d more loader calls, want the loader's error after 1", err, sl.calls.Load()-calls)
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		f, sl, _ := newSeqFixture(t, func(o *tiered.Options[int64, User]) {
			o.TTL, o.StaleIfError, o.L1TTL, o.Beta, o.FailSafeThrottle = ttl, 5*time.Minute, 10*time.Minute, -1, -1
		})
		getName(t, f.cache, 1)
		f.clock.Advance(ttl + time.Second)
		sl.setErr(boom)
		for range 20 {
			if got := getName(t, f.cache, 1); got != "v1" {
				t.Fatalf("Get after the failure: %q, want the stale v1", got)
			}
		}
		if n := sl.calls.Load(); n != 21 {
			t.Fatalf("%d loader calls with FailSafeThrottle off, want 21 (one per read)", n)
		}
		if n := f.snap().Get(stats.Throttled); n != 0 {
			t.Fatalf("%d reads throttled with FailSafeThrottle off", n)
		}
	})
}

// A load slower than LoadSoftTimeout but within LoadTimeout: the read gets
// the stale value at the soft timeout, the load goes on and stores its
// value in both tiers, and the next reads get it without a loader call,
// in this instance (L1) and in another one (L2). Simulated time.
func TestFailSafe_SlowLoadFillsBothTiers(t *testing.T) {
	t.Parallel()
	const (
		ttl  = time.Minute
		soft = 20 * time.Millisecond
		slow = 100 * time.Millisecond
	)
	synctest.Test(t, func(t *testing.T) {
		var calls, version atomic.Int64
		version.Store(1)
		ld := loader.Func[int64, User](func(ctx context.Context, id int64) (User, error) {
			calls.Add(1)
			if version.Load() > 1 {
				time.Sleep(slow)
			}
			u := user(id)
			u.Name = "v" + strconv.FormatInt(version.Load(), 10)
			return u, ctx.Err()
		})
		store := memstore.New(&memstore.Options{Now: time.Now})
		defer func() { _ = store.Close() }()
		newCache := func() *tiered.Cache[int64, User] {
			c, err := tiered.New(&tiered.Options[int64, User]{
				Name: "user", L1: &expiringL1{}, L2: store, Loader: ld, Now: time.Now, Beta: -1,
				TTL: ttl, L1TTL: 2 * ttl, StaleIfError: time.Minute, LoadTimeout: time.Second, LoadSoftTimeout: soft,
			})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		c := newCache()
		defer func() { _ = c.Close() }()
		ctx := context.Background()
		if u, err := c.Get(ctx, 1); err != nil || u.Name != "v1" {
			t.Fatalf("first Get = %q, %v", u.Name, err)
		}
		time.Sleep(ttl)
		version.Store(2)
		start := time.Now()
		if u, err := c.Get(ctx, 1); err != nil || u.Name != "v1" || time.Since(start) != soft {
			t.Fatalf("Get after the expiry = %q, %v after %v; want the stale v1 after %v", u.Name, err, time.Since(start), soft)
		}
		time.Sleep(slow) // simulated: the load ends meanwhile
		synctest.Wait()  // and stores its value
		if u, err := c.Get(ctx, 1); err != nil || u.Name != "v2" {
			t.Fatalf("Get once the slow load ended = %q, %v; want v2", u.Name, err)
		}
		other := newCache() // reads L2
		defer func() { _ = other.Close() }()
		if u, err := other.Get(ctx, 1); err != nil || u.Name != "v2" {
			t.Fatalf("another instance's Get = %q, %v; want v2 from L2", u.Name, err)
		}
		if n := calls.Load(); n != 2 {
			t.Fatalf("%d loader calls, want 2", n)
		}
	})
}
