package tiered_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/internal/envelope"

	"github.com/vmihailenco/msgpack/v5"
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

func (s *gatedStore) Close() { _ = s.mem.Close() }

// Abilities declares none of the optional interfaces, which gatedStore does
// not forward.
func (s *gatedStore) Abilities() l2.Ability { return 0 }

func (s *gatedStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.gets.Add(1)
	gate := s.gate
	frame, err := s.Store.Get(ctx, key) // read now, answer when the gate opens
	select {
	case <-gate:
		return frame, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
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
		defer func() { _ = c.Close() }()
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
		defer func() { _ = c.Close() }()
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

// TestGet_SharedReadLeaderLeaves: the reader whose read the others share
// gives up (its context ends): it gets its context's error, and the
// others read on their own rather than fail with it.
func TestGet_SharedReadLeaderLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newGatedStore()
		defer store.Close()
		c, err := tiered.New(&tiered.Options[int64, User]{Name: "user", L2: store, L1: noL1{}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		close(store.gate)
		if err := c.Set(context.Background(), 1, user(1)); err != nil {
			t.Fatal(err)
		}
		gate := make(chan struct{})
		store.gate = gate
		before := store.gets.Load()

		leaderCtx, leave := context.WithCancel(context.Background())
		leader := make(chan error, 1)
		go func() {
			_, err := c.Get(leaderCtx, 1)
			leader <- err
		}()
		synctest.Wait()
		joiner := make(chan User, 1)
		go func() {
			u, err := c.Get(context.Background(), 1)
			if err != nil {
				t.Errorf("joiner: %v", err)
			}
			joiner <- u
		}()
		synctest.Wait()
		if n := store.gets.Load() - before; n != 1 {
			t.Fatalf("%d L2 reads before the leader left, want 1 (shared)", n)
		}
		leave()
		if err := <-leader; !errors.Is(err, context.Canceled) {
			t.Errorf("leader: %v, want context.Canceled", err)
		}
		synctest.Wait() // the joiner reads on its own, at the gate
		close(gate)
		if u := <-joiner; u.ID != 1 {
			t.Errorf("joiner got %+v", u)
		}
		if n := store.gets.Load() - before; n != 2 {
			t.Errorf("%d L2 reads, want 2 (the leader's, then the joiner's own)", n)
		}
	})
}

// TestL2HitAllocations: a Get served by L2 (L1 off) allocates no more than
// the store's Get, the frame's decode and msgpack's decode of the value
// by hand: sharing the read costs a reader alone nothing. (The shared read
// first used a loader.Group: 4 more allocations per L2 hit.)
func TestL2HitAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts; make test runs this without it")
	}
	mem := memstore.New(nil)
	defer func() { _ = mem.Close() }()
	c, err := tiered.New(&tiered.Options[int64, User]{Name: "user", L2: mem, L1: noL1{}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ctx := context.Background()
	if err := c.Set(ctx, 1, user(1)); err != nil {
		t.Fatal(err)
	}
	view := mem.Namespace("user")
	key := "1" // the view adds the namespace
	if _, err := view.Get(ctx, key); err != nil {
		t.Fatalf("the value is not under %q: %v", key, err)
	}
	byHand := testing.AllocsPerRun(1000, func() {
		frame, _ := view.Get(ctx, key)
		_, payload, _ := envelope.Decode(frame)
		var u User
		_ = msgpack.Unmarshal(payload, &u)
	})
	got := testing.AllocsPerRun(1000, func() { _, _ = c.Get(ctx, 1) })
	t.Logf("an L2 hit allocates %v times, by hand %v", got, byHand)
	if got > byHand {
		t.Errorf("an L2 hit allocates %v times, by hand %v", got, byHand)
	}
}
