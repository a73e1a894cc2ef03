package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Tests of the defects found by a reviewer of the core (issue 11, items
// 1-6): each failed before its fix.

// Item 1: when StaleIfError rescues every key of a failed batch load, the
// leases the batch took are given back, so that another instance does not
// wait for them.
func TestGetMany_StaleRescueReleasesLeases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	store := memstore.New(&memstore.Options{Now: clock.Now})
	defer func() { _ = store.Close() }()
	var failing atomic.Bool
	batch := loader.BatchFunc[int64, User](func(_ context.Context, ids []int64) (map[int64]User, error) {
		if failing.Load() {
			return nil, errors.New("source down")
		}
		out := make(map[int64]User, len(ids))
		for _, id := range ids {
			out[id] = user(id)
		}
		return out, nil
	})
	newCache := func(st *stats.Counter) *tiered.Cache[int64, User] {
		c, err := tiered.New(&tiered.Options[int64, User]{
			Name: "user", L2: store, Loader: &countingLoader{}, BatchLoader: batch, Stats: st, Now: clock.Now,
			TTL: time.Minute, StaleIfError: time.Hour, Beta: -1,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	var sa, sb stats.Counter
	a := newCache(&sa)
	if got, err := a.GetMany(ctx, []int64{1, 2}); err != nil || len(got) != 2 {
		t.Fatalf("first GetMany: %v, %v", got, err)
	}
	clock.Advance(2 * time.Minute) // expired, within StaleIfError
	failing.Store(true)
	if got, err := a.GetMany(ctx, []int64{1, 2}); err != nil || len(got) != 2 {
		t.Fatalf("GetMany rescued by StaleIfError: %v, %v; want both values and no error", got, err)
	}
	if sa.Snapshot().Get(stats.LeaseGranted) == 0 {
		t.Fatal("the failed batch took no lease: the test tests nothing")
	}
	failing.Store(false)

	// The leases live 2 s of the fake clock, which stands still: only a
	// release ends them.
	b := newCache(&sb)
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	got, err := b.GetMany(wctx, []int64{1, 2})
	if err != nil || len(got) != 2 {
		t.Fatalf("another instance's GetMany: %v, %v; want both values at once", got, err)
	}
	if w := sb.Snapshot().Get(stats.LeaseWaited); w != 0 {
		t.Fatalf("the other instance waited for %d leases that nobody held any more", w)
	}
}

// logRecorder is a slog.Handler that keeps every record's message and
// attributes as text.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	h.lines = append(h.lines, b.String())
	h.mu.Unlock()
	return nil
}

// find returns the first line that contains every one of parts, or "".
func (h *logRecorder) find(parts ...string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
next:
	for _, l := range h.lines {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		return l
	}
	return ""
}

// Item 2: a loader's panic counts as a load failure, in the foreground and
// in a background refresh, and a failed background refresh is logged.
func TestLoaderPanic_CountedAndLogged(t *testing.T) {
	t.Parallel()
	logs := &logRecorder{}
	f, sl, _, _ := newRefreshFixture(t, func(o *tiered.Options[int64, User]) {
		o.StaleWhileRevalidate = time.Hour
		o.Logger = slog.New(logs)
	})
	ctx := context.Background()
	getName(t, f.cache, 1) // v1, loaded
	sl.setBlock(func(context.Context) { panic("loader bug") })

	_, err := f.cache.Get(ctx, 2)
	var pe *loader.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("Get of a key whose loader panics: %v, want a PanicError", err)
	}
	if got := f.snap().Get(stats.LoadFailure); got != 1 {
		t.Fatalf("LoadFailure after a panic in the foreground = %d, want 1", got)
	}

	// Past the expiry, within StaleWhileRevalidate: the read serves v1
	// and starts a refresh, which panics.
	f.clock.Advance(refreshTTL + time.Second)
	if got := getName(t, f.cache, 1); got != "v1" {
		t.Fatalf("stale read: %q, want v1", got)
	}
	waitFor(t, "the refresh's failure to be counted", func() bool { return f.snap().Get(stats.LoadFailure) == 2 })
	waitFor(t, "the failed refresh to be logged", func() bool { return logs.find("refresh", "loader bug") != "" })
	if l := logs.find("refresh", "loader bug"); strings.Contains(l, "goroutine ") {
		t.Errorf("the log line carries the whole stack: %q", l)
	}
}

// taggedTTLStore records the TTL of every Tag call.
type taggedTTLStore struct {
	*memstore.Store
	mu   sync.Mutex
	ttls []time.Duration
}

func (s *taggedTTLStore) Namespace(ns string) l2.Store {
	return &taggedTTLView{Store: s.Store.Namespace(ns).(*memstore.Store), s: s}
}

type taggedTTLView struct {
	*memstore.Store
	s *taggedTTLStore
}

func (v *taggedTTLView) Tag(ctx context.Context, tags, keys []string, ttl time.Duration) error {
	v.s.mu.Lock()
	v.s.ttls = append(v.s.ttls, ttl)
	v.s.mu.Unlock()
	return v.Store.Tag(ctx, tags, keys, ttl)
}

// Item 3: a tag index never dies before an entry it lists, also when
// InvalidateTags puts keys back into it after a failed delete: with
// StaleIfError an entry lives TTL + StaleIfError in L2.
func TestInvalidateTags_RelistOutlivesEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &taggedTTLStore{Store: memstore.New(nil)}
	defer func() { _ = store.Close() }()
	const ttl, sie = time.Minute, time.Hour
	c, err := tiered.New(&tiered.Options[int64, User]{
		Name: "user", L2: store, Loader: &countingLoader{}, TTL: ttl, StaleIfError: sie, Beta: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	for id := int64(1); id <= 3; id++ {
		if err := c.SetTagged(ctx, id, user(id), "t"); err != nil {
			t.Fatal(err)
		}
	}
	boom := errors.New("writes fail")
	store.FailWhen(func(op string) error {
		if op == "revoke" || op == "setmany" || op == "set" {
			return boom
		}
		return nil
	})
	if err := c.InvalidateTags(ctx, "t"); !errors.Is(err, boom) {
		t.Fatalf("InvalidateTags with failing deletes: %v, want the store's error", err)
	}
	store.FailWhen(nil)
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.ttls) < 4 {
		t.Fatalf("%d Tag calls, want 3 writes and a re-list", len(store.ttls))
	}
	for i, got := range store.ttls {
		if got < ttl+sie {
			t.Errorf("Tag call %d gave the index %v, less than the entries' L2 lifetime %v", i, got, ttl+sie)
		}
	}
}

// Item 5: the loader's own not-found error reaches the first caller when
// NotFoundTTL is set (later callers get the cached answer).
func TestNotFound_FirstCallKeepsLoaderError(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *tiered.Options[int64, User]) {
		o.NotFoundTTL = time.Minute
		o.Loader = loader.Func[int64, User](func(_ context.Context, id int64) (User, error) {
			return User{}, fmt.Errorf("no user %d in table users: %w", id, tiered.ErrNotFound)
		})
	})
	_, err := f.cache.Get(context.Background(), 42)
	if !errors.Is(err, tiered.ErrNotFound) || !strings.Contains(err.Error(), "no user 42 in table users") {
		t.Fatalf("first Get: %v, want the loader's error", err)
	}
	if _, err := f.cache.Get(context.Background(), 42); !errors.Is(err, tiered.ErrNotFound) {
		t.Fatalf("second Get: %v, want ErrNotFound from the cached answer", err)
	}
}

// Item 5: a PanicError's text is the panic, not the stack (which stays in
// its field).
func TestPanicError_TextWithoutStack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *tiered.Options[int64, User]) {
		o.Loader = loader.Func[int64, User](func(context.Context, int64) (User, error) { panic("boom") })
	})
	_, err := f.cache.Get(context.Background(), 1)
	var pe *loader.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("Get: %v, want a PanicError", err)
	}
	if len(pe.Stack) == 0 {
		t.Error("the PanicError lost its stack")
	}
	if msg := err.Error(); strings.Contains(msg, "goroutine ") || strings.Count(msg, "\n") > 0 || !strings.Contains(msg, "boom") {
		t.Errorf("error text %q: want one line with the panic value", msg)
	}
}

// Item 5: the exported errors of a package start with the package's name.
func TestErrorPrefixes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		prefix string
		errs   []error
	}{
		{"tiered: ", []error{tiered.ErrNotFound, tiered.ErrMiss, tiered.ErrClosed, tiered.ErrInvalidOptions}},
		{"loader: ", []error{loader.ErrNotFound, loader.ErrPanicked, loader.ErrGoexit}},
		{"l2: ", []error{l2.ErrMiss, l2.ErrClosed}},
	} {
		for _, err := range tc.errs {
			if !strings.HasPrefix(err.Error(), tc.prefix) && (tc.prefix != "tiered: " || !errors.Is(err, loader.ErrNotFound)) {
				t.Errorf("%q does not start with %q", err, tc.prefix)
			}
		}
	}
}

// Item 5: a context error returned by a cache method names the cache.
func TestContextErrorNamesCache(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	f := newFixture(t, nil)
	f.loader.hook = func(ctx context.Context, _ int64) {
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, call := range map[string]func() error{
		"Get":     func() error { _, err := f.cache.Get(ctx, 1); return err },
		"GetMany": func() error { _, err := f.cache.GetMany(ctx, []int64{1, 2}); return err },
	} {
		err := call()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "user") {
			t.Errorf("%s: %q does not name the cache", name, err)
		}
	}
}

// Item 6: a duration under a millisecond is a unit mistake (TTL: 10 meant
// 10 s, not 10 ns): New refuses it and says so.
func TestNew_RefusesDurationsUnderAMillisecond(t *testing.T) {
	t.Parallel()
	for _, set := range []func(*tiered.Options[int64, User]){
		func(o *tiered.Options[int64, User]) { o.TTL = 10 },
		func(o *tiered.Options[int64, User]) { o.L1TTL = 500 * time.Microsecond },
		func(o *tiered.Options[int64, User]) { o.NotFoundTTL = 30 },
		func(o *tiered.Options[int64, User]) { o.LoadTimeout = 5 },
	} {
		o := &tiered.Options[int64, User]{Name: "user"}
		set(o)
		_, err := tiered.New(o)
		if !errors.Is(err, tiered.ErrInvalidOptions) || !strings.Contains(err.Error(), "time.Duration") {
			t.Errorf("New: %v, want an ErrInvalidOptions that explains the unit", err)
		}
	}
}

// Item 6: without a Loader, Get loads a single key through the
// BatchLoader.
func TestGet_UsesBatchLoaderWithoutLoader(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	f := newFixture(t, func(o *tiered.Options[int64, User]) {
		o.Loader = nil
		o.BatchLoader = loader.BatchFunc[int64, User](func(_ context.Context, ids []int64) (map[int64]User, error) {
			calls.Add(1)
			out := make(map[int64]User, len(ids))
			for _, id := range ids {
				if id > 0 {
					out[id] = user(id)
				}
			}
			return out, nil
		})
	})
	ctx := context.Background()
	if u, err := f.cache.Get(ctx, 7); err != nil || u.ID != 7 {
		t.Fatalf("Get through the BatchLoader: %+v, %v", u, err)
	}
	if _, err := f.cache.Get(ctx, -1); !errors.Is(err, tiered.ErrNotFound) {
		t.Fatalf("Get of a key the BatchLoader leaves out: %v, want ErrNotFound", err)
	}
	if calls.Load() != 2 {
		t.Fatalf("BatchLoader calls = %d, want 2", calls.Load())
	}
}

// bigLoader serves values of n bytes (in Name).
type bigLoader struct {
	n     int
	calls atomic.Int64
}

func (l *bigLoader) Load(_ context.Context, id int64) (User, error) {
	l.calls.Add(1)
	return User{ID: id, Name: strings.Repeat("x", l.n)}, nil
}

// Item 6: a value larger than MaxValueSize (1 MiB by default) is served but
// cached in neither tier, and counted; Set of one deletes the key and says
// so.
func TestMaxValueSize(t *testing.T) {
	t.Parallel()
	ld := &bigLoader{n: 2 << 20}
	l1 := &recordingL1{}
	f := newFixture(t, func(o *tiered.Options[int64, User]) { o.Loader, o.L1 = ld, l1 })
	ctx := context.Background()
	for range 2 {
		u, err := f.cache.Get(ctx, 1)
		if err != nil || len(u.Name) != 2<<20 {
			t.Fatalf("Get of a 2 MiB value: %d bytes, %v; want it served", len(u.Name), err)
		}
	}
	if ld.calls.Load() != 2 || f.holds(t, 1) {
		t.Fatalf("loads %d, in L2: %v; want 2 loads and nothing cached", ld.calls.Load(), f.holds(t, 1))
	}
	if _, ok := l1.Get("1"); ok {
		t.Fatal("the value is in L1")
	}
	if got := f.snap().Get(stats.ValueTooLarge); got != 2 {
		t.Fatalf("ValueTooLarge = %d, want 2", got)
	}
	if err := f.cache.Set(ctx, 2, user(2)); err != nil {
		t.Fatal(err)
	}
	err := f.cache.Set(ctx, 2, User{ID: 2, Name: strings.Repeat("y", 2<<20)})
	if !errors.Is(err, tiered.ErrValueTooLarge) || f.holds(t, 2) {
		t.Fatalf("Set of a 2 MiB value: %v, the old value in L2: %v; want ErrValueTooLarge and the key deleted", err, f.holds(t, 2))
	}
}

// Item 6: a key longer than MaxKeySize is refused by every method.
func TestMaxKeySize(t *testing.T) {
	t.Parallel()
	c, err := tiered.New(&tiered.Options[string, User]{Name: "user"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ctx := context.Background()
	long := strings.Repeat("k", tiered.MaxKeySize+1)
	for name, call := range map[string]func() error{
		"Get":     func() error { _, err := c.Get(ctx, long); return err },
		"GetMany": func() error { _, err := c.GetMany(ctx, []string{"a", long}); return err },
		"Set":     func() error { return c.Set(ctx, long, User{}) },
		"SetMany": func() error { return c.SetMany(ctx, map[string]User{long: {}}) },
		"Delete":  func() error { return c.Delete(ctx, long) },
	} {
		if err := call(); !errors.Is(err, tiered.ErrInvalidKey) {
			t.Errorf("%s of a %d-byte key: %v, want ErrInvalidKey", name, len(long), err)
		}
	}
	if err := c.Set(ctx, strings.Repeat("k", tiered.MaxKeySize), User{}); err != nil {
		t.Errorf("Set of a key of MaxKeySize bytes: %v", err)
	}
}

// Item 6: an L1TTL longer than TTL acts as TTL: an entry never stays in L1
// past its expiry.
func TestL1TTLLongerThanTTL(t *testing.T) {
	t.Parallel()
	l1 := &recordingL1{}
	f := newFixture(t, func(o *tiered.Options[int64, User]) {
		o.L1, o.TTL, o.L1TTL, o.Beta = l1, time.Hour, 2*time.Hour, -1
	})
	if _, err := f.cache.Get(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if ttl := l1.lastTTL(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("L1 kept the entry for %v, want at most TTL (1h)", ttl)
	}
}
