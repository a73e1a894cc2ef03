package loader_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tiercache/tiercache/loader"
)

// Start runs one call per key: a second Start of a key while its call runs
// starts nothing, whatever its fn; once the call ended, Start starts a new
// one.
func TestGroupStartOncePerKey(t *testing.T) {
	t.Parallel()
	var g loader.Group[string, int]
	release := make(chan struct{})
	var first, second atomic.Int32
	if !g.Start("k", func() (int, error) { first.Add(1); <-release; return 1, nil }) {
		t.Fatal("the first Start of a key did not start")
	}
	if !g.InFlight("k") {
		t.Fatal("no call in flight after Start")
	}
	const n = 100
	var started atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if g.Start("k", func() (int, error) { second.Add(1); return 2, nil }) {
				started.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := started.Load(); got != 0 {
		t.Fatalf("%d Starts of a running key started a call, want 0", got)
	}
	// Another key is independent.
	other := make(chan struct{})
	if !g.Start("other", func() (int, error) { close(other); return 0, nil }) {
		t.Fatal("Start of another key did not start")
	}
	<-other
	close(release)
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if first.Load() != 1 || second.Load() != 0 {
		t.Fatalf("fn calls: first %d, second %d; want 1 and 0", first.Load(), second.Load())
	}
	if g.InFlight("k") {
		t.Fatal("call still in flight after Wait")
	}
	if !g.Start("k", func() (int, error) { second.Add(1); return 2, nil }) {
		t.Fatal("Start after the call ended did not start")
	}
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if second.Load() != 1 {
		t.Fatalf("second fn ran %d times, want 1", second.Load())
	}
}

// A Start while a Do of the key runs starts nothing.
func TestGroupStartWhileDoRuns(t *testing.T) {
	t.Parallel()
	var g loader.Group[string, int]
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := make(chan int, 1)
	go func() {
		v, _, _ := g.Do(ctx, "k", func() (int, error) { <-release; return 1, nil })
		res <- v
	}()
	waitFor(t, func() bool { return g.InFlight("k") })
	if g.Start("k", func() (int, error) { t.Error("Start ran fn while Do's call runs"); return 2, nil }) {
		t.Fatal("Start started a call while Do's runs")
	}
	close(release)
	if v := <-res; v != 1 {
		t.Fatalf("Do got %d, want 1", v)
	}
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Do joins a started call and gets its result, whether its context can end
// or not; Wait waits for the call.
func TestGroupDoJoinsStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		cancellable bool
	}{
		{"background ctx", false},
		{"cancellable ctx", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var g loader.Group[string, int]
			release := make(chan struct{})
			var done atomic.Bool
			boom := errors.New("boom")
			if !g.Start("k", func() (int, error) {
				<-release
				done.Store(true)
				return 42, boom
			}) {
				t.Fatal("Start did not start")
			}
			const n = 20
			type result struct {
				v      int
				err    error
				shared bool
			}
			results := make(chan result, n)
			for range n {
				go func() {
					ctx := context.Background()
					if tc.cancellable {
						var cancel context.CancelFunc
						ctx, cancel = context.WithCancel(ctx)
						defer cancel()
					}
					v, err, shared := g.Do(ctx, "k", func() (int, error) {
						t.Error("Do ran its own fn while a started call runs")
						return 0, nil
					})
					results <- result{v, err, shared}
				}()
			}
			waitFor(t, func() bool { return g.Waiters("k") == n })
			// Wait does not return while the started call runs.
			short, stop := context.WithCancel(context.Background())
			stop()
			if err := g.Wait(short); !errors.Is(err, context.Canceled) {
				t.Fatalf("Wait with an ended ctx while a call runs: %v, want context.Canceled", err)
			}
			close(release)
			if err := g.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !done.Load() {
				t.Fatal("Wait returned before the started call ended")
			}
			for range n {
				r := <-results
				if r.v != 42 || !errors.Is(r.err, boom) || !r.shared {
					t.Fatalf("joiner got %d, %v, shared %v; want 42, boom, true", r.v, r.err, r.shared)
				}
			}
		})
	}
}

// A joiner whose context ends stops waiting; the started call goes on for
// the others.
func TestGroupStartJoinerCancelled(t *testing.T) {
	t.Parallel()
	var g loader.Group[string, int]
	release := make(chan struct{})
	g.Start("k", func() (int, error) { <-release; return 7, nil })
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		_, err, _ := g.Do(ctx, "k", func() (int, error) { return 0, nil })
		res <- err
	}()
	waitFor(t, func() bool { return g.Waiters("k") == 1 })
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled joiner: %v, want context.Canceled", err)
	}
	if !g.InFlight("k") {
		t.Fatal("the started call ended with its joiner")
	}
	close(release)
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A panic or Goexit in a started fn reaches the joiners as an error and
// does not crash the process, joiners or not; the group works afterwards.
func TestGroupStartPanic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		joiners int
		fn      func() (int, error)
		check   func(t *testing.T, err error)
	}{
		{"panic", 10, func() (int, error) { panic("boom") }, func(t *testing.T, err error) {
			var pe *loader.PanicError
			if !errors.As(err, &pe) || pe.Value != "boom" || !errors.Is(err, loader.ErrPanicked) || len(pe.Stack) == 0 {
				t.Fatalf("err = %v, want a PanicError(boom) with its stack", err)
			}
		}},
		{"panic without joiners", 0, func() (int, error) { panic("boom") }, nil},
		{"goexit", 10, func() (int, error) { runtime.Goexit(); return 0, nil }, func(t *testing.T, err error) {
			if !errors.Is(err, loader.ErrGoexit) {
				t.Fatalf("err = %v, want ErrGoexit", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var g loader.Group[int, int]
			release := make(chan struct{})
			g.Start(1, func() (int, error) {
				<-release
				return tc.fn()
			})
			errs := make(chan error, tc.joiners)
			for range tc.joiners {
				go func() {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					_, err, _ := g.Do(ctx, 1, func() (int, error) { return 0, nil })
					errs <- err
				}()
			}
			waitFor(t, func() bool { return g.Waiters(1) == tc.joiners })
			close(release)
			for range tc.joiners {
				tc.check(t, <-errs)
			}
			if err := g.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			v, err, _ := g.Do(context.Background(), 1, func() (int, error) { return 3, nil })
			if err != nil || v != 3 {
				t.Fatalf("after the started call: %d, %v", v, err)
			}
		})
	}
}
