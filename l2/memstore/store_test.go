package memstore_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/l2test"
	"github.com/tiercache/tiercache/l2/memstore"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newStore(t *testing.T, clock *fakeClock) *memstore.Store {
	s := memstore.New(&memstore.Options{Now: clock.Now})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Run("FakeClock", func(t *testing.T) {
		clock := newFakeClock() // shared by the suite's stores, which Harness allows
		l2test.Run(t, l2test.Harness{
			New:     func(t *testing.T) l2.Store { return newStore(t, clock) },
			Advance: func(_ *testing.T, d time.Duration) { clock.Advance(d) },
		})
	})
	t.Run("RealClock", func(t *testing.T) {
		l2test.Run(t, l2test.Harness{
			New: func(t *testing.T) l2.Store {
				s := memstore.New(nil)
				t.Cleanup(func() { _ = s.Close() })
				return s
			},
		})
	})
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := newStore(t, clock)
	ctx := t.Context()
	if err := s.Set(ctx, "k", []byte("v"), time.Second); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second - time.Nanosecond)
	if _, err := s.Get(ctx, "k"); err != nil {
		t.Fatalf("Get 1ns before expiry: %v", err)
	}
	if n := s.Len(); n != 1 {
		t.Errorf("Len = %d, want 1", n)
	}
	clock.Advance(time.Nanosecond)
	if _, err := s.Get(ctx, "k"); !errors.Is(err, l2.ErrMiss) {
		t.Fatalf("Get at expiry: %v, want ErrMiss", err)
	}
	if n := s.Len(); n != 0 {
		t.Errorf("Len after expiry = %d, want 0", n)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	s := memstore.New(nil)
	ctx := t.Context()
	if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	checkAll(t, s, l2.ErrClosed)
	if n := s.Len(); n != 0 {
		t.Errorf("Len after Close = %d", n)
	}
}

// checkAll checks that every operation fails with an error wrapping want,
// or succeeds when want is nil.
func checkAll(t *testing.T, s *memstore.Store, want error) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Get(ctx, "k"); !errors.Is(err, want) {
		t.Errorf("Get: %v, want %v", err, want)
	}
	if _, err := s.GetMany(ctx, []string{"k"}); !errors.Is(err, want) {
		t.Errorf("GetMany: %v, want %v", err, want)
	}
	if err := s.Set(ctx, "k", nil, time.Minute); !errors.Is(err, want) {
		t.Errorf("Set: %v, want %v", err, want)
	}
	if err := s.SetMany(ctx, []l2.Item{{Key: "k", TTL: time.Minute}}); !errors.Is(err, want) {
		t.Errorf("SetMany: %v, want %v", err, want)
	}
	if err := s.Delete(ctx, "k"); !errors.Is(err, want) {
		t.Errorf("Delete: %v, want %v", err, want)
	}
	checkOptional(ctx, t, s, want)
}

// checkOptional checks that every operation of the optional interfaces
// fails with an error wrapping want (nil: succeeds).
func checkOptional(ctx context.Context, t *testing.T, s *memstore.Store, want error) {
	t.Helper()
	items := []l2.CondItem{{Item: l2.Item{Key: "k", Value: []byte("v"), TTL: time.Minute}}}
	if _, err := s.SetIf(ctx, items[0]); !errors.Is(err, want) {
		t.Errorf("SetIf: %v, want %v", err, want)
	}
	if _, err := s.SetManyIf(ctx, items); !errors.Is(err, want) {
		t.Errorf("SetManyIf: %v, want %v", err, want)
	}
	token := l2.NewToken()
	if _, err := s.Lease(ctx, token, time.Minute, []l2.Expect{{Key: "k"}}); !errors.Is(err, want) {
		t.Errorf("Lease: %v, want %v", err, want)
	}
	if _, err := s.SetLeased(ctx, token, items); !errors.Is(err, want) {
		t.Errorf("SetLeased: %v, want %v", err, want)
	}
	if _, err := s.Release(ctx, token, "k"); !errors.Is(err, want) {
		t.Errorf("Release: %v, want %v", err, want)
	}
	if err := s.Revoke(ctx, []l2.Item{items[0].Item}); !errors.Is(err, want) {
		t.Errorf("Revoke: %v, want %v", err, want)
	}
	if err := s.Tag(ctx, []string{"t"}, []string{"k"}, time.Minute); !errors.Is(err, want) {
		t.Errorf("Tag: %v, want %v", err, want)
	}
	if _, err := s.PopTagged(ctx, "t", 1); !errors.Is(err, want) {
		t.Errorf("PopTagged: %v, want %v", err, want)
	}
	if err := s.DeletePrefix(ctx, "", 1, nil); !errors.Is(err, want) {
		t.Errorf("DeletePrefix: %v, want %v", err, want)
	}
	if _, err := s.Stage(ctx, []l2.StageItem{{Key: "k", Value: []byte("v")}}); !errors.Is(err, want) {
		t.Errorf("Stage: %v, want %v", err, want)
	}
	if _, err := s.Claim(ctx, token, time.Minute, []string{"k"}); !errors.Is(err, want) {
		t.Errorf("Claim: %v, want %v", err, want)
	}
	if err := s.Unstage(ctx, token, []l2.UnstageItem{{Key: "k", TTL: time.Minute}}); !errors.Is(err, want) {
		t.Errorf("Unstage: %v, want %v", err, want)
	}
}

func TestFailWith(t *testing.T) {
	t.Parallel()
	s := newStore(t, newFakeClock())
	ctx := t.Context()
	if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	s.FailWith(boom)
	checkAll(t, s, boom)

	s.FailWith(nil)
	v, err := s.Get(ctx, "k")
	if err != nil || string(v) != "v" {
		t.Fatalf("Get after FailWith(nil) = %q, %v; want the value written before the fault", v, err)
	}
}

// FailWhen fails only the operations its function fails, and names each
// operation as documented.
func TestFailWhen(t *testing.T) {
	t.Parallel()
	s := newStore(t, newFakeClock())
	ctx := t.Context()
	boom := errors.New("boom")
	s.FailWhen(func(op string) error {
		if op == "set" {
			return boom
		}
		return nil
	})
	if err := s.Set(ctx, "k", []byte("v"), time.Minute); !errors.Is(err, boom) {
		t.Errorf("Set: %v, want boom", err)
	}
	if err := s.SetMany(ctx, []l2.Item{{Key: "k", Value: []byte("v"), TTL: time.Minute}}); err != nil {
		t.Errorf("SetMany: %v, want no error", err)
	}

	var mu sync.Mutex
	var ops []string
	s.FailWhen(func(op string) error {
		mu.Lock()
		defer mu.Unlock()
		ops = append(ops, op)
		return nil
	})
	checkAll(t, s, nil)
	want := []string{
		"get", "getmany", "set", "setmany", "delete", "setif", "setmanyif",
		"lease", "setleased", "release", "revoke", "tag", "poptagged", "deleteprefix",
		"stage", "claim", "unstage",
	}
	mu.Lock()
	if !slices.Equal(ops, want) {
		t.Errorf("FailWhen saw %q, want %q", ops, want)
	}
	mu.Unlock()

	s.FailWhen(nil)
	if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Errorf("Set after FailWhen(nil): %v", err)
	}
}

func TestAbilities(t *testing.T) {
	t.Parallel()
	s := newStore(t, newFakeClock())
	for _, st := range []l2.Store{s, s.Namespace("ns"), s.Namespace("a").(l2.Namespacer).Namespace("b")} {
		if a, err := l2.Check(st); a != l2.All || err != nil {
			t.Errorf("l2.Check(%T) = %v, %v; want %v", st, a, err, l2.All)
		}
	}
}

func TestSetDelay(t *testing.T) {
	t.Parallel()
	s := newStore(t, newFakeClock())
	s.SetDelay(time.Hour)

	// The delay ends with the context; the operation does not run.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Set(ctx, "k", []byte("v"), time.Minute) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Set during delay, ctx canceled: %v, want context.Canceled", err)
	}

	dctx, dcancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer dcancel()
	if _, err := s.Get(dctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get during delay, deadline: %v, want context.DeadlineExceeded", err)
	}

	s.SetDelay(0)
	if _, err := s.Get(t.Context(), "k"); !errors.Is(err, l2.ErrMiss) {
		t.Fatalf("Get without delay: %v, want ErrMiss (the canceled Set must not have written)", err)
	}
}

func TestSetDelayThenFault(t *testing.T) {
	t.Parallel()
	s := newStore(t, newFakeClock())
	s.SetDelay(time.Millisecond)
	boom := errors.New("boom")
	s.FailWith(boom)
	if _, err := s.Get(t.Context(), "k"); !errors.Is(err, boom) {
		t.Fatalf("Get: %v, want boom after the delay", err)
	}
}

func TestCanceledContextIsCanceled(t *testing.T) {
	t.Parallel()
	s := newStore(t, newFakeClock())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get: %v, want context.Canceled", err)
	}
	if _, err := s.GetMany(ctx, []string{"k"}); !errors.Is(err, context.Canceled) {
		t.Errorf("GetMany: %v, want context.Canceled", err)
	}
	if err := s.Set(ctx, "k", nil, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("Set: %v, want context.Canceled", err)
	}
	if err := s.SetMany(ctx, []l2.Item{{Key: "k", TTL: time.Minute}}); !errors.Is(err, context.Canceled) {
		t.Errorf("SetMany: %v, want context.Canceled", err)
	}
	if err := s.Delete(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete: %v, want context.Canceled", err)
	}
	checkOptional(ctx, t, s, context.Canceled)
}

func TestAllocs(t *testing.T) {
	s := newStore(t, newFakeClock())
	ctx := context.Background()
	if err := s.Set(ctx, "hit", []byte("some value"), time.Minute); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  string
		want float64
	}{
		{"Hit", "hit", 1}, // the returned copy
		{"Miss", "miss", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := testing.AllocsPerRun(1000, func() { _, _ = s.Get(ctx, tc.key) })
			if got != tc.want {
				t.Errorf("Get allocates %v times, want %v", got, tc.want)
			}
		})
	}
}

func BenchmarkStore_Get(b *testing.B) {
	s := memstore.New(nil)
	defer func() { _ = s.Close() }()
	ctx := context.Background()
	if err := s.Set(ctx, "k", make([]byte, 128), time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Get(ctx, "k"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestTagExpiry(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := newStore(t, clock)
	ctx := t.Context()
	if err := s.Tag(ctx, []string{"t"}, []string{"old"}, time.Second); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if keys, err := s.PopTagged(ctx, "t", 10); err != nil || len(keys) != 0 {
		t.Fatalf("PopTagged of an expired index = %q, %v; want none", keys, err)
	}
	if err := s.Tag(ctx, []string{"t"}, []string{"old"}, time.Second); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	// Tag revives an expired index empty, with the new TTL.
	if err := s.Tag(ctx, []string{"t"}, []string{"new"}, time.Second); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second - time.Nanosecond)
	if keys, err := s.PopTagged(ctx, "t", 10); err != nil || len(keys) != 1 || keys[0] != "new" {
		t.Fatalf("PopTagged = %q, %v; want [new]", keys, err)
	}
}

// A value expired before DeletePrefix is dropped but not reported.
func TestDeletePrefixExpired(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s := newStore(t, clock)
	ctx := t.Context()
	if err := s.Set(ctx, "p:short", []byte("v"), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "p:long", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	var got []string
	err := s.DeletePrefix(ctx, "p:", 10, func(keys []string) error {
		got = append(got, keys...)
		return nil
	})
	if err != nil || len(got) != 1 || got[0] != "p:long" {
		t.Errorf("DeletePrefix = %q, %v; want [p:long]", got, err)
	}
	if n := s.Len(); n != 0 {
		t.Errorf("Len = %d after DeletePrefix, want 0", n)
	}
}
