package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// rowSource is the source of truth of the write-through and write-behind
// tests: rows by id (a test's version of a row is its Age), the versions
// written per id, a Writer, a BatchWriter and a Loader over them.
type rowSource struct {
	mu      sync.Mutex
	rows    map[int64]User
	history map[int64][]int // versions written per id; -1: a delete
	writes  atomic.Int64    // Writer calls
	batches atomic.Int64    // BatchWriter calls
	loads   atomic.Int64
	// before runs before a change is applied (it may block); an error
	// refuses the change. after runs once it is applied; an error is
	// returned although the change was applied.
	before, after func(ctx context.Context, ch tiered.Change[int64, User]) error
	// fail, when set, decides whether a BatchWriter call fails (before
	// writing anything).
	fail func() error
	// hold, when set, is waited on by every BatchWriter call (a source
	// that hangs).
	hold chan struct{}
}

func newRowSource() *rowSource {
	return &rowSource{rows: map[int64]User{}, history: map[int64][]int{}}
}

func named(id int64, name string) User { u := user(id); u.Name = name; return u }

func ver(id int64, v int) User { u := user(id); u.Age = v; return u }

func (s *rowSource) Write(ctx context.Context, ch tiered.Change[int64, User]) error {
	s.writes.Add(1)
	return s.apply(ctx, ch)
}

func (s *rowSource) WriteMany(ctx context.Context, chs []tiered.Change[int64, User]) error {
	s.batches.Add(1)
	if s.hold != nil {
		select {
		case <-s.hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.fail != nil {
		if err := s.fail(); err != nil {
			return err
		}
	}
	for _, ch := range chs {
		if err := s.apply(ctx, ch); err != nil {
			return err
		}
	}
	return nil
}

func (s *rowSource) apply(ctx context.Context, ch tiered.Change[int64, User]) error {
	if s.before != nil {
		if err := s.before(ctx, ch); err != nil {
			return err
		}
	}
	s.mu.Lock()
	if ch.Delete {
		delete(s.rows, ch.Key)
		s.history[ch.Key] = append(s.history[ch.Key], -1)
	} else {
		s.rows[ch.Key] = ch.Value
		s.history[ch.Key] = append(s.history[ch.Key], ch.Value.Age)
	}
	s.mu.Unlock()
	if s.after != nil {
		return s.after(ctx, ch)
	}
	return nil
}

func (s *rowSource) Load(_ context.Context, id int64) (User, error) {
	s.loads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.rows[id]
	if !ok {
		return User{}, tiered.ErrNotFound
	}
	return u, nil
}

func (s *rowSource) row(id int64) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.rows[id]
	return u, ok
}

// writeThroughInstances returns n instances over one memstore and bus
// whose Writer and Loader are src.
func writeThroughInstances(t *testing.T, n int, src *rowSource, opt func(*tiered.Options[int64, User])) []*instance {
	t.Helper()
	in, _ := newInstances(t, n, func(o *tiered.Options[int64, User]) {
		o.Loader, o.Writer = src, src
		if opt != nil {
			opt(o)
		}
	})
	return in
}

// agree fails the test unless every instance's Get of id gives what the
// source holds.
func agree(t *testing.T, src *rowSource, in []*instance, id int64) {
	t.Helper()
	want, ok := src.row(id)
	for i, x := range in {
		got, err := x.cache.Get(context.Background(), id)
		switch {
		case !ok && !errors.Is(err, tiered.ErrNotFound):
			t.Errorf("instance %d: Get(%d) = %q, %v; the source has no row", i, id, got.Name, err)
		case ok && (err != nil || got.Name != want.Name):
			t.Errorf("instance %d: Get(%d) = %q, %v; the source has %q", i, id, got.Name, err, want.Name)
		}
	}
}

// A write-through writes the source, then L2 and this instance's L1, and
// the other instances drop their copy and read the new value from L2.
func TestWriteThrough_StoresEverywhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newRowSource()
	src.rows[1] = named(1, "v0")
	in := writeThroughInstances(t, 2, src, nil)
	if got := in[1].get(t, 1); got.Name != "v0" {
		t.Fatalf("first read: %q", got.Name)
	}
	if err := in[0].cache.WriteThrough(ctx, 1, named(1, "v1")); err != nil {
		t.Fatal(err)
	}
	if u, _ := src.row(1); u.Name != "v1" || src.writes.Load() != 1 {
		t.Fatalf("source: %q after %d writes", u.Name, src.writes.Load())
	}
	if !in[0].inL1(1) {
		t.Error("the writer's L1 does not hold the value")
	}
	agree(t, src, in, 1)
	if n := src.loads.Load(); n != 1 {
		t.Errorf("%d loads, want 1 (the first read's): the written value should come from the cache", n)
	}
	if s := in[0].stats.Snapshot(); s.Get(stats.ThroughStored) != 1 || s.Get(stats.ThroughInvalidated) != 0 {
		t.Errorf("stored %d, invalidated %d", s.Get(stats.ThroughStored), s.Get(stats.ThroughInvalidated))
	}
}

// A Writer error leaves source and cache as they were, in every tier, and
// gives the key's lease back at once.
func TestWriteThrough_WriterErrorLeavesCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	boom := errors.New("constraint violated")
	src := newRowSource()
	src.rows[1] = named(1, "v0")
	src.before = func(context.Context, tiered.Change[int64, User]) error { return boom }
	in := writeThroughInstances(t, 2, src, nil)
	for _, x := range in {
		x.get(t, 1)
	}
	err := in[0].cache.WriteThrough(ctx, 1, named(1, "v1"))
	if !errors.Is(err, boom) || !errors.Is(err, tiered.ErrWriteFailed) {
		t.Fatalf("err = %v, want the writer's error and ErrWriteFailed", err)
	}
	if !in[0].inL1(1) || !in[1].inL1(1) {
		t.Error("an L1 dropped the value of a write the source refused")
	}
	agree(t, src, in, 1)
	if n := src.loads.Load(); n != 1 {
		t.Errorf("%d loads, want 1: L2 should still hold v0", n)
	}
	// Key 2 has no value anywhere: a read in another instance right after
	// the refused write loads at once instead of waiting for the lease.
	if err := in[0].cache.WriteThrough(ctx, 2, named(2, "v1")); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := in[1].cache.Get(ctx, 2); !errors.Is(err, tiered.ErrNotFound) {
		t.Fatalf("Get(2): %v", err)
	}
	if n := in[1].stats.Snapshot().Get(stats.LeaseWaited); n != 0 {
		t.Errorf("the reader waited for %d leases: the refused write did not give its lease back", n)
	}
}

// A Writer that cannot tell whether the source took the write (its context
// ended, it panicked) makes the cache invalidate the key: the next read
// loads what the source holds.
func TestWriteThrough_UncertainInvalidates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		after func(context.Context, tiered.Change[int64, User]) error
		is    error
	}{
		{"deadline", func(context.Context, tiered.Change[int64, User]) error { return context.DeadlineExceeded }, context.DeadlineExceeded},
		{"panic", func(context.Context, tiered.Change[int64, User]) error { panic("driver bug") }, loader.ErrPanicked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := newRowSource()
			src.rows[1] = named(1, "v0")
			in := writeThroughInstances(t, 2, src, nil)
			for _, x := range in {
				x.get(t, 1)
			}
			src.after = tc.after // the row is written, then the writer fails
			err := in[0].cache.WriteThrough(context.Background(), 1, named(1, "v1"))
			if !errors.Is(err, tc.is) || !errors.Is(err, tiered.ErrWriteFailed) {
				t.Fatalf("err = %v", err)
			}
			agree(t, src, in, 1)
		})
	}
}

// Two instances write one key at once; the first holds the key's lease.
// Whatever order the source takes the writes in, and whatever order their
// cache writes come in, the cache ends with what the source holds.
func TestWriteThrough_SourceOrderWins(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// where each writer stops until the test lets it go on: before
		// its source write, or after it (before its cache write)
		firstAfter, secondAfter bool
		want                    string // what the source ends with
		// the first writer's release comes before the second's
		firstGoesFirst bool
	}{
		{name: "source-v2-v1", want: "v1"},
		{name: "source-v1-v2", firstAfter: true, want: "v2"},
		{name: "source-v2-v1/cache-v1-v2", secondAfter: true, firstGoesFirst: true, want: "v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			src := newRowSource()
			src.rows[1] = named(1, "v0")
			gates := map[string]*onceGate{"v1": newOnceGate(), "v2": newOnceGate()}
			after := map[string]bool{"v1": tc.firstAfter, "v2": tc.secondAfter}
			stop := func(isAfter bool) func(context.Context, tiered.Change[int64, User]) error {
				return func(_ context.Context, ch tiered.Change[int64, User]) error {
					if after[ch.Value.Name] == isAfter {
						gates[ch.Value.Name].pass()
					}
					return nil
				}
			}
			src.before, src.after = stop(false), stop(true)
			in := writeThroughInstances(t, 2, src, nil)
			in[1].get(t, 1)
			done := [2]chan error{make(chan error, 1), make(chan error, 1)}
			go func() { done[0] <- in[0].cache.WriteThrough(ctx, 1, named(1, "v1")) }()
			<-gates["v1"].started // the first writer holds the lease
			go func() { done[1] <- in[1].cache.WriteThrough(ctx, 1, named(1, "v2")) }()
			<-gates["v2"].started
			order := []int{1, 0}
			if tc.firstGoesFirst {
				order = []int{0, 1}
			}
			for _, i := range order {
				gates[fmt.Sprint("v", i+1)].open()
				if err := <-done[i]; err != nil {
					t.Fatal(err)
				}
			}
			if u, _ := src.row(1); u.Name != tc.want {
				t.Fatalf("the source holds %q, want %q", u.Name, tc.want)
			}
			agree(t, src, in, 1)
			if s := in[1].stats.Snapshot(); s.Get(stats.ThroughInvalidated) != 1 || s.Get(stats.ThroughStored) != 0 {
				t.Errorf("the second writer stored %d, invalidated %d; want it to invalidate", s.Get(stats.ThroughStored), s.Get(stats.ThroughInvalidated))
			}
		})
	}
}

// A read that misses while a write-through of the key is under way waits
// for the writer's value instead of loading the row being written.
func TestWriteThrough_ReaderWaitsForWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newRowSource()
	gate := newOnceGate()
	src.before = func(context.Context, tiered.Change[int64, User]) error { gate.pass(); return nil }
	in := writeThroughInstances(t, 2, src, nil)
	done := make(chan error, 1)
	go func() { done <- in[0].cache.WriteThrough(ctx, 1, named(1, "v1")) }()
	<-gate.started
	got := make(chan User, 1)
	go func() { got <- in[1].get(t, 1) }()
	waitFor(t, "the reader to wait for the lease", func() bool {
		return in[1].stats.Snapshot().Get(stats.LeaseWaited) == 1
	})
	gate.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if u := <-got; u.Name != "v1" {
		t.Fatalf("the reader got %q", u.Name)
	}
	if n := src.loads.Load(); n != 0 {
		t.Errorf("%d loads, want 0", n)
	}
}

// DeleteThrough deletes the row, then the key in every tier and instance.
func TestDeleteThrough(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newRowSource()
	src.rows[1], src.rows[2] = named(1, "v0"), named(2, "v0")
	in := writeThroughInstances(t, 2, src, nil)
	for _, x := range in {
		x.get(t, 1)
		x.get(t, 2)
	}
	if err := in[0].cache.DeleteThrough(ctx, 1, 1); err != nil {
		t.Fatal(err)
	}
	if _, ok := src.row(1); ok || src.writes.Load() != 1 {
		t.Fatalf("row 1 still there, or %d writes for one key", src.writes.Load())
	}
	agree(t, src, in, 1)
	agree(t, src, in, 2)
}

// WriteThroughMany writes with one BatchWriter call, or with one Writer
// call per key without one.
func TestWriteThroughMany(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	items := map[int64]User{1: named(1, "v1"), 2: named(2, "v1"), 3: named(3, "v1")}
	for _, batch := range []bool{true, false} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			t.Parallel()
			src := newRowSource()
			in := writeThroughInstances(t, 2, src, func(o *tiered.Options[int64, User]) {
				if batch {
					o.Writer, o.BatchWriter = nil, src
				}
			})
			if err := in[0].cache.WriteThroughMany(ctx, items); err != nil {
				t.Fatal(err)
			}
			if batch && (src.batches.Load() != 1 || src.writes.Load() != 0) ||
				!batch && (src.batches.Load() != 0 || src.writes.Load() != 3) {
				t.Fatalf("%d batch calls, %d single calls", src.batches.Load(), src.writes.Load())
			}
			for id := range items {
				agree(t, src, in, id)
			}
			if n := src.loads.Load(); n != 0 {
				t.Errorf("%d loads, want 0", n)
			}
		})
	}
}

// Without an L2 that keeps leases, a write-through invalidates the key.
func TestWriteThrough_WithoutLeasesInvalidates(t *testing.T) {
	t.Parallel()
	src := newRowSource()
	src.rows[1] = named(1, "v0")
	in := writeThroughInstances(t, 2, src, func(o *tiered.Options[int64, User]) { o.LeaseTTL = -1 })
	for _, x := range in {
		x.get(t, 1)
	}
	if err := in[0].cache.WriteThrough(context.Background(), 1, named(1, "v1")); err != nil {
		t.Fatal(err)
	}
	agree(t, src, in, 1)
	if s := in[0].stats.Snapshot(); s.Get(stats.ThroughInvalidated) != 1 {
		t.Errorf("invalidated %d", s.Get(stats.ThroughInvalidated))
	}
}

func TestWriteThrough_NeedsWriter(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	if err := f.cache.WriteThrough(context.Background(), 1, user(1)); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("err = %v, want errors.ErrUnsupported", err)
	}
}
