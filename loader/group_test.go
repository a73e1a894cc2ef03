package loader_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/loader"
)

// TestGroupExactlyOnce holds the load until every caller has joined it, so
// the count of calls must be exactly one, whether the first caller runs the
// load inline (its ctx cannot end) or on a goroutine of its own.
func TestGroupExactlyOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		cancellable bool
	}{
		{"inline", false},
		{"detached", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var g loader.Group[string, int]
			var calls atomic.Int32
			const n = 1000
			release := make(chan struct{})
			var wg sync.WaitGroup
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := context.Background()
					if tc.cancellable {
						var cancel context.CancelFunc
						ctx, cancel = context.WithCancel(ctx)
						defer cancel()
					}
					v, err, _ := g.Do(ctx, "k", func() (int, error) {
						calls.Add(1)
						<-release
						return 1, nil
					})
					if err != nil || v != 1 {
						t.Errorf("got %d, %v", v, err)
					}
				}()
			}
			// The call stays open until release, so every caller joins it.
			waitFor(t, func() bool { return g.Waiters("k") == n-1 })
			close(release)
			wg.Wait()
			if got := calls.Load(); got != 1 {
				t.Fatalf("loader calls = %d, want 1", got)
			}
		})
	}
}

func TestGroupPanicReachesEveryWaiter(t *testing.T) {
	t.Parallel()
	var g loader.Group[int, string]
	release := make(chan struct{})
	const n = 50
	errs := make(chan error, n)
	for range n {
		go func() {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err, _ := g.Do(ctx, 1, func() (string, error) {
				<-release
				panic("boom")
			})
			errs <- err
		}()
	}
	waitFor(t, func() bool { return g.Waiters(1) == n-1 })
	close(release)
	for range n {
		err := <-errs
		var pe *loader.PanicError
		if !errors.As(err, &pe) || pe.Value != "boom" || !errors.Is(err, loader.ErrPanicked) {
			t.Fatalf("err = %v, want a PanicError(boom)", err)
		}
		if len(pe.Stack) == 0 {
			t.Fatal("PanicError without stack")
		}
	}
	// The group still works afterwards.
	v, err, _ := g.Do(context.Background(), 1, func() (string, error) { return "ok", nil })
	if err != nil || v != "ok" {
		t.Fatalf("after panic: %q, %v", v, err)
	}
}

func TestGroupPanicInline(t *testing.T) {
	t.Parallel()
	var g loader.Group[int, int]
	_, err, _ := g.Do(context.Background(), 1, func() (int, error) { panic(errors.New("inner")) })
	if !errors.Is(err, loader.ErrPanicked) || err.Error() == "" {
		t.Fatalf("err = %v", err)
	}
	var pe *loader.PanicError
	if !errors.As(err, &pe) || pe.Unwrap() == nil || pe.Unwrap().Error() != "inner" {
		t.Fatalf("unwrap: %v", err)
	}
}

func TestGroupGoexit(t *testing.T) {
	t.Parallel()
	var g loader.Group[int, int]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err, _ := g.Do(ctx, 1, func() (int, error) { runtime.Goexit(); return 0, nil })
	if !errors.Is(err, loader.ErrGoexit) {
		t.Fatalf("err = %v, want ErrGoexit", err)
	}
}

func TestGroupCancelledCallerLeavesOthers(t *testing.T) {
	t.Parallel()
	var g loader.Group[string, int]
	release := make(chan struct{})
	var calls atomic.Int32
	fn := func() (int, error) {
		calls.Add(1)
		<-release
		return 42, nil
	}

	ctxA, cancelA := context.WithCancel(context.Background())
	resA := make(chan error, 1)
	go func() {
		_, err, _ := g.Do(ctxA, "k", fn)
		resA <- err
	}()
	waitFor(t, func() bool { return calls.Load() == 1 })

	const others = 10
	resB := make(chan int, others)
	for range others {
		go func() {
			v, err, _ := g.Do(context.Background(), "k", fn)
			if err != nil {
				t.Errorf("other caller: %v", err)
			}
			resB <- v
		}()
	}
	waitFor(t, func() bool { return g.Waiters("k") == others })

	cancelA()
	if err := <-resA; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: err = %v, want context.Canceled", err)
	}
	close(release)
	for range others {
		if v := <-resB; v != 42 {
			t.Fatalf("other caller got %d", v)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("calls = %d, want 1", n)
	}
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestGroupForget(t *testing.T) {
	t.Parallel()
	var g loader.Group[string, int]
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := make(chan int, 1)
	go func() {
		v, _, _ := g.Do(ctx, "k", func() (int, error) { <-release; return 1, nil })
		first <- v
	}()
	waitFor(t, func() bool { return g.InFlight("k") })
	g.Forget("k")
	v, err, _ := g.Do(context.Background(), "k", func() (int, error) { return 2, nil })
	if err != nil || v != 2 {
		t.Fatalf("after Forget: %d, %v", v, err)
	}
	close(release)
	if v := <-first; v != 1 {
		t.Fatalf("first caller got %d", v)
	}
}

func TestGroupWaitHonoursContext(t *testing.T) {
	t.Parallel()
	var g loader.Group[string, int]
	release := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go g.Do(ctx, "k", func() (int, error) { <-release; return 0, nil }) //nolint:errcheck
	waitFor(t, func() bool { return g.InFlight("k") })
	cancel()
	short, stop := context.WithCancel(context.Background())
	stop()
	if err := g.Wait(short); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with ended ctx: %v", err)
	}
	close(release)
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}
