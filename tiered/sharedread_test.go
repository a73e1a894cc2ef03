package tiered_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/tiered"
)

// gatedStore is an L2 store whose Gets count themselves, read, and wait
// for the gate to open before they answer (a slow round trip). It offers only the l2.Store methods (no leases).
type gatedStore struct {
	l2.Store
	mem  *memstore.Store
	gets atomic.Int64
	gate chan struct{}
}

func newGatedStore() *gatedStore {
	mem := memstore.New(nil)
	return &gatedStore{Store: mem.Namespace("user"), mem: mem, gate: make(chan struct{})}
}

func (s *gatedStore) Close() { s.mem.Close() }

func (s *gatedStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.gets.Add(1)
	gate := s.gate
	frame, err := s.Store.Get(ctx, key) // read now, answer when the gate opens
	<-gate
	return frame, err
}

// TestGet_SharesL2Read: readers that miss L1 at the same time share one L2
// read (100 readers of a key cost one GET, not 100), and each gets the
// value.
func TestGet_SharesL2Read(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newGatedStore()
		defer store.Close()
		c, err := tiered.New(&tiered.Options[int64, User]{Name: "user", L2: store, L1: noL1{}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithCancel(context.Background()) // a Done channel, as most callers have
		defer cancel()
		close(store.gate)
		if err := c.Set(ctx, 1, user(1)); err != nil {
			t.Fatal(err)
		}
		store.gate = make(chan struct{})
		before := store.gets.Load()

		const readers = 100
		var wg sync.WaitGroup
		var wrong atomic.Int64
		for range readers {
			wg.Go(func() {
				u, err := c.Get(ctx, 1)
				if err != nil || u.ID != 1 {
					wrong.Add(1)
				}
			})
		}
		synctest.Wait() // every reader waits: on the store, or on the shared read
		if n := store.gets.Load() - before; n != 1 {
			t.Errorf("%d readers sent %d L2 reads, want 1", readers, n)
		}
		close(store.gate)
		wg.Wait()
		if wrong.Load() != 0 {
			t.Errorf("%d readers got an error or a wrong value", wrong.Load())
		}
	})
}

// TestGet_SharedReadAfterWrite: a reader that begins after a write does
// not take the result of a shared read that began before it (it could
// predate the write); it reads on its own and sees the write.
func TestGet_SharedReadAfterWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newGatedStore()
		defer store.Close()
		c, err := tiered.New(&tiered.Options[int64, User]{Name: "user", L2: store, L1: noL1{}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		close(store.gate)
		if err := c.Set(ctx, 1, user(1)); err != nil {
			t.Fatal(err)
		}
		gate := make(chan struct{})
		store.gate = gate

		old := make(chan User, 1)
		go func() { // its read starts, and waits at the gate
			u, _ := c.Get(ctx, 1)
			old <- u
		}()
		synctest.Wait()
		// The write goes through the store directly (the gated Get is not
		// in its way), then a reader begins.
		updated := user(1)
		updated.Name = "renamed"
		store.gate = make(chan struct{})
		close(store.gate) // later Gets pass
		if err := c.Set(ctx, 1, updated); err != nil {
			t.Fatal(err)
		}
		got := make(chan User, 1)
		go func() {
			u, _ := c.Get(ctx, 1)
			got <- u
		}()
		synctest.Wait()
		close(gate) // the first read returns what it read before the write
		if u := <-got; u.Name != "renamed" {
			t.Errorf("a Get that began after the Set returned %q", u.Name)
		}
		<-old
	})
}
