package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// seqLoader serves user(id) named after its call: "v1" for the first call,
// "v2" for the second, and so on, so that a test tells loads apart. Each
// load takes delay of fake time (the clock moves inside the loader), which
// is the delta of early refresh.
type seqLoader struct {
	clock *fakeClock // nil: the loads take no time
	delay time.Duration
	calls atomic.Int64

	mu    sync.Mutex
	err   error
	block func(ctx context.Context) // runs first inside Load, may block
}

func (l *seqLoader) Load(ctx context.Context, id int64) (User, error) {
	n := l.calls.Add(1)
	l.mu.Lock()
	block := l.block
	l.mu.Unlock()
	if block != nil {
		block(ctx)
	}
	if err := ctx.Err(); err != nil {
		return User{}, err
	}
	if l.clock != nil {
		l.clock.Advance(l.delay)
	}
	l.mu.Lock()
	err := l.err
	l.mu.Unlock()
	if err != nil {
		return User{}, err
	}
	u := user(id)
	u.Name = "v" + strconv.FormatInt(n, 10)
	return u, nil
}

func (l *seqLoader) setErr(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
}

func (l *seqLoader) setBlock(block func(ctx context.Context)) {
	l.mu.Lock()
	l.block = block
	l.mu.Unlock()
}

// newSeqFixture is newFixture with a seqLoader on the fixture's clock and
// a recordingL1 (which expires nothing: what stays in L1 is up to the
// cache).
func newSeqFixture(t *testing.T, opt func(*tiered.Options[int64, User])) (*fixture, *seqLoader, *recordingL1) {
	t.Helper()
	sl := &seqLoader{}
	l1 := &recordingL1{}
	f := newFixture(t, func(o *tiered.Options[int64, User]) {
		o.Loader, o.L1 = sl, l1
		if opt != nil {
			opt(o)
		}
	})
	sl.clock = f.clock
	return f, sl, l1
}

// withBus gives the cache a bus of its own, so that a refresh that lands
// shows as a Published event.
func withBus(t *testing.T) func(*tiered.Options[int64, User]) {
	return func(o *tiered.Options[int64, User]) {
		bus := invalidate.NewHub().NewBus("solo")
		t.Cleanup(func() { _ = bus.Close() })
		o.Bus = bus
	}
}

// getName returns the Name of id's value, failing the test on an error.
func getName(t *testing.T, c *tiered.Cache[int64, User], id int64) string {
	t.Helper()
	u, err := c.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%d): %v", id, err)
	}
	return u.Name
}

// concurrentGets runs n Gets of id at once and returns their results, or
// fails the test when one of them is still waiting after 10 s (a Get that
// should not wait for a load).
func concurrentGets(t *testing.T, c *tiered.Cache[int64, User], id int64, n int) []getOutcome {
	t.Helper()
	res := make(chan getOutcome, n)
	for range n {
		go func() {
			u, err := c.Get(context.Background(), id)
			res <- getOutcome{u, err}
		}()
	}
	out := make([]getOutcome, 0, n)
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for range n {
		select {
		case r := <-res:
			out = append(out, r)
		case <-deadline.C:
			t.Fatalf("%d of %d concurrent Gets still wait after 10s", n-len(out), n)
		}
	}
	return out
}

// waitClosed waits for ch to be closed, or fails the test after 10 s.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

type getOutcome struct {
	u   User
	err error
}

// The read paths of a stale value: kept in L1, read from L2 (L1 emptied
// before every read), and in an L1-only cache.
var stalePaths = []struct {
	name  string
	noL2  bool
	clear bool // empty L1 before every read
}{
	{"L1", false, false},
	{"L2", false, true},
	{"L1 only, no L2", true, false},
}

// TestStaleIfError is the acceptance test of StaleIfError: once a value has
// expired and the loader fails, every read returns the expired value, with
// no error, until StaleIfError past its expiry; from then on the loader's
// error.
func TestStaleIfError(t *testing.T) {
	t.Parallel()
	const (
		ttl   = time.Minute
		sie   = 5 * time.Minute
		l1TTL = 10 * time.Minute
	)
	boom := errors.New("source down")
	for _, p := range stalePaths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			f, sl, l1 := newSeqFixture(t, func(o *tiered.Options[int64, User]) {
				o.TTL, o.StaleIfError, o.L1TTL, o.Beta = ttl, sie, l1TTL, -1
				if p.noL2 {
					o.L2 = nil
				}
			})
			ctx := context.Background()
			if got := getName(t, f.cache, 1); got != "v1" {
				t.Fatalf("first Get: %q, want v1", got)
			}
			// L1 keeps the value for its TTL plus StaleIfError.
			if got := l1.lastTTL(); got != ttl+sie {
				t.Errorf("L1 TTL = %v, want TTL + StaleIfError = %v", got, ttl+sie)
			}
			sl.setErr(boom)
			get := func() (User, error) {
				if p.clear {
					l1.Clear()
				}
				return f.cache.Get(ctx, 1)
			}
			served := int64(0)
			wantServed := func(when string) {
				t.Helper()
				served++
				u, err := get()
				if err != nil || u.Name != "v1" {
					t.Fatalf("%s: Get = %q, %v; want the stale v1 and no error", when, u.Name, err)
				}
				if got := f.snap().Get(stats.StaleServed); got != served {
					t.Fatalf("%s: StaleServed = %d, want %d", when, got, served)
				}
			}
			wantErr := func(when string) {
				t.Helper()
				u, err := get()
				if !errors.Is(err, boom) || u.Name != "" {
					t.Fatalf("%s: Get = %q, %v; want the loader's error", when, u.Name, err)
				}
				if got := f.snap().Get(stats.StaleServed); got != served {
					t.Fatalf("%s: StaleServed = %d, want %d", when, got, served)
				}
			}

			f.clock.Advance(ttl) // exactly at the expiry: expired
			for i := range 60 {
				wantServed(fmt.Sprintf("sequential Get %d at expiry", i))
			}
			f.clock.Advance(time.Second)
			if p.clear {
				l1.Clear()
			}
			for i, r := range concurrentGets(t, f.cache, 1, 40) {
				if r.err != nil || r.u.Name != "v1" {
					t.Fatalf("concurrent Get %d: %q, %v; want the stale v1 and no error", i, r.u.Name, r.err)
				}
			}
			served += 40
			if got := f.snap().Get(stats.StaleServed); got != served {
				t.Fatalf("after concurrent Gets: StaleServed = %d, want %d", got, served)
			}
			f.clock.Advance(sie - time.Second - time.Millisecond)
			wantServed("1ms before expiry + StaleIfError")
			f.clock.Advance(time.Millisecond)
			wantErr("at expiry + StaleIfError")
			f.clock.Advance(time.Hour)
			wantErr("an hour later")
			if got := f.snap().Get(stats.LoadSuccess); got != 1 {
				t.Errorf("LoadSuccess = %d, want 1", got)
			}
			if f.snap().Get(stats.LoadFailure) == 0 {
				t.Error("no LoadFailure counted")
			}
			// The source is back: the next read loads.
			sl.setErr(nil)
			if u, err := get(); err != nil || u.Name == "v1" {
				t.Fatalf("after the source came back: %q, %v; want a new value", u.Name, err)
			}
		})
	}
}

// StaleIfError masks a failing loader only: a key that the loader says
// does not exist, and a caller that gave up (cancelled its context), get
// their error, not the stale value; a load that times out is a failure
// like any other, and a caller whose deadline passes during the load gets
// the stale value.
func TestStaleIfError_WhatIsNotMasked(t *testing.T) {
	t.Parallel()
	gone := fmt.Errorf("row deleted: %w", tiered.ErrNotFound)
	type tcase struct {
		name string
		opt  func(*tiered.Options[int64, User])
		// get runs the read under test against a loader that now behaves
		// as the case wants, and returns its result.
		get       func(t *testing.T, f *fixture, sl *seqLoader) (User, error)
		want      func(err error) bool
		wantStale bool
	}
	cases := []tcase{
		{
			name: "loader says not found",
			get: func(t *testing.T, f *fixture, sl *seqLoader) (User, error) {
				sl.setErr(gone)
				return f.cache.Get(context.Background(), 1)
			},
			want: func(err error) bool { return errors.Is(err, tiered.ErrNotFound) },
		},
		{
			name: "loader says not found, cached",
			opt:  func(o *tiered.Options[int64, User]) { o.NotFoundTTL = time.Minute },
			get: func(t *testing.T, f *fixture, sl *seqLoader) (User, error) {
				sl.setErr(gone)
				return f.cache.Get(context.Background(), 1)
			},
			want: func(err error) bool { return errors.Is(err, tiered.ErrNotFound) },
		},
		{
			name: "caller cancelled before the read",
			get: func(t *testing.T, f *fixture, sl *seqLoader) (User, error) {
				// The loader would fail, but only once the test let it go:
				// the read must not wait for it.
				release := make(chan struct{})
				sl.setErr(errors.New("source down"))
				sl.setBlock(func(context.Context) { <-release })
				defer close(release)
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return f.cache.Get(ctx, 1)
			},
			want: func(err error) bool { return errors.Is(err, context.Canceled) },
		},
		{
			name: "caller cancelled during the load",
			get: func(t *testing.T, f *fixture, sl *seqLoader) (User, error) {
				started, release := make(chan struct{}), make(chan struct{})
				var once sync.Once
				sl.setErr(errors.New("source down"))
				sl.setBlock(func(context.Context) {
					once.Do(func() { close(started) })
					<-release
				})
				defer close(release)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				res := make(chan getOutcome, 1)
				go func() {
					u, err := f.cache.Get(ctx, 1)
					res <- getOutcome{u, err}
				}()
				<-started
				cancel()
				r := <-res
				return r.u, r.err
			},
			want: func(err error) bool { return errors.Is(err, context.Canceled) },
		},
		{
			name: "caller's deadline during the load",
			get: func(t *testing.T, f *fixture, sl *seqLoader) (User, error) {
				// A deadline is not a caller giving up: it wants an
				// answer in time, and the stale value is one.
				release := make(chan struct{})
				sl.setErr(errors.New("source down"))
				sl.setBlock(func(context.Context) { <-release })
				defer close(release)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				defer cancel()
				return f.cache.Get(ctx, 1)
			},
			want:      func(err error) bool { return err == nil },
			wantStale: true,
		},
		{
			name: "load times out",
			opt:  func(o *tiered.Options[int64, User]) { o.LoadTimeout = 20 * time.Millisecond },
			get: func(t *testing.T, f *fixture, sl *seqLoader) (User, error) {
				sl.setBlock(func(ctx context.Context) { <-ctx.Done() })
				return f.cache.Get(context.Background(), 1)
			},
			want:      func(err error) bool { return err == nil },
			wantStale: true,
		},
	}
	for _, p := range stalePaths {
		for _, tc := range cases {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				f, sl, l1 := newSeqFixture(t, func(o *tiered.Options[int64, User]) {
					o.TTL, o.StaleIfError, o.L1TTL, o.Beta = time.Minute, 5*time.Minute, 10*time.Minute, -1
					if p.noL2 {
						o.L2 = nil
					}
					if tc.opt != nil {
						tc.opt(o)
					}
				})
				if got := getName(t, f.cache, 1); got != "v1" {
					t.Fatalf("first Get: %q, want v1", got)
				}
				f.clock.Advance(time.Minute + time.Second)
				if p.clear {
					l1.Clear()
				}
				u, err := tc.get(t, f, sl)
				if !tc.want(err) {
					t.Fatalf("Get: %q, %v: not the error wanted", u.Name, err)
				}
				var wantServed int64
				if tc.wantStale {
					wantServed = 1
					if u.Name != "v1" {
						t.Fatalf("Get = %q, want the stale v1", u.Name)
					}
				} else if u.Name != "" {
					t.Fatalf("Get = %q with error %v, want the zero value", u.Name, err)
				}
				if got := f.snap().Get(stats.StaleServed); got != wantServed {
					t.Fatalf("StaleServed = %d, want %d", got, wantServed)
				}
			})
		}
	}
}

// TestStaleWhileRevalidate: a value past its expiry by less than
// StaleWhileRevalidate is served at once while one background load
// refreshes it; once that load landed, reads get its value; past the
// window, a read waits for the load.
func TestStaleWhileRevalidate(t *testing.T) {
	t.Parallel()
	const (
		ttl = time.Minute
		swr = 5 * time.Minute
	)
	for _, p := range stalePaths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			f, sl, l1 := newSeqFixture(t, func(o *tiered.Options[int64, User]) {
				withBus(t)(o)
				o.TTL, o.StaleWhileRevalidate, o.L1TTL, o.Beta = ttl, swr, time.Hour, -1
				if p.noL2 {
					o.L2 = nil
				}
			})
			if got := getName(t, f.cache, 1); got != "v1" {
				t.Fatalf("first Get: %q, want v1", got)
			}
			f.clock.Advance(ttl + time.Second)

			// The refresh's load waits for the test; no read waits for it.
			gate := newOnceGate()
			sl.setBlock(func(context.Context) { gate.pass() })
			const sequential, concurrent = 20, 50
			for i := range sequential {
				if p.clear {
					l1.Clear()
				}
				if got := getName(t, f.cache, 1); got != "v1" {
					t.Fatalf("sequential Get %d: %q, want the stale v1", i, got)
				}
			}
			if p.clear {
				l1.Clear()
			}
			for i, r := range concurrentGets(t, f.cache, 1, concurrent) {
				if r.err != nil || r.u.Name != "v1" {
					t.Fatalf("concurrent Get %d: %q, %v; want the stale v1", i, r.u.Name, r.err)
				}
			}
			waitClosed(t, gate.started, "the refresh to call the loader")
			s := f.snap()
			if got := sl.calls.Load(); got != 2 {
				t.Fatalf("loader calls = %d while the refresh runs, want 2 (one refresh)", got)
			}
			if got := s.Get(stats.StaleServed); got != sequential+concurrent {
				t.Fatalf("StaleServed = %d, want %d", got, sequential+concurrent)
			}
			if got := s.Get(stats.EarlyRefresh); got != 0 {
				t.Fatalf("EarlyRefresh = %d, want 0 (a refresh of an expired value is not early)", got)
			}
			gate.open()
			// The refresh stored v2 in both tiers and published the key.
			waitFor(t, "the refresh to land", func() bool { return f.snap().Get(stats.Published) == 1 })
			sl.setBlock(nil)
			if got := getName(t, f.cache, 1); got != "v2" {
				t.Fatalf("after the refresh: %q, want v2", got)
			}
			if !p.noL2 {
				l1.Clear()
				if got := getName(t, f.cache, 1); got != "v2" {
					t.Fatalf("after the refresh, from L2: %q, want v2", got)
				}
			}
			if got := f.snap().Get(stats.StaleServed); got != sequential+concurrent {
				t.Fatalf("StaleServed = %d after the refresh, want %d", got, sequential+concurrent)
			}

			// Past the window (and with no StaleIfError) a read loads.
			f.clock.Advance(ttl + swr)
			if p.clear {
				l1.Clear()
			}
			// (A read may join the refresh's flight in the moment between
			// its publication and its end, and get its v2.)
			waitFor(t, "a synchronous load", func() bool {
				if p.clear {
					l1.Clear()
				}
				got := getName(t, f.cache, 1)
				if got != "v2" && got != "v3" {
					t.Fatalf("past StaleWhileRevalidate: %q, want v3 loaded synchronously", got)
				}
				return got == "v3"
			})
			if got := sl.calls.Load(); got != 3 {
				t.Fatalf("loader calls = %d, want 3", got)
			}
			if got := f.snap().Get(stats.StaleServed); got != sequential+concurrent {
				t.Fatalf("StaleServed = %d past the window, want %d", got, sequential+concurrent)
			}
		})
	}
}

// The edges of the StaleWhileRevalidate window: fresh before the expiry,
// served stale (with a refresh) from the expiry to 1 ms before its end,
// loaded synchronously from its end.
func TestStaleWhileRevalidate_Window(t *testing.T) {
	t.Parallel()
	const (
		ttl = time.Minute
		swr = 5 * time.Minute
	)
	for _, p := range stalePaths {
		for _, tc := range []struct {
			after    time.Duration // since the load
			want     string        // what the read returns
			stale    bool          // served stale, with a refresh
			wantLoad int64         // loader calls in the end
		}{
			{ttl - time.Millisecond, "v1", false, 1},
			{ttl, "v1", true, 2},
			{ttl + swr - time.Millisecond, "v1", true, 2},
			{ttl + swr, "v2", false, 2},
			{ttl + swr + time.Hour, "v2", false, 2},
		} {
			t.Run(fmt.Sprintf("%s/%v", p.name, tc.after), func(t *testing.T) {
				t.Parallel()
				f, sl, l1 := newSeqFixture(t, func(o *tiered.Options[int64, User]) {
					withBus(t)(o)
					o.TTL, o.StaleWhileRevalidate, o.L1TTL, o.Beta = ttl, swr, time.Hour, -1
					if p.noL2 {
						o.L2 = nil
					}
				})
				getName(t, f.cache, 1)
				f.clock.Advance(tc.after)
				if p.clear {
					l1.Clear()
				}
				if got := getName(t, f.cache, 1); got != tc.want {
					t.Fatalf("Get = %q, want %q", got, tc.want)
				}
				var wantServed int64
				if tc.stale {
					wantServed = 1
					waitFor(t, "the refresh to land", func() bool { return f.snap().Get(stats.Published) == 1 })
				}
				if got := f.snap().Get(stats.StaleServed); got != wantServed {
					t.Fatalf("StaleServed = %d, want %d", got, wantServed)
				}
				if got := sl.calls.Load(); got != tc.wantLoad {
					t.Fatalf("loader calls = %d, want %d", got, tc.wantLoad)
				}
			})
		}
	}
}

// With stale serving on, L2 keeps every value TTL + max(StaleWhileRevalidate,
// StaleIfError), whichever way it was written (load, Set, batch load), and
// L1 as long (within L1TTL). With early refresh on (the default Beta), L2
// keeps it at least LeaseTTL longer than TTL, for a refresh that lands
// after the expiry.
func TestStaleWindowsExtendL2TTL(t *testing.T) {
	t.Parallel()
	const ttl = time.Minute
	for _, tc := range []struct {
		swr, sie time.Duration
		beta     float64
	}{
		{0, 0, 0},
		{0, 0, -1},
		{2 * time.Minute, 0, 0},
		{0, 5 * time.Minute, 0},
		{2 * time.Minute, 5 * time.Minute, 0},
		{5 * time.Minute, 2 * time.Minute, 0},
	} {
		t.Run(fmt.Sprintf("swr=%v,sie=%v,beta=%v", tc.swr, tc.sie, tc.beta), func(t *testing.T) {
			t.Parallel()
			want := ttl + max(tc.swr, tc.sie)
			inL2 := want
			if tc.beta >= 0 {
				inL2 = ttl + max(tc.swr, tc.sie, tiered.DefaultLeaseTTL)
			}
			f, _, l1 := newSeqFixture(t, func(o *tiered.Options[int64, User]) {
				o.TTL, o.StaleWhileRevalidate, o.StaleIfError, o.L1TTL = ttl, tc.swr, tc.sie, time.Hour
				o.Beta = tc.beta
				o.BatchLoader = loader.BatchFunc[int64, User](func(_ context.Context, ids []int64) (map[int64]User, error) {
					out := make(map[int64]User, len(ids))
					for _, id := range ids {
						out[id] = user(id)
					}
					return out, nil
				})
			})
			ctx := context.Background()
			getName(t, f.cache, 1) // a load
			if got := l1.lastTTL(); got != want {
				t.Errorf("L1 TTL of a loaded value = %v, want %v", got, want)
			}
			if err := f.cache.Set(ctx, 2, user(2)); err != nil {
				t.Fatal(err)
			}
			if got := l1.lastTTL(); got != want {
				t.Errorf("L1 TTL of a Set value = %v, want %v", got, want)
			}
			if _, err := f.cache.GetMany(ctx, []int64{3}); err != nil { // a batch load
				t.Fatal(err)
			}
			if got := l1.lastTTL(); got != want {
				t.Errorf("L1 TTL of a batch-loaded value = %v, want %v", got, want)
			}
			f.clock.Advance(inL2 - time.Millisecond)
			for _, id := range []int64{1, 2, 3} {
				if !f.holds(t, id) {
					t.Errorf("key %d left L2 1ms before TTL + %v", id, inL2-ttl)
				}
			}
			f.clock.Advance(time.Millisecond)
			for _, id := range []int64{1, 2, 3} {
				if f.holds(t, id) {
					t.Errorf("key %d still in L2 at TTL + %v", id, inL2-ttl)
				}
			}
		})
	}
}

// GetMany serves the stale values of the keys whose load failed, with or
// without a BatchLoader: no error when every failing key had one, the
// loader's error (with the stale values) when one had none.
func TestGetManyStaleIfError(t *testing.T) {
	t.Parallel()
	boom := errors.New("source down")
	for _, p := range stalePaths {
		for _, batch := range []bool{true, false} {
			name := p.name + "/Loader"
			if batch {
				name = p.name + "/BatchLoader"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				var failing atomic.Bool
				var batchCalls atomic.Int64
				f, sl, l1 := newSeqFixture(t, func(o *tiered.Options[int64, User]) {
					o.TTL, o.StaleIfError, o.L1TTL, o.Beta = time.Minute, 5*time.Minute, time.Hour, -1
					if p.noL2 {
						o.L2 = nil
					}
					if batch {
						o.BatchLoader = loader.BatchFunc[int64, User](func(_ context.Context, ids []int64) (map[int64]User, error) {
							batchCalls.Add(1)
							if failing.Load() {
								return nil, boom
							}
							out := make(map[int64]User, len(ids))
							for _, id := range ids {
								out[id] = user(id)
							}
							return out, nil
						})
					}
				})
				ctx := context.Background()
				getMany := func(ids ...int64) (map[int64]User, error) {
					if p.clear {
						l1.Clear()
					}
					return f.cache.GetMany(ctx, ids)
				}
				// 1 and 2 loaded at T0, 4 at T0+30s.
				if got, err := getMany(1, 2); err != nil || len(got) != 2 {
					t.Fatalf("first GetMany: %v, %v", got, err)
				}
				f.clock.Advance(30 * time.Second)
				if got, err := getMany(4); err != nil || len(got) != 1 {
					t.Fatalf("GetMany(4): %v, %v", got, err)
				}
				f.clock.Advance(31 * time.Second) // 1 and 2 expired, 4 fresh
				failing.Store(true)
				sl.setErr(boom)

				got, err := getMany(1, 2, 4)
				if err != nil {
					t.Fatalf("GetMany with a stale value for every failing key: %v, want no error", err)
				}
				if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, []int64{1, 2, 4}) {
					t.Fatalf("GetMany returned keys %v, want [1 2 4]", keys)
				}
				if got := f.snap().Get(stats.StaleServed); got != 2 {
					t.Fatalf("StaleServed = %d, want 2", got)
				}

				// 3 has no stale value: the error comes back, with the rest.
				got, err = getMany(1, 2, 3, 4)
				if !errors.Is(err, boom) {
					t.Fatalf("GetMany with a failing key without a stale value: %v, want the loader's error", err)
				}
				if _, ok := got[3]; ok {
					t.Fatal("GetMany returned a value for the key that failed")
				}
				if _, ok := got[4]; !ok {
					t.Fatal("GetMany dropped the fresh key 4")
				}
				for _, id := range []int64{1, 2} {
					if _, ok := got[id]; !ok {
						t.Errorf("GetMany dropped the stale value of %d along with the error", id)
					}
				}

				// Past StaleIfError nothing is served.
				f.clock.Advance(5 * time.Minute)
				got, err = getMany(1, 2)
				if !errors.Is(err, boom) || len(got) != 0 {
					t.Fatalf("GetMany past StaleIfError: %v, %v; want nothing and the loader's error", got, err)
				}
				if batch && sl.calls.Load() != 0 {
					t.Errorf("Loader called %d times with a BatchLoader", sl.calls.Load())
				}
				if !batch && batchCalls.Load() != 0 {
					t.Errorf("BatchLoader called without one")
				}
			})
		}
	}
}

// Without a Loader (cache-aside) an expired value is a miss, stale
// windows or not: nothing would refresh it.
func TestStaleNotServedWithoutLoader(t *testing.T) {
	t.Parallel()
	for _, p := range stalePaths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			f, _, l1 := newSeqFixture(t, func(o *tiered.Options[int64, User]) {
				o.Loader = nil
				o.TTL, o.StaleWhileRevalidate, o.StaleIfError, o.L1TTL = time.Minute, 5*time.Minute, 5*time.Minute, time.Hour
				if p.noL2 {
					o.L2 = nil
				}
			})
			ctx := context.Background()
			if err := f.cache.Set(ctx, 1, user(1)); err != nil {
				t.Fatal(err)
			}
			read := func() (User, error) {
				if p.clear {
					l1.Clear()
				}
				return f.cache.Get(ctx, 1)
			}
			f.clock.Advance(time.Minute - time.Millisecond)
			if _, err := read(); err != nil {
				t.Fatalf("before the expiry: %v", err)
			}
			for _, after := range []time.Duration{time.Millisecond, time.Second, 4 * time.Minute} {
				f.clock.Advance(after)
				if u, err := read(); !errors.Is(err, tiered.ErrMiss) {
					t.Fatalf("expired, no Loader: Get = %q, %v; want ErrMiss", u.Name, err)
				}
				if p.clear {
					l1.Clear()
				}
				if got, err := f.cache.GetMany(ctx, []int64{1}); err != nil || len(got) != 0 {
					t.Fatalf("expired, no Loader: GetMany = %v, %v; want nothing", got, err)
				}
			}
			if got := f.snap().Get(stats.StaleServed); got != 0 {
				t.Fatalf("StaleServed = %d, want 0", got)
			}
		})
	}
}
