package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// The timeline of the refresh tests: a load takes loadTime of fake time
// (the delta of XFetch), values live refreshTTL, and with Options.Rand at
// drawHigh a value is due for early refresh when less than
// loadTime * Beta * -ln(1-drawHigh), about 13.8 s at Beta 1, is left. A
// test moves the clock to dueLeft before the expiry to make it due.
const (
	loadTime   = time.Second
	refreshTTL = time.Minute
	drawHigh   = 0.999999
	dueLeft    = 10 * time.Second
)

// randSource is an Options.Rand that the test sets; 0 (its zero value)
// never draws a fresh value for early refresh.
type randSource struct{ bits atomic.Uint64 }

func (r *randSource) set(v float64)    { r.bits.Store(math.Float64bits(v)) }
func (r *randSource) Float64() float64 { return math.Float64frombits(r.bits.Load()) }

// refreshRig is a set of instances (see newInstances) over one memstore,
// one hub and one fake clock, sharing one seqLoader (whose names tell the
// loads apart across instances), each with a Rand of its own.
type refreshRig struct {
	in     []*instance
	rand   []*randSource
	loader *seqLoader
	clock  *fakeClock
	store  *memstore.Store
}

func newRefreshRig(t *testing.T, n int, opt func(*tiered.Options[int64, User])) *refreshRig {
	t.Helper()
	clock := newFakeClock()
	r := &refreshRig{
		loader: &seqLoader{clock: clock, delay: loadTime},
		clock:  clock,
		store:  memstore.New(&memstore.Options{Now: clock.Now}),
	}
	t.Cleanup(func() { _ = r.store.Close() })
	hub := invalidate.NewHub()
	for i := range n {
		in := &instance{l1: &recordingL1{}, bus: hub.NewBus(fmt.Sprintf("i%d", i)), stats: &stats.Counter{}}
		t.Cleanup(func() { _ = in.bus.Close() })
		rs := &randSource{}
		opts := &tiered.Options[int64, User]{
			Name: "user", L1: in.l1, L2: r.store, Bus: in.bus, Loader: r.loader, Stats: in.stats,
			Now: clock.Now, Rand: rs.Float64, TTL: refreshTTL, L1TTL: time.Hour,
		}
		if opt != nil {
			opt(opts)
		}
		c, err := tiered.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		in.cache = c
		r.in = append(r.in, in)
		r.rand = append(r.rand, rs)
	}
	return r
}

// newRefreshFixture is newSeqFixture with loads that take loadTime, values
// that live refreshTTL, and a Rand the test sets.
func newRefreshFixture(t *testing.T, opt func(*tiered.Options[int64, User])) (*fixture, *seqLoader, *recordingL1, *randSource) {
	t.Helper()
	rs := &randSource{}
	f, sl, l1 := newSeqFixture(t, func(o *tiered.Options[int64, User]) {
		o.Rand, o.TTL, o.L1TTL = rs.Float64, refreshTTL, time.Hour
		if opt != nil {
			opt(o)
		}
	})
	sl.delay = loadTime
	return f, sl, l1, rs
}

// l1Entry returns what l1 holds for id (nil: nothing), to tell by identity
// when a refresh replaced it.
func l1Entry(l1 *recordingL1, id int64) any {
	v, _ := l1.Get(strconv.FormatInt(id, 10))
	return v
}

// earlyRefreshes returns the EarlyRefresh count of a fixture.
func earlyRefreshes(f *fixture) int64 { return f.snap().Get(stats.EarlyRefresh) }

// A refresh stores its value in L2 and in its own L1 and publishes the key:
// another instance drops its copy and reads the new value from L2. The
// reader that started the refresh got the current value at once, whether it
// found it in L1 or in L2.
func TestRefresh_PublishesToOtherInstances(t *testing.T) {
	t.Parallel()
	for _, fromL2 := range []bool{false, true} {
		name := "L1 hit"
		if fromL2 {
			name = "L2 hit"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRefreshRig(t, 2, nil)
			in := r.in
			if got := in[0].get(t, 1).Name; got != "v1" {
				t.Fatalf("instance 0: %q, want v1", got)
			}
			if got := in[1].get(t, 1).Name; got != "v1" || !in[1].inL1(1) {
				t.Fatalf("instance 1: %q (in L1: %v), want v1 in L1", got, in[1].inL1(1))
			}
			r.clock.Advance(refreshTTL - dueLeft)

			// The refresh's load waits until the reader has its value.
			gate := newOnceGate()
			r.loader.setBlock(func(context.Context) { gate.pass() })
			if fromL2 {
				in[0].l1.Clear()
			}
			r.rand[0].set(drawHigh)
			if got := in[0].get(t, 1).Name; got != "v1" {
				t.Fatalf("the read that started the refresh got %q, want the current v1", got)
			}
			if got := in[0].stats.Snapshot().Get(stats.EarlyRefresh); got != 1 {
				t.Fatalf("EarlyRefresh = %d, want 1", got)
			}
			waitClosed(t, gate.started, "the refresh to call the loader")
			gate.open()
			waitFor(t, "the refresh to publish", func() bool { return in[0].stats.Snapshot().Get(stats.Published) == 1 })
			r.rand[0].set(0)

			if in[1].inL1(1) {
				t.Fatal("instance 1 still holds the replaced value in L1")
			}
			if got := in[1].stats.Snapshot().Get(stats.Received); got != 1 {
				t.Fatalf("instance 1 received %d messages, want 1", got)
			}
			if got := in[0].get(t, 1).Name; got != "v2" {
				t.Fatalf("instance 0 after its refresh: %q, want v2", got)
			}
			if got := in[1].get(t, 1).Name; got != "v2" {
				t.Fatalf("instance 1 after the refresh: %q, want v2", got)
			}
			if got := in[1].stats.Snapshot().Loads(); got != 0 {
				t.Fatalf("instance 1 loaded %d times, want 0 (L2 has the refreshed value)", got)
			}
			if got := r.loader.calls.Load(); got != 2 {
				t.Fatalf("loader calls = %d, want 2", got)
			}
		})
	}
}

// A refresh that finds in L2 a fresh value other than the one it replaces
// (another instance refreshed first, and its message was lost) takes that
// value into L1 without loading.
func TestRefresh_AdoptsFresherL2Value(t *testing.T) {
	t.Parallel()
	r := newRefreshRig(t, 2, nil)
	in := r.in
	in[0].get(t, 1)
	in[1].get(t, 1)
	r.clock.Advance(refreshTTL - dueLeft)

	// Instance 1 refreshes first; instance 0 misses its message.
	in[1].bus.DropNext(1)
	r.rand[1].set(drawHigh)
	in[1].get(t, 1)
	waitFor(t, "instance 1's refresh", func() bool { return in[1].stats.Snapshot().Get(stats.Published) == 1 })
	r.rand[1].set(0)
	if got := r.loader.calls.Load(); got != 2 {
		t.Fatalf("loader calls = %d, want 2", got)
	}
	old := l1Entry(in[0].l1, 1)
	if old == nil {
		t.Fatal("instance 0 lost its copy: the message was not dropped")
	}

	r.rand[0].set(drawHigh)
	if got := in[0].get(t, 1).Name; got != "v1" {
		t.Fatalf("instance 0's read got %q, want its current v1", got)
	}
	if got := in[0].stats.Snapshot().Get(stats.EarlyRefresh); got != 1 {
		t.Fatalf("instance 0: EarlyRefresh = %d, want 1", got)
	}
	waitFor(t, "instance 0's refresh to replace its L1 entry", func() bool { return l1Entry(in[0].l1, 1) != old })
	r.rand[0].set(0)
	if got := in[0].get(t, 1).Name; got != "v2" {
		t.Fatalf("instance 0 after its refresh: %q, want instance 1's v2", got)
	}
	if got := r.loader.calls.Load(); got != 2 {
		t.Fatalf("loader calls = %d, want 2: instance 0's refresh loaded", got)
	}
	if got := in[0].stats.Snapshot().Loads(); got != 1 {
		t.Fatalf("instance 0 loaded %d times, want 1 (its first miss)", got)
	}
}

// Close waits for a running refresh, whose load it cancels (a loader that
// ignores the cancellation is abandoned), and no refresh starts once Close
// began.
func TestRefresh_Close(t *testing.T) {
	t.Parallel()
	for _, honours := range []bool{true, false} {
		name := "loader honours ctx"
		if !honours {
			name = "loader ignores ctx"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, sl, _, rs := newRefreshFixture(t, nil)
			ctx := context.Background()
			getName(t, f.cache, 1)
			f.clock.Advance(refreshTTL - dueLeft)

			started, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			var cancelled, returned atomic.Bool
			sl.setBlock(func(ctx context.Context) {
				once.Do(func() { close(started) })
				if honours {
					<-ctx.Done()
					cancelled.Store(errors.Is(ctx.Err(), context.Canceled))
				} else {
					<-release
				}
				returned.Store(true)
			})
			rs.set(drawHigh)
			if got := getName(t, f.cache, 1); got != "v1" {
				t.Fatalf("the read that started the refresh got %q, want v1", got)
			}
			if got := earlyRefreshes(f); got != 1 {
				t.Fatalf("EarlyRefresh = %d, want 1", got)
			}
			waitClosed(t, started, "the refresh to call the loader")

			closed := make(chan struct{})
			go func() {
				_ = f.cache.Close()
				close(closed)
			}()
			waitFor(t, "Close to begin", func() bool {
				_, err := f.cache.Get(ctx, 1)
				return errors.Is(err, tiered.ErrClosed)
			})
			// A loader deaf to its context does not hold Close: the load is
			// abandoned, and counted.
			waitClosed(t, closed, "Close to return")
			if !honours {
				if returned.Load() {
					t.Fatal("the deaf loader returned before it was released")
				}
				waitFor(t, "the abandoned load to be counted", func() bool {
					return f.snap().Get(stats.LoadAbandoned) == 1
				})
				close(release)
			} else if !returned.Load() {
				t.Fatal("Close returned before the refresh's loader did")
			}
			if honours && !cancelled.Load() {
				t.Fatal("the refresh's loader did not see its context cancelled by Close")
			}
			if _, err := f.cache.Get(ctx, 1); !errors.Is(err, tiered.ErrClosed) {
				t.Fatalf("Get after Close: %v, want ErrClosed", err)
			}
			if _, err := f.cache.GetMany(ctx, []int64{1}); !errors.Is(err, tiered.ErrClosed) {
				t.Fatalf("GetMany after Close: %v, want ErrClosed", err)
			}
			if got := earlyRefreshes(f); got != 1 {
				t.Fatalf("EarlyRefresh = %d, want 1", got)
			}
		})
	}
}

// lateWatch counts the refreshes that start, and the loads that run, after
// Close returned (after is set then).
type lateWatch struct {
	stats.Counter
	after atomic.Bool
	late  atomic.Int64
}

func (w *lateWatch) Add(ev stats.Event, n int) {
	if ev == stats.EarlyRefresh && w.after.Load() {
		w.late.Add(1)
	}
	w.Counter.Add(ev, n)
}

// Reads that keep drawing refreshes while Close runs: Close waits for the
// refreshes that started, none starts after it, and no goroutine is left
// (goleak in TestMain).
func TestRefresh_NoneStartsAfterClose(t *testing.T) {
	t.Parallel()
	w := &lateWatch{}
	// Every hit of a loaded value is due: Beta is huge.
	f, sl, _, rs := newRefreshFixture(t, func(o *tiered.Options[int64, User]) {
		o.Stats, o.Beta = w, 1e9
	})
	sl.delay = time.Millisecond
	rs.set(0.5)
	sl.setBlock(func(context.Context) {
		if w.after.Load() {
			w.late.Add(1)
		}
	})
	getName(t, f.cache, 1)
	const readers = 8
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, err := f.cache.Get(context.Background(), 1)
				if errors.Is(err, tiered.ErrClosed) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	waitFor(t, "refreshes to run", func() bool { return w.Snapshot().Get(stats.EarlyRefresh) >= 20 })
	_ = f.cache.Close()
	w.after.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a read failed: %v", err)
	}
	if n := w.late.Load(); n != 0 {
		t.Fatalf("%d refreshes or loads started after Close returned", n)
	}
}

// EarlyRefresh counts the refreshes that start, not the hits that find one
// running.
func TestRefresh_CountedOncePerStart(t *testing.T) {
	t.Parallel()
	f, sl, l1, rs := newRefreshFixture(t, nil)
	getName(t, f.cache, 1)
	f.clock.Advance(refreshTTL - dueLeft)
	rs.set(drawHigh)
	gate := newOnceGate()
	sl.setBlock(func(context.Context) { gate.pass() })
	old := l1Entry(l1, 1)
	for i := range 20 {
		if got := getName(t, f.cache, 1); got != "v1" {
			t.Fatalf("Get %d during the refresh: %q, want v1", i, got)
		}
	}
	for i, r := range concurrentGets(t, f.cache, 1, 30) {
		if r.err != nil || r.u.Name != "v1" {
			t.Fatalf("concurrent Get %d during the refresh: %q, %v", i, r.u.Name, r.err)
		}
	}
	waitClosed(t, gate.started, "the refresh to call the loader")
	if got := earlyRefreshes(f); got != 1 {
		t.Fatalf("EarlyRefresh = %d after 50 hits during one refresh, want 1", got)
	}
	if got := sl.calls.Load(); got != 2 {
		t.Fatalf("loader calls = %d, want 2", got)
	}
	gate.open()
	waitFor(t, "the refresh to land", func() bool { return l1Entry(l1, 1) != old })
	sl.setBlock(nil)
	if got := getName(t, f.cache, 1); got != "v2" {
		t.Fatalf("after the refresh: %q, want v2", got)
	}
	if got := earlyRefreshes(f); got != 1 {
		t.Fatalf("EarlyRefresh = %d for a value just refreshed, want 1", got)
	}

	// The new value comes due in its turn: a second refresh.
	f.clock.Advance(refreshTTL - dueLeft)
	cur := l1Entry(l1, 1)
	// The first refresh's flight may take a moment to end after it filled
	// L1; reads of the due value start nothing until it has.
	waitFor(t, "the second refresh to start", func() bool {
		if got := getName(t, f.cache, 1); got != "v2" {
			t.Fatalf("second refresh's read: %q, want v2", got)
		}
		return earlyRefreshes(f) == 2
	})
	waitFor(t, "the second refresh to land", func() bool { return l1Entry(l1, 1) != cur })
	if got := getName(t, f.cache, 1); got != "v3" {
		t.Fatalf("after the second refresh: %q, want v3", got)
	}
}

// The draw of XFetch: a value that took loadTime to load is refreshed when
// loadTime * Beta * -ln(1 - rand) >= time left, whether the read found it
// in L1 or in L2.
func TestRefresh_XFetchDraw(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rand, beta float64
		left       time.Duration
		due        bool
	}{
		{drawHigh, 1, 13800 * time.Millisecond, true}, // threshold 13.816 s
		{drawHigh, 1, 13900 * time.Millisecond, false},
		{drawHigh, 2, 27600 * time.Millisecond, true}, // 27.631 s
		{drawHigh, 2, 27700 * time.Millisecond, false},
		{0.5, 1, 690 * time.Millisecond, true}, // 0.693 s
		{0.5, 1, 700 * time.Millisecond, false},
		{0.5, 0.5, 340 * time.Millisecond, true}, // 0.347 s
		{0.5, 0.5, 350 * time.Millisecond, false},
		{0, 1, time.Millisecond, false},
	} {
		for _, fromL2 := range []bool{false, true} {
			t.Run(fmt.Sprintf("rand=%v,beta=%v,left=%v,fromL2=%v", tc.rand, tc.beta, tc.left, fromL2), func(t *testing.T) {
				t.Parallel()
				f, _, l1, rs := newRefreshFixture(t, func(o *tiered.Options[int64, User]) { o.Beta = tc.beta })
				rs.set(tc.rand)
				getName(t, f.cache, 1)
				f.clock.Advance(refreshTTL - tc.left)
				if fromL2 {
					l1.Clear()
				}
				if got := getName(t, f.cache, 1); got != "v1" {
					t.Fatalf("Get = %q, want the current v1", got)
				}
				var want int64
				if tc.due {
					want = 1
				}
				if got := earlyRefreshes(f); got != want {
					t.Fatalf("EarlyRefresh = %d, want %d", got, want)
				}
			})
		}
	}
}

// No early refresh with a negative Beta, nor of values that no load
// produced (Set, SetMany: their delta is 0), however close their expiry.
func TestRefresh_Never(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		beta  float64
		write func(t *testing.T, f *fixture)
		loads int64
	}{
		{"Beta -1", -1, func(t *testing.T, f *fixture) { getName(t, f.cache, 1) }, 1},
		{"Set", 1e6, func(t *testing.T, f *fixture) {
			if err := f.cache.Set(ctx, 1, user(1)); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"SetMany", 1e6, func(t *testing.T, f *fixture) {
			if err := f.cache.SetMany(ctx, map[int64]User{1: user(1)}); err != nil {
				t.Fatal(err)
			}
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, sl, l1, rs := newRefreshFixture(t, func(o *tiered.Options[int64, User]) { o.Beta = tc.beta })
			rs.set(drawHigh)
			tc.write(t, f)
			f.clock.Advance(refreshTTL - time.Millisecond)
			for i := range 10 {
				if i%2 == 1 {
					l1.Clear() // read from L2
				}
				getName(t, f.cache, 1)
				if _, err := f.cache.GetMany(ctx, []int64{1}); err != nil {
					t.Fatal(err)
				}
			}
			if got := earlyRefreshes(f); got != 0 {
				t.Fatalf("EarlyRefresh = %d, want 0", got)
			}
			if got := sl.calls.Load(); got != tc.loads {
				t.Fatalf("loader calls = %d, want %d", got, tc.loads)
			}
		})
	}
}

// leaseFree reports whether another instance could take the lease of id in
// store now (it takes it and gives it back).
func leaseFree(t *testing.T, store *memstore.Store, id int64) bool {
	t.Helper()
	ctx := context.Background()
	view := store.Namespace("user")
	key := strconv.FormatInt(id, 10)
	old, err := view.Get(ctx, key)
	if err != nil && !errors.Is(err, l2.ErrMiss) {
		t.Fatal(err)
	}
	leaser := view.(l2.Leaser)
	token := l2.NewToken()
	answers, err := leaser.Lease(ctx, token, time.Second, []l2.Expect{{Key: key, Old: old}})
	if err != nil {
		t.Fatal(err)
	}
	if answers[0].State != l2.LeaseGranted {
		return false
	}
	if _, err := leaser.Release(ctx, token, key); err != nil {
		t.Fatal(err)
	}
	return true
}

// A refresh whose loader fails or panics leaves the current value in place:
// reads go on getting it until it expires, and the refresh's L2 lease is
// given back at once.
func TestRefresh_FailureKeepsValue(t *testing.T) {
	t.Parallel()
	boom := errors.New("source down")
	for _, panics := range []bool{false, true} {
		name := "loader error"
		if panics {
			name = "loader panic"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, sl, l1, rs := newRefreshFixture(t, nil)
			ctx := context.Background()
			getName(t, f.cache, 1)
			f.clock.Advance(refreshTTL - dueLeft)
			ended := make(chan struct{})
			var once sync.Once
			if panics {
				sl.setBlock(func(context.Context) {
					defer once.Do(func() { close(ended) })
					panic("loader bug")
				})
			} else {
				sl.setErr(boom)
			}
			old := l1Entry(l1, 1)
			rs.set(drawHigh)
			if got := getName(t, f.cache, 1); got != "v1" {
				t.Fatalf("the read that started the refresh got %q, want v1", got)
			}
			rs.set(0)
			if panics {
				waitClosed(t, ended, "the refresh's loader to panic")
			} else {
				waitFor(t, "the refresh to fail", func() bool { return f.snap().Get(stats.LoadFailure) == 1 })
			}
			if l1Entry(l1, 1) != old {
				t.Fatal("the failed refresh replaced the L1 entry")
			}
			for _, fromL2 := range []bool{false, true} {
				if fromL2 {
					l1.Clear()
				}
				if got := getName(t, f.cache, 1); got != "v1" {
					t.Fatalf("after the failed refresh (L2 read: %v): %q, want v1", fromL2, got)
				}
			}
			if got := f.snap().Get(stats.StaleServed); got != 0 {
				t.Fatalf("StaleServed = %d, want 0: the value has not expired", got)
			}
			waitFor(t, "the refresh's L2 lease to be given back", func() bool { return leaseFree(t, f.l2, 1) })
			// The failure did not extend the value: at its expiry a read
			// loads (and fails).
			f.clock.Advance(dueLeft)
			_, err := f.cache.Get(ctx, 1)
			var pe *loader.PanicError
			if panics && !errors.As(err, &pe) || !panics && !errors.Is(err, boom) {
				t.Fatalf("Get at the expiry: %v, want the load's failure", err)
			}
		})
	}
}

// holdingL1 is a recordingL1 whose next Set, once armed, waits until the
// test lets it go: a reader caught between reading a value and putting it
// into L1.
type holdingL1 struct {
	recordingL1
	mu   sync.Mutex
	hold chan struct{} // the next Set waits for it to close; nil: none
	held chan struct{} // closed when that Set started waiting
	sets atomic.Int64  // Sets done
}

func (h *holdingL1) arm() (held, release chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hold, h.held = make(chan struct{}), make(chan struct{})
	return h.held, h.hold
}

func (h *holdingL1) Set(k string, v any, cost int64, ttl time.Duration) bool {
	h.mu.Lock()
	hold, held := h.hold, h.held
	h.hold, h.held = nil, nil
	h.mu.Unlock()
	if hold != nil {
		close(held)
		<-hold
	}
	ok := h.recordingL1.Set(k, v, cost, ttl)
	h.sets.Add(1)
	return ok
}

// A reader that read a value from L2 and is slow to put it into L1 must not
// undo a refresh that landed meanwhile: its older value does not stay in
// L1.
func TestRefresh_L2ReaderDoesNotUndoRefresh(t *testing.T) {
	t.Parallel()
	hl := &holdingL1{}
	f, _, _, rs := newRefreshFixture(t, func(o *tiered.Options[int64, User]) { o.L1 = hl })
	getName(t, f.cache, 1) // L1 Set 1
	f.clock.Advance(refreshTTL - dueLeft)
	hl.Clear()

	// Reader A reads v1 from L2 (not drawn: rand is 0) and stops just
	// before its L1 Set lands.
	held, release := hl.arm()
	res := make(chan getOutcome, 1)
	go func() {
		u, err := f.cache.Get(context.Background(), 1)
		res <- getOutcome{u, err}
	}()
	waitClosed(t, held, "reader A to fill L1")

	// Reader B reads v1 from L2 too (L1 Set 2), is drawn, and its refresh
	// lands v2 in both tiers (L1 Set 3).
	rs.set(drawHigh)
	if got := getName(t, f.cache, 1); got != "v1" {
		t.Fatalf("reader B got %q, want v1", got)
	}
	if got := earlyRefreshes(f); got != 1 {
		t.Fatalf("EarlyRefresh = %d, want 1", got)
	}
	waitFor(t, "the refresh to fill L1", func() bool { return hl.sets.Load() == 3 })
	rs.set(0)

	close(release)
	if r := <-res; r.err != nil || r.u.Name != "v1" {
		t.Fatalf("reader A got %q, %v; want v1", r.u.Name, r.err)
	}
	if got := getName(t, f.cache, 1); got != "v2" {
		hl.Clear()
		t.Fatalf("after the refresh landed: this instance serves %q, want the refreshed v2 (L2 holds %q)", got, getName(t, f.cache, 1))
	}
}

// A refresh drawn just before the expiry whose load ends after it still
// stores its value: L2 keeps the value it replaces LeaseTTL past the
// expiry, so that the refresh's conditional write finds it.
func TestRefresh_LandsAfterExpiry(t *testing.T) {
	t.Parallel()
	f, _, l1, rs := newRefreshFixture(t, nil)
	if got := getName(t, f.cache, 1); got != "v1" {
		t.Fatalf("first read: %q, want v1", got)
	}
	f.clock.Advance(refreshTTL - 100*time.Millisecond) // the load (1 s) ends 900 ms past the expiry
	old := l1Entry(l1, 1)
	rs.set(drawHigh)
	if got := getName(t, f.cache, 1); got != "v1" {
		t.Fatalf("the read that started the refresh: %q, want v1", got)
	}
	rs.set(0)
	waitFor(t, "the refresh to replace the L1 entry", func() bool { return l1Entry(l1, 1) != old })
	if n := f.snap().Get(stats.LeaseLost); n != 0 {
		t.Fatalf("LeaseLost = %d: the refresh's write was refused", n)
	}
	l1.Clear()
	if got := getName(t, f.cache, 1); got != "v2" {
		t.Fatalf("L2 holds %q after the refresh, want v2", got)
	}
}
