package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/internal/hotlist"
)

// seededRand returns an Options.Rand from a fixed seed, safe for
// concurrent use.
func seededRand(seed uint64) func() float64 {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed, seed))
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		return r.Float64()
	}
}

// alwaysSample is an Options.Rand under which every read is recorded.
func alwaysSample() float64 { return 0 }

// readZipf reads n Zipf-distributed keys of [0, 1000) from c, half with
// Get and half with GetMany in tens: key 0 the most, then 1, then 2...
func readZipf(t *testing.T, c *tiered.Cache[int64, User], n int) {
	t.Helper()
	ctx := context.Background()
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.2, 1, 999)
	batch := make([]int64, 0, 10)
	for i := range n {
		key := int64(z.Uint64())
		if i%2 == 0 {
			if _, err := c.Get(ctx, key); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if batch = append(batch, key); len(batch) == cap(batch) {
			if _, err := c.GetMany(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// Zipf-distributed reads, sampled: the most read keys come out first.
func TestHotKeys_ZipfTopFirst(t *testing.T) {
	t.Parallel()
	c := newWarmCache(t, memstore.New(nil), &warmSource{}, func(o *tiered.Options[int64, User]) {
		o.HotKeys, o.Rand = 10, seededRand(7)
	})
	readZipf(t, c, 64_000) // about 2,000 reads recorded
	hot, err := c.HotKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(hot) != 10 || !slices.Equal(hot[:3], []int64{0, 1, 2}) {
		t.Fatalf("HotKeys = %v, want 10 keys starting with 0 1 2", hot)
	}
}

// An instance saves its list; a new instance of the same Name reads it
// back, and warms those keys from L2 without calling the source.
func TestHotKeys_SaveThenWarmHot(t *testing.T) {
	t.Parallel()
	for _, st := range warmStores(t) {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			store := st.shared(t)
			a := newWarmCache(t, store(), &warmSource{}, func(o *tiered.Options[int64, User]) {
				o.HotKeys, o.Rand = 5, seededRand(7)
			})
			readZipf(t, a, 16_000)
			if err := a.SaveHotKeys(ctx); err != nil {
				t.Fatal(err)
			}
			want, err := a.HotKeys(ctx)
			if err != nil || len(want) != 5 || want[0] != 0 {
				t.Fatalf("a.HotKeys = %v, %v", want, err)
			}

			src := &warmSource{}
			b := newWarmCache(t, store(), src, nil) // records nothing itself
			got, err := b.HotKeys(ctx)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("b.HotKeys = %v, %v; want %v", got, err, want)
			}
			p, err := b.WarmHot(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkProgress(t, "WarmHot", p, tiered.WarmProgress{Keys: 5, FromL2: 5})
			if src.calls.Load() != 0 {
				t.Fatalf("WarmHot called the source %d times", src.calls.Load())
			}
		})
	}
}

// Close saves the list (a new instance reads it back) and leaves no
// goroutine behind.
func TestHotKeys_CloseSaves(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	m := memstore.New(nil)
	defer func() { _ = m.Close() }()
	a := newWarmCache(t, m, &warmSource{}, func(o *tiered.Options[int64, User]) {
		o.HotKeys, o.Rand = 3, alwaysSample
	})
	for _, key := range []int64{9, 9, 9, 4, 4, 1} {
		if _, err := a.Get(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.HotKeys(ctx); !errors.Is(err, tiered.ErrClosed) {
		t.Fatalf("HotKeys after Close: %v", err)
	}
	if err := a.SaveHotKeys(ctx); !errors.Is(err, tiered.ErrClosed) {
		t.Fatalf("SaveHotKeys after Close: %v", err)
	}
	b := newWarmCache(t, m, &warmSource{}, nil)
	if got, err := b.HotKeys(ctx); err != nil || !slices.Equal(got, []int64{9, 4, 1}) {
		t.Fatalf("HotKeys after the first instance closed: %v, %v; want [9 4 1]", got, err)
	}
	_ = b.Close()
}

// The list is saved every DefaultHotKeysSaveInterval (in simulated time),
// and an instance that read nothing saves nothing.
func TestHotKeys_SavedEveryInterval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := memstore.New(&memstore.Options{Now: time.Now})
		defer func() { _ = m.Close() }()
		saved := func() string {
			b, err := m.Namespace("warm|hot").Get(ctx, "list")
			if err != nil {
				return err.Error()
			}
			list, err := hotlist.Decode(b, tiered.MaxKeySize)
			if err != nil {
				return err.Error()
			}
			return fmt.Sprint(list)
		}
		c := newWarmCache(t, m, &warmSource{}, func(o *tiered.Options[int64, User]) {
			o.HotKeys, o.Rand, o.Now = 3, alwaysSample, time.Now
		})
		defer func() { _ = c.Close() }()
		<-time.After(tiered.DefaultHotKeysSaveInterval + time.Second)
		synctest.Wait()
		if got := saved(); got != "l2: miss" {
			t.Fatalf("saved with nothing read: %s", got)
		}
		if _, err := c.Get(ctx, 5); err != nil {
			t.Fatal(err)
		}
		<-time.After(tiered.DefaultHotKeysSaveInterval)
		synctest.Wait()
		if got := saved(); got != "[{5 1}]" {
			t.Fatalf("saved list: %s, want [{5 1}]", got)
		}
	})
}

// Bytes under the list's key that do not decode are no list (logged), and
// keys that ParseKey refuses are skipped (logged).
func TestHotKeys_CorruptList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		bytes []byte
		want  []int64
		log   string
	}{
		{"empty", []byte{}, []int64{3}, "does not decode"},
		{"another version", []byte{9, 0}, []int64{3}, "does not decode"},
		{"truncated", hotlist.Encode([]hotlist.Entry{{Key: "12345", Count: 2}})[:5], []int64{3}, "does not decode"},
		{"a count past the end", []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f}, []int64{3}, "does not decode"},
		{"a key of another type", hotlist.Encode([]hotlist.Entry{{Key: "x", Count: 3}, {Key: "8", Count: 1}}), []int64{8}, "ParseKey refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			m := memstore.New(nil)
			if err := m.Namespace("warm|hot").Set(ctx, "list", tc.bytes, time.Hour); err != nil {
				t.Fatal(err)
			}
			logs := &logRecorder{}
			c := newWarmCache(t, m, &warmSource{}, func(o *tiered.Options[int64, User]) {
				o.HotKeys, o.Rand, o.Logger = 3, alwaysSample, slog.New(logs)
			})
			if _, err := c.Get(ctx, 3); err != nil {
				t.Fatal(err)
			}
			got, err := c.HotKeys(ctx)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("HotKeys = %v, %v; want %v", got, err, tc.want)
			}
			if logs.find(tc.log, "cache=warm") == "" {
				t.Fatalf("no log line with %q: %q", tc.log, logs.lines)
			}
		})
	}
}

type point struct{ X, Y int }

func pointKey(p point) string { return strconv.Itoa(p.X) + "," + strconv.Itoa(p.Y) }

func parsePoint(s string) (point, error) {
	xs, ys, ok := strings.Cut(s, ",")
	x, err1 := strconv.Atoi(xs)
	y, err2 := strconv.Atoi(ys)
	if !ok || err1 != nil || err2 != nil {
		return point{}, fmt.Errorf("not a point: %q", s)
	}
	return point{x, y}, nil
}

// HotKeys needs a ParseKey for a custom Key or key type; write-behind's
// ParseKey falls back to Options.ParseKey.
func TestHotKeys_ParseKeyOptions(t *testing.T) {
	t.Parallel()
	q := memstore.NewQueueBackend(nil).Queue("user", "c")
	src := newRowSource()
	for _, tc := range []struct {
		name  string
		new   func() (interface{ Close() error }, error)
		valid bool
	}{
		{"struct key without ParseKey", func() (interface{ Close() error }, error) {
			return tiered.New(&tiered.Options[point, int]{Name: "p", Key: pointKey, HotKeys: 3})
		}, false},
		{"struct key with ParseKey", func() (interface{ Close() error }, error) {
			return tiered.New(&tiered.Options[point, int]{Name: "p", Key: pointKey, ParseKey: parsePoint, HotKeys: 3})
		}, true},
		{"struct key, HotKeys off", func() (interface{ Close() error }, error) {
			return tiered.New(&tiered.Options[point, int]{Name: "p", Key: pointKey})
		}, true},
		{"custom Key of an integer without ParseKey", func() (interface{ Close() error }, error) {
			return tiered.New(&tiered.Options[int64, int]{Name: "i", Key: func(i int64) string { return fmt.Sprint("u", i) }, HotKeys: 3})
		}, false},
		{"negative HotKeys", func() (interface{ Close() error }, error) {
			return tiered.New(&tiered.Options[int64, int]{Name: "i", HotKeys: -1})
		}, false},
		{"durable write-behind takes Options.ParseKey", func() (interface{ Close() error }, error) {
			return tiered.New(&tiered.Options[int64, User]{
				Name: "user", L2: memstore.New(nil), Loader: src, BatchWriter: src,
				Key:         func(id int64) string { return fmt.Sprint("u", id) },
				ParseKey:    func(s string) (int64, error) { return strconv.ParseInt(strings.TrimPrefix(s, "u"), 10, 64) },
				WriteBehind: &tiered.WriteBehindOptions[int64, User]{Queue: q},
			})
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := tc.new()
			if err == nil {
				_ = c.Close()
			}
			if tc.valid && err != nil || !tc.valid && !errors.Is(err, tiered.ErrInvalidOptions) {
				t.Fatalf("New: %v (valid: %v)", err, tc.valid)
			}
		})
	}

	// A struct key goes out and comes back through Key and ParseKey.
	c, err := tiered.New(&tiered.Options[point, int]{
		Name: "p", Key: pointKey, ParseKey: parsePoint, HotKeys: 3, Rand: alwaysSample,
		Loader: loader.Func[point, int](func(_ context.Context, p point) (int, error) { return p.X * p.Y, nil }),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ctx := context.Background()
	if _, err := c.GetMany(ctx, []point{{1, 2}, {3, 4}, {3, 4}}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.HotKeys(ctx); err != nil || !slices.Equal(got, []point{{3, 4}, {1, 2}}) {
		t.Fatalf("HotKeys = %v, %v; want [{3 4} {1 2}]", got, err)
	}
}

// With HotKeys on, an L1 hit allocates nothing either, even when it is
// recorded (every read is, here), once its key is counted.
func TestHotKeys_L1HitDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	for _, rnd := range []func() float64{alwaysSample, seededRand(3)} {
		c := newWarmCache(t, memstore.New(nil), nil, func(o *tiered.Options[int64, User]) {
			o.HotKeys, o.Rand = 10, rnd
		})
		if err := c.Set(ctx, 1, user(1)); err != nil {
			t.Fatal(err)
		}
		_, _ = c.Get(ctx, 1) // counts the key
		if a := testing.AllocsPerRun(1000, func() { _, _ = c.Get(ctx, 1) }); a != 0 {
			t.Fatalf("L1 hit with HotKeys: %v allocs, want 0", a)
		}
	}
}
