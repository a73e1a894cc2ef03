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
