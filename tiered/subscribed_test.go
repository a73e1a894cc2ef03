package tiered_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// lateBus is a Bus whose first subscription is in place only when the
// test says so (subscribed), as a Redis subscription is some time after
// New.
type lateBus struct {
	mu sync.Mutex
	h  invalidate.Handler
}

func (b *lateBus) ID() string                                         { return "late" }
func (b *lateBus) Publish(context.Context, *invalidate.Message) error { return nil }
func (b *lateBus) Close() error                                       { return nil }

func (b *lateBus) Subscribe(_ string, h invalidate.Handler) (func(), error) {
	b.mu.Lock()
	b.h = h
	b.mu.Unlock()
	return func() {}, nil
}

func (b *lateBus) subscribed() {
	b.mu.Lock()
	h := b.h
	b.mu.Unlock()
	h.Lost(invalidate.Subscribed)
}

// TestFirstSubscription_KeepsLoadsInL2: the bus's first subscription lands
// while a load runs. L1 is flushed, and the loaded value must not enter
// it, but the value still goes to L2: nothing was written meanwhile, and a
// load thrown away there is one more load for every instance (found by the
// peer benchmarks: 2 loads for 3 Gets of a new instance).
func TestFirstSubscription_KeepsLoadsInL2(t *testing.T) {
	for _, batch := range []bool{false, true} {
		name := map[bool]string{false: "Get", true: "GetMany"}[batch]
		t.Run(name, func(t *testing.T) {
			bus := &lateBus{}
			inLoad, release := make(chan struct{}), make(chan struct{})
			f := newFixture(t, func(o *tiered.Options[int64, User]) {
				o.Bus = bus
				if batch {
					o.BatchLoader = loader.BatchFunc[int64, User](func(ctx context.Context, ids []int64) (map[int64]User, error) {
						out := make(map[int64]User, len(ids))
						for _, id := range ids {
							u, err := o.Loader.Load(ctx, id)
							if err != nil {
								return nil, err
							}
							out[id] = u
						}
						return out, nil
					})
				}
			})
			f.loader.hook = func(context.Context, int64) {
				if f.loader.calls.Load() == 1 {
					close(inLoad)
					<-release
				}
			}
			ctx := context.Background()
			done := make(chan error, 1)
			go func() {
				if batch {
					_, err := f.cache.GetMany(ctx, []int64{1})
					done <- err
					return
				}
				_, err := f.cache.Get(ctx, 1)
				done <- err
			}()
			<-inLoad
			bus.subscribed()
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if !f.holds(t, 1) {
				t.Fatal("L2 lacks the value loaded across the first subscription")
			}
			if _, err := f.cache.Get(ctx, 1); err != nil {
				t.Fatal(err)
			}
			s := f.snap()
			if n := f.loader.calls.Load(); n != 1 {
				t.Errorf("%d loads, want 1", n)
			}
			if s.Get(stats.L2Hit) != 1 || s.Get(stats.L1Hit) != 0 {
				t.Errorf("second Get: %d L2 hits, %d L1 hits; want it served by L2 (L1 must not keep a value read before the subscription)",
					s.Get(stats.L2Hit), s.Get(stats.L1Hit))
			}
		})
	}
}
