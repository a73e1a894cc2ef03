package l1_test

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"go.uber.org/goleak"

	"github.com/tiercache/tiercache/l1"
	"github.com/tiercache/tiercache/l1/l1test"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newRistretto(t testing.TB, opts l1.Options) *l1.Ristretto {
	t.Helper()
	s, err := l1.NewRistretto(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestRistrettoConformance(t *testing.T) {
	l1test.Run(t, func(t *testing.T) l1.Store { return newRistretto(t, l1.Options{MaxCost: 1 << 20}) })
}

func TestRistrettoInvalidOptions(t *testing.T) {
	for _, o := range []l1.Options{{MaxCost: -1}, {AverageCost: -5}} {
		if _, err := l1.NewRistretto(o); !errors.Is(err, l1.ErrInvalidOptions) {
			t.Errorf("NewRistretto(%+v) err = %v, want ErrInvalidOptions", o, err)
		}
	}
}

// TestRistrettoCostBound fills far more than MaxCost and checks that the
// stored cost stays bounded.
func TestRistrettoCostBound(t *testing.T) {
	s := newRistretto(t, l1.Options{MaxCost: 10_000, AverageCost: 100})
	for i := range 2000 {
		s.Set(strconv.Itoa(i), i, 100, 0)
		s.Wait()
	}
	held := 0
	for i := range 2000 {
		if _, ok := s.Get(strconv.Itoa(i)); ok {
			held++
		}
	}
	if held == 0 || held > 100 {
		t.Fatalf("holds %d entries of cost 100 under MaxCost 10000", held)
	}
}

// TestRistrettoCloseWhileBusy closes the store under concurrent use: no
// panic (ristretto's own Close is not safe for that).
func TestRistrettoCloseWhileBusy(t *testing.T) {
	s, err := l1.NewRistretto(l1.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := strconv.Itoa(g*1000 + i%100)
				s.Set(k, i, 1, time.Minute)
				s.Get(k)
				if i%10 == 0 {
					s.Wait()
					s.Delete(k)
				}
				if i > 20_000 {
					return
				}
			}
		}()
	}
	s.Close()
	close(stop)
	wg.Wait()
}

func BenchmarkRistretto_Get(b *testing.B) {
	const n = 1024
	keys := make([]string, n)
	raw, err := ristretto.NewCache(&ristretto.Config[string, any]{
		NumCounters: 1e5, MaxCost: 1 << 20, BufferItems: 64, IgnoreInternalCost: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	s := newRistretto(b, l1.Options{MaxCost: 1 << 20})
	for i := range keys {
		keys[i] = "key:" + strconv.Itoa(i)
		raw.Set(keys[i], i, 1)
		s.Set(keys[i], i, 1, 0)
	}
	raw.Wait()
	s.Wait()
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			raw.Get(keys[i%n])
		}
	})
	b.Run("store", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			s.Get(keys[i%n])
		}
	})
	b.Run("raw/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				raw.Get(keys[i%n])
			}
		})
	})
	b.Run("store/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				s.Get(keys[i%n])
			}
		})
	})
}

// TestRistrettoUsage checks what Usage reports: entries (with Metrics),
// cost, evictions for room, and that Delete and Clear are not evictions.
func TestRistrettoUsage(t *testing.T) {
	for _, metrics := range []bool{false, true} {
		t.Run(strconv.FormatBool(metrics), func(t *testing.T) {
			s := newRistretto(t, l1.Options{MaxCost: 10_000, AverageCost: 100, Metrics: metrics})
			for i := range 50 {
				s.Set(strconv.Itoa(i), i, 100, 0)
				s.Wait()
			}
			u := s.Usage()
			if u.MaxCost != 10_000 || u.Cost != 5000 || u.Evictions != 0 {
				t.Fatalf("after 50 Sets of cost 100: %+v", u)
			}
			if want := map[bool]int64{false: -1, true: 50}[metrics]; u.Entries != want {
				t.Fatalf("Entries = %d, want %d", u.Entries, want)
			}
			s.Delete("0")
			s.Wait()
			if u := s.Usage(); u.Cost != 4900 || u.Evictions != 0 || (metrics && u.Entries != 49) {
				t.Fatalf("after a Delete: %+v", u)
			}
			for i := 50; i < 2000; i++ {
				s.Set(strconv.Itoa(i), i, 100, 0)
				s.Wait()
			}
			u = s.Usage()
			if u.Cost > u.MaxCost || u.Evictions+u.Rejections != 1999-u.Cost/100 {
				t.Fatalf("1999 keys held or dropped, capacity 100 entries: %+v", u)
			}
			if metrics && u.Entries != u.Cost/100 {
				t.Fatalf("Entries %d for cost %d", u.Entries, u.Cost)
			}
			before := u.Evictions
			s.Clear()
			if u := s.Usage(); u.Evictions != before || u.Cost != 0 || (metrics && u.Entries != 0) {
				t.Fatalf("after Clear: %+v (evictions before %d)", u, before)
			}
		})
	}
}

func newOtter(t testing.TB, opts l1.Options) *l1.Otter {
	t.Helper()
	s, err := l1.NewOtter(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestOtterConformance(t *testing.T) {
	l1test.Run(t, func(t *testing.T) l1.Store { return newOtter(t, l1.Options{MaxCost: 1 << 20}) })
}

// TestOtterUsage checks what Usage reports, and that a Set is visible at
// once (no Wait) and bounded by MaxCost.
func TestOtterUsage(t *testing.T) {
	s := newOtter(t, l1.Options{MaxCost: 10_000})
	for i := range 50 {
		if !s.Set(strconv.Itoa(i), i, 100, 0) {
			t.Fatalf("Set %d refused", i)
		}
		if _, ok := s.Get(strconv.Itoa(i)); !ok {
			t.Fatalf("Get %d right after its Set missed", i)
		}
	}
	if u := s.Usage(); u.Entries != 50 || u.Cost != 5000 || u.MaxCost != 10_000 || u.Evictions != 0 {
		t.Fatalf("after 50 Sets of cost 100: %+v", u)
	}
	if s.Set("huge", 1, 10_001, 0) {
		t.Fatal("a cost above MaxCost was taken")
	}
	for i := 50; i < 2000; i++ {
		s.Set(strconv.Itoa(i), i, 100, 0)
	}
	s.Wait()
	u := s.Usage()
	if u.Cost > u.MaxCost || u.Entries != u.Cost/100 || u.Evictions != 2000-u.Entries {
		t.Fatalf("2000 keys held or evicted, capacity 100 entries: %+v", u)
	}
}

func TestOtterInvalidOptions(t *testing.T) {
	for _, o := range []l1.Options{{MaxCost: -1}, {AverageCost: -5}, {ClockResolution: -time.Second}} {
		if _, err := l1.NewOtter(o); !errors.Is(err, l1.ErrInvalidOptions) {
			t.Errorf("NewOtter(%+v) err = %v, want ErrInvalidOptions", o, err)
		}
	}
}
