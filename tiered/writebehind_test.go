package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// behindMode is memory or durable write-behind over one memstore.
type behindMode struct {
	name    string
	durable bool
}

var behindModes = []behindMode{{"memory", false}, {"durable", true}}

// forEachMode runs test once per mode, in parallel.
func forEachMode(t *testing.T, test func(t *testing.T, mode behindMode)) {
	t.Helper()
	for _, mode := range behindModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			test(t, mode)
		})
	}
}

// behindInstances returns n instances over one memstore, bus and (durable)
// queue backend, writing behind to src. opt changes the options of each.
func behindInstances(t *testing.T, n int, mode behindMode, src *rowSource, opt func(i int, o *tiered.Options[int64, User])) ([]*instance, *memstore.Store) {
	t.Helper()
	qs := memstore.NewQueueBackend(&memstore.QueueOptions{ClaimAfter: time.Hour})
	i := 0
	return newInstances(t, n, func(o *tiered.Options[int64, User]) {
		o.Loader, o.BatchWriter = src, src
		o.Now = nil // the flusher's retries and intervals run on real time
		o.WriteBehind = &tiered.WriteBehindOptions[int64, User]{Interval: time.Hour, RetryBackoff: time.Millisecond}
		if mode.durable {
			o.WriteBehind.Queue = qs.Queue("user", fmt.Sprint("consumer-", i))
		}
		if opt != nil {
			opt(i, o)
		}
		i++
	})
}

// WriteBehind returns at once; every instance serves the value, the source
// gets it when the flusher runs (here: FlushBehind).
func TestWriteBehind_ServesAtOnceThenFlushes(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, mode behindMode) {
		ctx := context.Background()
		src := newRowSource()
		src.rows[1] = ver(1, 0)
		in, _ := behindInstances(t, 2, mode, src, nil)
		in[1].get(t, 1)
		if err := in[0].cache.WriteBehind(ctx, 1, ver(1, 1)); err != nil {
			t.Fatal(err)
		}
		for i, x := range in {
			if u := x.get(t, 1); u.Age != 1 {
				t.Errorf("instance %d: Get = version %d, want the queued 1", i, u.Age)
			}
		}
		if u, _ := src.row(1); u.Age != 0 || src.batches.Load() != 0 {
			t.Fatalf("the source was written before the flush: version %d, %d batches", u.Age, src.batches.Load())
		}
		if err := in[0].cache.FlushBehind(ctx); err != nil {
			t.Fatal(err)
		}
		if u, _ := src.row(1); u.Age != 1 {
			t.Fatalf("after FlushBehind the source has version %d", u.Age)
		}
		if n := src.loads.Load(); n != 1 {
			t.Errorf("%d loads, want 1 (the first read's)", n)
		}
		s := in[0].stats.Snapshot()
		if s.Get(stats.WriteQueued) != 1 || s.Get(stats.WriteFlushed) != 1 {
			t.Errorf("queued %d, flushed %d", s.Get(stats.WriteQueued), s.Get(stats.WriteFlushed))
		}
	})
}

// Writes of one key coalesce: the source gets the last one, once.
func TestWriteBehind_Coalesces(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, mode behindMode) {
		ctx := context.Background()
		src := newRowSource()
		in, _ := behindInstances(t, 1, mode, src, nil)
		for v := 1; v <= 100; v++ {
			if err := in[0].cache.WriteBehind(ctx, 7, ver(7, v)); err != nil {
				t.Fatal(err)
			}
		}
		if err := in[0].cache.FlushBehind(ctx); err != nil {
			t.Fatal(err)
		}
		src.mu.Lock()
		h := slices.Clone(src.history[7])
		src.mu.Unlock()
		if !slices.Equal(h, []int{100}) {
			t.Fatalf("the source got versions %v, want [100]", h)
		}
		s := in[0].stats.Snapshot()
		if q, f, c := s.Get(stats.WriteQueued), s.Get(stats.WriteFlushed), s.Get(stats.WriteCoalesced); q != 100 || f != 1 || c != 99 {
			t.Errorf("queued %d, flushed %d, coalesced %d; want 100, 1, 99", q, f, c)
		}
	})
}

// A key whose write is queued is never loaded from the source, also after
// its value left L2 (deleted by hand, as maxmemory would): every instance
// serves the queued value. In memory mode that holds in the instance that
// accepted the write.
func TestWriteBehind_NeverLoadsQueuedKey(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, mode behindMode) {
		ctx := context.Background()
		src := newRowSource()
		src.rows[1] = ver(1, 0)
		in, store := behindInstances(t, 3, mode, src, nil)
		if err := in[0].cache.WriteBehind(ctx, 1, ver(1, 1)); err != nil {
			t.Fatal(err)
		}
		if err := store.Namespace("user").Delete(ctx, "1"); err != nil {
			t.Fatal(err)
		}
		if n := src.batches.Load(); n != 0 {
			t.Fatalf("the flusher wrote %d batches before the check", n)
		}
		readers := in
		if !mode.durable {
			readers = in[:1]
		}
		for i, x := range readers {
			x.l1.Delete("1") // as an L1 eviction would
			if u := x.get(t, 1); u.Age != 1 {
				t.Errorf("instance %d: Get = version %d, want the queued 1", i, u.Age)
			}
		}
		if n := src.loads.Load(); n != 0 {
			t.Errorf("the loader was called %d times for a key whose write is queued", n)
		}
	})
}

// DeleteBehind: reads get ErrNotFound at once; the flusher deletes the row.
func TestDeleteBehind(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, mode behindMode) {
		ctx := context.Background()
		src := newRowSource()
		src.rows[1] = ver(1, 0)
		in, _ := behindInstances(t, 2, mode, src, nil)
		in[1].get(t, 1)
		if err := in[0].cache.DeleteBehind(ctx, 1); err != nil {
			t.Fatal(err)
		}
		for i, x := range in {
			if _, err := x.cache.Get(ctx, 1); !errors.Is(err, tiered.ErrNotFound) {
				t.Errorf("instance %d: Get after DeleteBehind: %v", i, err)
			}
		}
		if err := in[0].cache.FlushBehind(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := src.row(1); ok {
			t.Error("the row is still in the source")
		}
	})
}

// A write that fails is retried; one whose retries run out goes to the
// dead-letter hook, and its key is invalidated (reads load the source's
// row again).
func TestWriteBehind_RetryThenDeadLetter(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, mode behindMode) {
		ctx := context.Background()
		boom := errors.New("database down")
		src := newRowSource()
		src.rows[2] = ver(2, 0)
		var calls atomic.Int64
		src.fail = func() error {
			if calls.Add(1) <= 2 {
				return boom
			}
			return nil
		}
		var (
			mu     sync.Mutex
			letter []tiered.Change[int64, User]
		)
		in, _ := behindInstances(t, 2, mode, src, func(_ int, o *tiered.Options[int64, User]) {
			o.WriteBehind.MaxRetries = 3
			o.WriteBehind.DeadLetter = func(_ context.Context, chs []tiered.Change[int64, User], err error) {
				if !errors.Is(err, boom) {
					t.Errorf("dead letter with %v", err)
				}
				mu.Lock()
				letter = append(letter, chs...)
				mu.Unlock()
			}
		})
		if err := in[0].cache.WriteBehind(ctx, 1, ver(1, 1)); err != nil {
			t.Fatal(err)
		}
		if err := in[0].cache.FlushBehind(ctx); err != nil {
			t.Fatal(err)
		}
		if u, _ := src.row(1); u.Age != 1 {
			t.Fatalf("after two failures and a retry the source has version %d", u.Age)
		}
		if n := in[0].stats.Snapshot().Get(stats.WriteRetry); n != 2 {
			t.Errorf("%d retries, want 2", n)
		}

		src.fail = func() error { return boom }
		in[1].get(t, 2)
		if err := in[0].cache.WriteBehind(ctx, 2, ver(2, 1)); err != nil {
			t.Fatal(err)
		}
		if err := in[0].cache.FlushBehind(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := slices.Clone(letter)
		mu.Unlock()
		if len(got) != 1 || got[0].Key != 2 || got[0].Value.Age != 1 {
			t.Fatalf("dead letters %+v, want key 2 version 1", got)
		}
		for i, x := range in {
			if u := x.get(t, 2); u.Age != 0 {
				t.Errorf("instance %d serves version %d after the dead letter; the source has 0", i, u.Age)
			}
		}
	})
}

// The queue is bounded: a write beyond MaxQueued fails with ErrQueueFull,
// or waits for room with Block.
func TestWriteBehind_QueueFull(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	setup := func(t *testing.T, block bool) (*instance, *rowSource) {
		src := newRowSource()
		src.hold = make(chan struct{})
		in, _ := behindInstances(t, 1, behindModes[0], src, func(_ int, o *tiered.Options[int64, User]) {
			o.WriteBehind.MaxQueued = 2
			o.WriteBehind.Block = block
		})
		for id := int64(1); id <= 2; id++ {
			if err := in[0].cache.WriteBehind(ctx, id, ver(id, 1)); err != nil {
				t.Fatal(err)
			}
		}
		return in[0], src
	}
	t.Run("fail", func(t *testing.T) {
		t.Parallel()
		x, src := setup(t, false)
		defer close(src.hold)
		if err := x.cache.WriteBehind(ctx, 3, ver(3, 1)); !errors.Is(err, tiered.ErrQueueFull) {
			t.Fatalf("third write: %v, want ErrQueueFull", err)
		}
	})
	t.Run("block", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			x, src := setup(t, true)
			done := make(chan error, 1)
			go func() { done <- x.cache.WriteBehind(ctx, 3, ver(3, 1)) }()
			synctest.Wait() // everything in the bubble is blocked: the write waits for room
			select {
			case err := <-done:
				t.Fatalf("the third write returned %v while the queue was full", err)
			default:
			}
			close(src.hold) // the flusher writes, making room
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	})
}

// Close writes what is queued before it returns.
func TestWriteBehind_CloseDrains(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, mode behindMode) {
		ctx := context.Background()
		src := newRowSource()
		in, _ := behindInstances(t, 1, mode, src, nil)
		for id := int64(1); id <= 250; id++ {
			if err := in[0].cache.WriteBehind(ctx, id, ver(id, 1)); err != nil {
				t.Fatal(err)
			}
		}
		if err := in[0].cache.Close(); err != nil {
			t.Fatal(err)
		}
		for id := int64(1); id <= 250; id++ {
			if u, ok := src.row(id); !ok || u.Age != 1 {
				t.Fatalf("key %d not in the source after Close", id)
			}
		}
	})
}

// A source that fails 30% of batch writes at random: every accepted write
// ends in the source or in the dead-letter hook, counted exactly, and per
// key an older value never overwrites a newer one. Durable mode with two
// instances writing the same keys; memory mode with one (its flushers do
// not order the writes of several instances: see WriteBehindOptions.Queue).
func TestWriteBehind_FlakySource(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, mode behindMode) {
		n := 2
		if !mode.durable {
			n = 1
		}
		behindFlakyRun(t, func(src *rowSource, opt func(int, *tiered.Options[int64, User])) []*instance {
			in, _ := behindInstances(t, n, mode, src, opt)
			return in
		}, 64, 3000/n)
	})
}

// behindFlakyRun runs the flaky-source check on the instances build
// returns (over src, with opt applied to their options): each writes
// writes values of keys keys behind.
func behindFlakyRun(t *testing.T, build func(src *rowSource, opt func(int, *tiered.Options[int64, User])) []*instance, keys, writes int) {
	ctx := context.Background()
	src := newRowSource()
	var failures atomic.Int64
	src.fail = func() error {
		if rand.IntN(10) < 3 {
			failures.Add(1)
			return errors.New("injected failure")
		}
		return nil
	}
	var (
		mu     sync.Mutex
		letter = map[int64][]int{}
	)
	in := build(src, func(_ int, o *tiered.Options[int64, User]) {
		o.WriteBehind.Interval = 2 * time.Millisecond
		o.WriteBehind.BatchSize = 16
		o.WriteBehind.MaxRetries = 2
		o.WriteBehind.DeadLetter = func(_ context.Context, chs []tiered.Change[int64, User], _ error) {
			mu.Lock()
			for _, ch := range chs {
				letter[ch.Key] = append(letter[ch.Key], ch.Value.Age)
			}
			mu.Unlock()
		}
	})
	last := make([]atomic.Int64, keys) // last accepted version per key
	locks := make([]sync.Mutex, keys)
	var next atomic.Int64
	var wg sync.WaitGroup
	for i, x := range in {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(i), 7))
			for range writes {
				k := rnd.Int64N(int64(keys))
				// The writers of a key take turns, as a row lock would
				// make them: versions of a key are accepted in order.
				locks[k].Lock()
				v := next.Add(1)
				if err := x.cache.WriteBehind(ctx, k, ver(k, int(v))); err != nil {
					t.Error(err)
				} else {
					last[k].Store(v)
				}
				locks[k].Unlock()
			}
		})
	}
	wg.Wait()
	for _, x := range in {
		if err := x.cache.FlushBehind(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var queued, flushed, coalesced, dead int64
	count := func() {
		queued, flushed, coalesced, dead = 0, 0, 0, 0
		for _, x := range in {
			s := x.stats.Snapshot()
			queued += s.Get(stats.WriteQueued)
			flushed += s.Get(stats.WriteFlushed)
			coalesced += s.Get(stats.WriteCoalesced)
			dead += s.Get(stats.WriteDeadLetter)
		}
	}
	// A flusher counts its entries once the queue acknowledged them, and
	// FlushBehind returns once the queue is empty: the last counts may
	// land a moment later. (A count that overshoots never matches.)
	waitFor(t, "every accepted write to be counted", func() bool {
		count()
		return flushed+coalesced+dead >= queued
	})
	count()
	src.mu.Lock()
	defer src.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	lettered := 0
	for k := range int64(keys) {
		h := src.history[k]
		for j := 1; j < len(h); j++ {
			if h[j] < h[j-1] {
				t.Errorf("key %d: the source got version %d after %d", k, h[j], h[j-1])
			}
		}
		want := int(last[k].Load())
		if want == 0 {
			continue
		}
		lettered += len(letter[k])
		switch {
		case src.rows[k].Age == want:
		case slices.Contains(letter[k], want):
		default:
			t.Errorf("key %d: last accepted version %d is neither in the source (%d) nor a dead letter (%v)", k, want, src.rows[k].Age, letter[k])
		}
	}
	if int64(lettered) != dead {
		t.Errorf("%d dead letters received, %d counted", lettered, dead)
	}
	if queued != int64(len(in)*writes) || flushed+coalesced+dead != queued {
		t.Errorf("queued %d (want %d) != flushed %d + coalesced %d + dead letters %d", queued, len(in)*writes, flushed, coalesced, dead)
	}
	t.Logf("%d writes accepted: %d written to the source in %d batch calls (%d failed), %d coalesced, %d dead letters",
		queued, flushed, src.batches.Load(), failures.Load(), coalesced, dead)
}

// Misconfigured write-behind fails in New with ErrInvalidOptions, and the
// methods say what they need.
func TestWriteBehind_Options(t *testing.T) {
	t.Parallel()
	src := newRowSource()
	q := memstore.NewQueueBackend(nil).Queue("user", "c")
	for _, tc := range []struct {
		name string
		opt  func(o *tiered.Options[int64, User])
	}{
		{"no writer", func(o *tiered.Options[int64, User]) { o.BatchWriter = nil }},
		{"durable without L2", func(o *tiered.Options[int64, User]) { o.L2 = nil; o.WriteBehind.Queue = q }},
		{"durable without leases", func(o *tiered.Options[int64, User]) { o.LeaseTTL = -1; o.WriteBehind.Queue = q }},
		{"durable with a custom Key and no ParseKey", func(o *tiered.Options[int64, User]) {
			o.Key = func(id int64) string { return fmt.Sprint("u", id) }
			o.WriteBehind.Queue = q
		}},
		{"sub-millisecond interval", func(o *tiered.Options[int64, User]) { o.WriteBehind.Interval = 10 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := &tiered.Options[int64, User]{
				Name: "user", L2: memstore.New(nil), Loader: src, BatchWriter: src,
				WriteBehind: &tiered.WriteBehindOptions[int64, User]{},
			}
			tc.opt(opts)
			c, err := tiered.New(opts)
			if err == nil {
				_ = c.Close()
			}
			if !errors.Is(err, tiered.ErrInvalidOptions) {
				t.Fatalf("New: %v, want ErrInvalidOptions", err)
			}
		})
	}
	f := newFixture(t, nil)
	ctx := context.Background()
	for name, err := range map[string]error{
		"WriteBehind":  f.cache.WriteBehind(ctx, 1, user(1)),
		"DeleteBehind": f.cache.DeleteBehind(ctx, 1),
		"FlushBehind":  f.cache.FlushBehind(ctx),
	} {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%s without WriteBehind: %v, want errors.ErrUnsupported", name, err)
		}
	}
}

// After Close, write-behind calls return ErrClosed; Close twice is fine.
func TestWriteBehind_AfterClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	in, _ := behindInstances(t, 1, behindModes[1], newRowSource(), nil)
	c := in[0].cache
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteBehind(ctx, 1, user(1)); !errors.Is(err, tiered.ErrClosed) {
		t.Errorf("WriteBehind after Close: %v", err)
	}
	if err := c.FlushBehind(ctx); !errors.Is(err, tiered.ErrClosed) {
		t.Errorf("FlushBehind after Close: %v", err)
	}
}
