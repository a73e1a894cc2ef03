package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
)

// warmStore is one kind of L2 the warming tests run on: shared(t) returns
// a function that gives each instance its own view (its own client, for
// Redis) of one L2.
type warmStore struct {
	name   string
	shared func(t *testing.T) func() l2.Store
}

// warmStores are memstore, miniredis, and, with TIERCACHE_INTEGRATION=1, a
// real redis-server.
func warmStores(t *testing.T) []warmStore {
	t.Helper()
	redisOn := func(addr func(t *testing.T) string) func(t *testing.T) func() l2.Store {
		return func(t *testing.T) func() l2.Store {
			a := addr(t)
			return func() l2.Store {
				rdb := redis.NewClient(&redis.Options{Addr: a})
				t.Cleanup(func() { _ = rdb.Close() })
				return redisstore.New(rdb, nil)
			}
		}
	}
	stores := []warmStore{
		{"memstore", func(t *testing.T) func() l2.Store {
			m := memstore.New(nil)
			t.Cleanup(func() { _ = m.Close() })
			return func() l2.Store { return m }
		}},
		{"miniredis", redisOn(func(t *testing.T) string { return miniredis.RunT(t).Addr() })},
	}
	if redistest.Enabled() {
		stores = append(stores, warmStore{"redis", redisOn(func(t *testing.T) string { return redistest.NewServer(t).Addr() })})
	}
	return stores
}

// warmSource is a BatchLoader over a database of users: it counts its calls,
// the keys they asked for, and the calls at once (the most seen). Keys in
// missing do not exist; a batch with a key in fail fails with
// errWarmSource. hook, when set, runs at the start of each call.
type warmSource struct {
	calls, keys    atomic.Int64
	inflight, most atomic.Int64
	missing, fail  func(int64) bool
	hook           func(ctx context.Context)
}

var errWarmSource = errors.New("database down")

func (s *warmSource) LoadMany(ctx context.Context, ids []int64) (map[int64]User, error) {
	s.calls.Add(1)
	s.keys.Add(int64(len(ids)))
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for {
		if m := s.most.Load(); n <= m || s.most.CompareAndSwap(m, n) {
			break
		}
	}
	if s.hook != nil {
		s.hook(ctx)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[int64]User, len(ids))
	for _, id := range ids {
		if s.fail != nil && s.fail(id) {
			return nil, errWarmSource
		}
		if s.missing == nil || !s.missing(id) {
			out[id] = User{ID: id, Name: "u"}
		}
	}
	return out, nil
}

// warmIDs returns the keys [0, n) as a sequence.
func warmIDs(n int) iter.Seq[int64] {
	return func(yield func(int64) bool) {
		for i := range int64(n) {
			if !yield(i) {
				return
			}
		}
	}
}

// newWarmCache returns a cache named "warm" over store, with an L1 that
// keeps everything (so that L1 counts are exact), loading from src.
func newWarmCache(t *testing.T, store l2.Store, src *warmSource, opt func(*tiered.Options[int64, User])) *tiered.Cache[int64, User] {
	t.Helper()
	opts := &tiered.Options[int64, User]{Name: "warm", L1: &recordingL1{}, L2: store}
	if src != nil {
		opts.BatchLoader = src
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

// checkProgress fails t unless got has the counts of want (Elapsed aside).
func checkProgress(t *testing.T, what string, got, want tiered.WarmProgress) {
	t.Helper()
	got.Elapsed = 0
	if got != want {
		t.Fatalf("%s: %+v, want %+v", what, got, want)
	}
}

// Warm 10,000 keys: the first instance loads them in one source call per
// batch, a second instance on the same L2 reads them all from L2 with no
// source call, and a second pass of the first finds them in its L1.
func TestWarm_TwoInstancesShareL2(t *testing.T) {
	t.Parallel()
	const n, batch = 10_000, 500
	for _, st := range warmStores(t) {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store := st.shared(t)
			srcA, srcB := &warmSource{}, &warmSource{}
			a := newWarmCache(t, store(), srcA, nil)
			opts := &tiered.WarmOptions{BatchSize: batch}

			p, err := a.Warm(ctx, warmIDs(n), opts)
			if err != nil {
				t.Fatal(err)
			}
			calls := (n + batch - 1) / batch
			checkProgress(t, "first instance", p, tiered.WarmProgress{Keys: n, Loaded: n, SourceCalls: calls})
			if srcA.calls.Load() != int64(calls) || srcA.keys.Load() != n {
				t.Fatalf("source: %d calls for %d keys, want %d for %d", srcA.calls.Load(), srcA.keys.Load(), calls, n)
			}

			b := newWarmCache(t, store(), srcB, nil)
			p, err = b.Warm(ctx, warmIDs(n), opts)
			if err != nil {
				t.Fatal(err)
			}
			checkProgress(t, "second instance", p, tiered.WarmProgress{Keys: n, FromL2: n})
			if srcB.calls.Load() != 0 {
				t.Fatalf("the second instance called the source %d times", srcB.calls.Load())
			}

			p, err = a.Warm(ctx, warmIDs(n), nil)
			if err != nil {
				t.Fatal(err)
			}
			checkProgress(t, "second pass", p, tiered.WarmProgress{Keys: n, InL1: n})
			if srcA.calls.Load() != int64(calls) {
				t.Fatalf("the second pass called the source")
			}
			if u, err := b.Get(ctx, n-1); err != nil || u.ID != n-1 {
				t.Fatalf("Get after warming: %+v, %v", u, err)
			}
		})
	}
}

// Each key ends in one count, and SourceCalls counts the calls the loader
// got.
func TestWarm_Outcomes(t *testing.T) {
	t.Parallel()
	loaderOnly := func(o *tiered.Options[int64, User]) {
		src := o.BatchLoader.(*warmSource)
		o.BatchLoader = nil
		o.Loader = loader.Func[int64, User](func(ctx context.Context, id int64) (User, error) {
			m, err := src.LoadMany(ctx, []int64{id})
			if err == nil && len(m) == 0 {
				err = tiered.ErrNotFound
			}
			return m[id], err
		})
	}
	for _, tc := range []struct {
		name    string
		keys    iter.Seq[int64]
		src     *warmSource
		opt     func(*tiered.Options[int64, User])
		want    tiered.WarmProgress
		wantErr error
	}{
		{"not found", warmIDs(1000), &warmSource{missing: func(id int64) bool { return id%10 == 0 }}, nil,
			tiered.WarmProgress{Keys: 1000, Loaded: 900, NotFound: 100, SourceCalls: 10}, nil},
		{"a failing batch, the others load", warmIDs(1000), &warmSource{fail: func(id int64) bool { return id == 142 }}, nil,
			tiered.WarmProgress{Keys: 1000, Loaded: 900, Failed: 100, SourceCalls: 10}, errWarmSource},
		{"no loader: missing", warmIDs(1000), nil, nil,
			tiered.WarmProgress{Keys: 1000, Missing: 1000}, nil},
		{"Loader: one call per key", warmIDs(250), &warmSource{missing: func(id int64) bool { return id == 7 }}, loaderOnly,
			tiered.WarmProgress{Keys: 250, Loaded: 249, NotFound: 1, SourceCalls: 250}, nil},
		{"repeats in a batch warm once", slices.Values([]int64{1, 2, 1, 1, 3}), &warmSource{}, nil,
			tiered.WarmProgress{Keys: 5, Loaded: 3, SourceCalls: 1}, nil},
		{"nothing to warm", warmIDs(0), &warmSource{}, nil, tiered.WarmProgress{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newWarmCache(t, memstore.New(nil), tc.src, tc.opt)
			p, err := c.Warm(context.Background(), tc.keys, &tiered.WarmOptions{BatchSize: 100})
			checkProgress(t, "Warm", p, tc.want)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Warm: %v", err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("Warm: %v, want %v", err, tc.wantErr)
			case tc.wantErr != nil && !strings.Contains(err.Error(), fmt.Sprintf("%d of %d keys failed", tc.want.Failed, tc.want.Keys)):
				t.Fatalf("Warm: %q does not say how many keys failed", err)
			}
			if tc.src != nil && tc.src.calls.Load() != int64(tc.want.SourceCalls) {
				t.Fatalf("source called %d times, SourceCalls %d", tc.src.calls.Load(), tc.want.SourceCalls)
			}
		})
	}
}

// No more than Concurrency batches run at once, and that many do.
func TestWarm_Concurrency(t *testing.T) {
	t.Parallel()
	for _, conc := range []int{1, 3, 0} {
		want := conc
		if want == 0 {
			want = tiered.DefaultWarmConcurrency
		}
		t.Run(fmt.Sprint(conc), func(t *testing.T) {
			t.Parallel()
			// The first calls wait until want of them run at once.
			full := make(chan struct{})
			var once sync.Once
			src := &warmSource{}
			src.hook = func(ctx context.Context) {
				if src.inflight.Load() >= int64(want) {
					once.Do(func() { close(full) })
				}
				select {
				case <-full:
				case <-ctx.Done():
				}
			}
			c := newWarmCache(t, memstore.New(nil), src, nil)
			p, err := c.Warm(context.Background(), warmIDs(1000), &tiered.WarmOptions{BatchSize: 50, Concurrency: conc})
			if err != nil || p.Loaded != 1000 || p.SourceCalls != 20 {
				t.Fatalf("Warm: %+v, %v", p, err)
			}
			if most := src.most.Load(); most != int64(want) {
				t.Fatalf("at most %d source calls at once, want %d", most, want)
			}
		})
	}
}

// Progress gets the totals after each batch, one call at a time, growing;
// the last call gets what Warm returns.
func TestWarm_Progress(t *testing.T) {
	t.Parallel()
	var (
		calls []tiered.WarmProgress
		in    atomic.Int32
	)
	opts := &tiered.WarmOptions{BatchSize: 100, Concurrency: 4, Progress: func(p tiered.WarmProgress) {
		if in.Add(1) != 1 {
			t.Error("two Progress calls at once")
		}
		calls = append(calls, p)
		in.Add(-1)
	}}
	c := newWarmCache(t, memstore.New(nil), &warmSource{missing: func(id int64) bool { return id%3 == 0 }}, nil)
	p, err := c.Warm(context.Background(), warmIDs(1050), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 11 {
		t.Fatalf("%d Progress calls for 11 batches", len(calls))
	}
	for i := 1; i < len(calls); i++ {
		a, b := calls[i-1], calls[i]
		if b.Keys < a.Keys || b.Loaded < a.Loaded || b.NotFound < a.NotFound || b.SourceCalls < a.SourceCalls ||
			b.Elapsed < a.Elapsed || b.Loaded+b.NotFound <= a.Loaded+a.NotFound {
			t.Fatalf("call %d: %+v after %+v", i, b, a)
		}
	}
	if last := calls[len(calls)-1]; last != p {
		t.Fatalf("last Progress call %+v, Warm returned %+v", last, p)
	}
	checkProgress(t, "Warm", p, tiered.WarmProgress{Keys: 1050, Loaded: 700, NotFound: 350, SourceCalls: 11})
}

// When ctx ends, Warm stops taking keys from the sequence, waits for the
// batches running, and returns the totals with ctx's error.
func TestWarm_Cancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const before = 250 // two batches and half of one
	blocked := make(chan struct{})
	var afterCancel atomic.Int32
	keys := func(yield func(int64) bool) {
		for i := range int64(before) {
			if !yield(i) {
				t.Error("Warm stopped taking keys before ctx ended")
				return
			}
		}
		close(blocked)
		<-ctx.Done()
		for i := int64(before); i < 2*before; i++ {
			if !yield(i) {
				return
			}
			afterCancel.Add(1)
		}
	}
	batches := make(chan struct{}, 10)
	opts := &tiered.WarmOptions{BatchSize: 100, Progress: func(tiered.WarmProgress) { batches <- struct{}{} }}
	go func() {
		<-blocked
		<-batches // the two full batches are done
		<-batches
		cancel()
	}()
	c := newWarmCache(t, memstore.New(nil), &warmSource{}, nil)
	p, err := c.Warm(ctx, keys, opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Warm: %v, want context.Canceled", err)
	}
	if n := afterCancel.Load(); n != 0 {
		t.Fatalf("Warm took %d keys after ctx ended", n)
	}
	// The half batch was taken, never warmed.
	checkProgress(t, "Warm", p, tiered.WarmProgress{Keys: before, Loaded: 200, SourceCalls: 2})
}

// Close during Warm: the running batch's load ends, no other batch starts,
// and Warm returns ErrClosed; after Close, Warm returns ErrClosed at once.
func TestWarm_CloseDuring(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	var once sync.Once
	src := &warmSource{hook: func(ctx context.Context) {
		once.Do(func() { close(entered) })
		<-ctx.Done() // the load's context ends with Close
	}}
	c := newWarmCache(t, memstore.New(nil), src, nil)
	go func() {
		<-entered
		_ = c.Close()
	}()
	p, err := c.Warm(context.Background(), warmIDs(1000), &tiered.WarmOptions{BatchSize: 100, Concurrency: 1})
	if !errors.Is(err, tiered.ErrClosed) {
		t.Fatalf("Warm: %v, want ErrClosed", err)
	}
	if p.Failed != 100 || p.Loaded != 0 || p.SourceCalls != 1 || src.calls.Load() != 1 {
		t.Fatalf("Warm: %+v, %d source calls; want the first batch failed, no other", p, src.calls.Load())
	}
	if _, err := c.Warm(context.Background(), warmIDs(10), nil); !errors.Is(err, tiered.ErrClosed) {
		t.Fatalf("Warm after Close: %v", err)
	}
}

func TestWarm_InvalidOptions(t *testing.T) {
	t.Parallel()
	c := newWarmCache(t, memstore.New(nil), &warmSource{}, nil)
	for _, o := range []tiered.WarmOptions{{BatchSize: -1}, {Concurrency: -1}} {
		if _, err := c.Warm(context.Background(), warmIDs(10), &o); !errors.Is(err, tiered.ErrInvalidOptions) {
			t.Errorf("Warm(%+v): %v, want ErrInvalidOptions", o, err)
		}
	}
}
