package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/internal/envelope"
	"github.com/tiercache/tiercache/tiered/stats"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// User is the value type of the tests: eight fields, a slice, a nested
// struct.
type User struct {
	ID      int64
	Name    string
	Email   string
	Age     int
	Admin   bool
	Score   float64
	Tags    []string
	Address Address
}

type Address struct {
	Street string
	City   string
	Zip    string
}

func user(id int64) User {
	return User{
		ID: id, Name: "Ada Lovelace", Email: "ada@example.com", Age: 36, Score: 99.5,
		Tags: []string{"math", "engines"}, Address: Address{Street: "12 St James's Sq", City: "London", Zip: "SW1Y"},
	}
}

// fakeClock is a settable clock for Options.Now and memstore.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// countingLoader counts calls and serves user(id), or err when set.
type countingLoader struct {
	calls atomic.Int64
	mu    sync.Mutex
	err   error
	hook  func(ctx context.Context, id int64) // runs inside Load, may block
}

func (l *countingLoader) Load(ctx context.Context, id int64) (User, error) {
	l.calls.Add(1)
	if l.hook != nil {
		l.hook(ctx, id)
		if err := ctx.Err(); err != nil {
			return User{}, err
		}
	}
	l.mu.Lock()
	err := l.err
	l.mu.Unlock()
	if err != nil {
		return User{}, err
	}
	return user(id), nil
}

func (l *countingLoader) setErr(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
}

type fixture struct {
	cache  *tiered.Cache[int64, User]
	l2     *memstore.Store
	loader *countingLoader
	stats  *stats.Counter
	clock  *fakeClock
}

// newFixture builds a cache over an in-memory L2 and a fake clock; mutate
// the options before the cache is built with opt.
func newFixture(t testing.TB, opt func(*tiered.Options[int64, User])) *fixture {
	t.Helper()
	f := &fixture{loader: &countingLoader{}, stats: &stats.Counter{}, clock: newFakeClock()}
	f.l2 = memstore.New(&memstore.Options{Now: f.clock.Now})
	t.Cleanup(func() { _ = f.l2.Close() })
	opts := &tiered.Options[int64, User]{
		Name:   "user",
		L2:     f.l2,
		Loader: f.loader,
		Stats:  f.stats,
		Now:    f.clock.Now,
	}
	if opt != nil {
		opt(opts)
	}
	c, err := tiered.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	f.cache = c
	return f
}

func (f *fixture) snap() stats.Snapshot { return f.stats.Snapshot() }

// holds reports whether L2 holds a value (not a tombstone) for id.
func (f *fixture) holds(t testing.TB, id int64) bool {
	t.Helper()
	return holdsValue(t, f.l2, "user", id)
}

// holdsValue reports whether store holds a value (not a tombstone) for id
// in namespace ns.
func holdsValue(t testing.TB, store l2.Namespacer, ns string, id int64) bool {
	t.Helper()
	b, err := store.Namespace(ns).Get(context.Background(), strconv.FormatInt(id, 10))
	if errors.Is(err, l2.ErrMiss) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return !isTombstone(b)
}

// isTombstone reports whether frame is a deleted key's tombstone.
func isTombstone(frame []byte) bool {
	h, _, err := envelope.Decode(frame)
	return err == nil && h.Flags&envelope.FlagTombstone != 0
}

// waitFor polls cond until it holds or fails the test after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// stampede runs n goroutines that call get at once and checks that each got
// user(id). The caller's loader blocks on release; stampede closes it once
// ready reports that every caller is past its L2 lookup.
func stampede(t *testing.T, n int, id int64, get func(context.Context) (User, error), ready func() bool, release chan struct{}) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			u, err := get(ctx)
			if err == nil && u.ID != id {
				err = fmt.Errorf("got user %d, want %d", u.ID, id)
			}
			errs <- err
		}()
	}
	waitFor(t, "every caller to miss L2", ready)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// recordingL1 is an L1 that holds every value in a map and records the TTL
// of the last Set (it does not expire anything).
type recordingL1 struct {
	mu  sync.Mutex
	m   map[string]any
	ttl time.Duration
}

func (r *recordingL1) Get(k string) (any, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.m[k]
	return v, ok
}

func (r *recordingL1) Set(k string, v any, _ int64, ttl time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]any{}
	}
	r.m[k], r.ttl = v, ttl
	return true
}

func (r *recordingL1) lastTTL() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ttl
}

func (r *recordingL1) Wait() {}
func (r *recordingL1) Delete(k string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, k)
}
func (r *recordingL1) Clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.m)
}
func (r *recordingL1) Close() {}

// atomicString is a string read and written from several goroutines.
type atomicString struct{ v atomic.Value }

func (s *atomicString) Load() string   { return s.v.Load().(string) }
func (s *atomicString) Store(x string) { s.v.Store(x) }

// testBusKeys authenticates the messages of every Redis bus of the
// multi-instance tests (consistency, failover, stampede, schema): they
// pass with authentication on (issue 12). The redisbus package tests the
// bus without keys.
var testBusKeys = [][]byte{[]byte("tiercache test bus key, 32 bytes")}
