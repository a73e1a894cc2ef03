package tiered_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/internal/envelope"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Unit tests of the fault handling of issue 11 (A, B) on the in-memory
// store and bus; failover_test.go has them on a real Cluster.

// versionedInstances are instances of the cache "user" whose loader serves
// "v<version>" for every key, the version being the source of truth.
func versionedInstances(t *testing.T, n int, opt func(*tiered.Options[int64, User])) ([]*instance, *memstore.Store, *atomic.Int64) {
	t.Helper()
	var version atomic.Int64
	version.Store(1)
	var calls atomic.Int64
	in, store := newInstances(t, n, func(o *tiered.Options[int64, User]) {
		o.Loader = loader.Func[int64, User](func(_ context.Context, id int64) (User, error) {
			calls.Add(1)
			return User{ID: id, Name: "v" + strconv.FormatInt(version.Load(), 10)}, nil
		})
		if opt != nil {
			opt(o)
		}
	})
	return in, store, &version
}

// l2Holds returns what L2 holds for id: "tombstone", "nothing", or the
// value's name.
func l2Holds(t *testing.T, store *memstore.Store, id int64) string {
	t.Helper()
	b, err := store.Namespace("user").Get(context.Background(), strconv.FormatInt(id, 10))
	switch {
	case errors.Is(err, l2.ErrMiss):
		return "nothing"
	case err != nil:
		t.Fatal(err)
	case isTombstone(b):
		return "tombstone"
	}
	_, payload, err := envelope.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	var u User
	if err := msgpack.Unmarshal(payload, &u); err != nil {
		t.Fatal(err)
	}
	return u.Name
}

// A: a Delete whose L2 part failed is retried until L2 takes it; until
// then, no instance serves the value L2 still holds, and once it landed the
// other instances hear that it did.
func TestUnsettled_FailedDeleteIsRetried(t *testing.T) {
	t.Parallel()
	in, store, version := versionedInstances(t, 2, nil)
	ctx := context.Background()
	for _, x := range in {
		if u := x.get(t, 1); u.Name != "v1" {
			t.Fatalf("first read: %q", u.Name)
		}
	}
	var failing atomic.Bool
	failing.Store(true)
	boom := errors.New("master down")
	store.FailWhen(func(op string) error {
		if failing.Load() && op != "get" && op != "getmany" {
			return boom // writes fail, reads work (a promoted replica that still has the old value)
		}
		return nil
	})
	version.Store(2) // the source changed; the caller deletes the key (cache-aside)
	if err := in[0].cache.Delete(ctx, 1); !errors.Is(err, boom) {
		t.Fatalf("Delete with L2 down: %v, want its error", err)
	}
	if got := l2Holds(t, store, 1); got != "v1" {
		t.Fatalf("L2 holds %q, want the old value still there", got)
	}
	for i, x := range in {
		if u := x.get(t, 1); u.Name != "v2" {
			t.Fatalf("instance %d read %q while L2 still holds v1, want v2 from the source", i, u.Name)
		}
		if got := x.stats.Snapshot().Get(stats.L2Doubted); got == 0 {
			t.Errorf("instance %d: L2Doubted = 0", i)
		}
	}
	if h := in[0].cache.Health(); h.Unsettled != 1 || h.Err() == nil {
		t.Fatalf("writer's health: %+v, %v; want 1 unsettled key", h, h.Err())
	}
	if h := in[1].cache.Health(); h.Doubted != 1 {
		t.Fatalf("other instance's health: %+v; want 1 doubted key", h)
	}
	if got := l2Holds(t, store, 1); got != "v1" {
		t.Fatalf("a read wrote over the unsettled key: L2 holds %q", got)
	}

	failing.Store(false)
	waitFor(t, "the retried tombstone", func() bool { return l2Holds(t, store, 1) == "tombstone" })
	waitFor(t, "the writer to settle the key", func() bool { return in[0].cache.Health().Unsettled == 0 })
	waitFor(t, "the other instance to hear it", func() bool { return in[1].cache.Health().Doubted == 0 })
	if got := in[0].stats.Snapshot().Get(stats.Settled); got != 1 {
		t.Errorf("Settled = %d, want 1", got)
	}
	for i, x := range in {
		if u := x.get(t, 1); u.Name != "v2" {
			t.Fatalf("instance %d read %q after the retry, want v2", i, u.Name)
		}
	}
}

// tombstoneGate is a store whose writes of tombstones fail while closed
// is set: a Delete fails, a Set goes through.
type tombstoneGate struct {
	*memstore.Store
	closed *atomic.Bool
}

func (g tombstoneGate) Namespace(ns string) l2.Store {
	return tombstoneGate{Store: g.Store.Namespace(ns).(*memstore.Store), closed: g.closed}
}

func (g tombstoneGate) Revoke(ctx context.Context, items []l2.Item) error {
	for _, it := range items {
		if g.closed.Load() && isTombstone(it.Value) {
			return errors.New("tombstones refused")
		}
	}
	return g.Store.Revoke(ctx, items)
}

// A: the retry of a failed Delete stays behind later writes of the key: a
// Set that lands settles it, and the tombstone is not written over the
// newer value.
func TestUnsettled_LaterWriteSettles(t *testing.T) {
	t.Parallel()
	var closed atomic.Bool
	mem := memstore.New(nil)
	defer func() { _ = mem.Close() }()
	c, err := tiered.New(&tiered.Options[int64, User]{Name: "user", L2: tombstoneGate{Store: mem, closed: &closed}, Loader: &countingLoader{}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ctx := context.Background()
	closed.Store(true)
	if err := c.Delete(ctx, 1); err == nil {
		t.Fatal("Delete succeeded with tombstones refused")
	}
	if c.Health().Unsettled != 1 {
		t.Fatal("the failed Delete left no unsettled key")
	}
	nu := user(1)
	nu.Name = "newer"
	if err := c.Set(ctx, 1, nu); err != nil {
		t.Fatal(err)
	}
	if h := c.Health(); h.Unsettled != 0 {
		t.Fatalf("after a Set that landed: %d unsettled keys, want 0", h.Unsettled)
	}
	closed.Store(false)
	if got := l2Holds(t, mem, 1); got != "newer" {
		t.Fatalf("L2 holds %q, want the Set's value", got)
	}
}

// A: a failed Set is an invalidation too: the old value L2 may still hold
// is not served, and the key is deleted once L2 takes writes.
func TestUnsettled_FailedSet(t *testing.T) {
	t.Parallel()
	in, store, version := versionedInstances(t, 2, nil)
	ctx := context.Background()
	in[1].get(t, 1)
	var failing atomic.Bool
	failing.Store(true)
	store.FailWhen(func(op string) error {
		if failing.Load() && op == "revoke" {
			return errors.New("down")
		}
		return nil
	})
	version.Store(2)
	if err := in[0].cache.Set(ctx, 1, User{ID: 1, Name: "v2"}); err == nil {
		t.Fatal("Set succeeded with L2 down")
	}
	if u := in[1].get(t, 1); u.Name != "v2" {
		t.Fatalf("other instance read %q after the failed Set, want v2", u.Name)
	}
	failing.Store(false)
	waitFor(t, "the key's tombstone", func() bool { return l2Holds(t, store, 1) == "tombstone" })
}

// A: the number of keys retried at once is bounded; beyond it a failed
// write says that it is not retried.
func TestUnsettled_Bounded(t *testing.T) {
	t.Parallel()
	in, store, _ := versionedInstances(t, 1, func(o *tiered.Options[int64, User]) { o.MaxUnsettled = 2 })
	store.FailWhen(func(op string) error {
		if op != "get" {
			return errors.New("down")
		}
		return nil
	})
	ctx := context.Background()
	if err := in[0].cache.Delete(ctx, 1, 2); err == nil || errors.Is(err, tiered.ErrUnsettled) {
		t.Fatalf("Delete of 2 keys: %v, want the L2 error alone", err)
	}
	if err := in[0].cache.Delete(ctx, 3); !errors.Is(err, tiered.ErrUnsettled) {
		t.Fatalf("Delete of a third key: %v, want ErrUnsettled", err)
	}
}

// B: from the first sign that the bus's subscription is broken until it is
// back, L1 serves nothing it held before and takes nothing: another
// instance's write, whose message is lost, is read from L2.
func TestL1Off_WhileSubscriptionBroken(t *testing.T) {
	t.Parallel()
	in, _, _ := versionedInstances(t, 2, nil)
	ctx := context.Background()
	reader := in[1]
	reader.get(t, 1)
	if !reader.inL1(1) {
		t.Fatal("the read did not fill L1")
	}
	reader.bus.Disconnect()
	if reader.inL1(1) {
		t.Fatal("L1 still holds the key after the subscription broke")
	}
	if u := reader.get(t, 1); u.Name != "v1" || reader.inL1(1) {
		t.Fatalf("read while broken: %q, in L1: %v; want v1 from L2, not in L1", u.Name, reader.inL1(1))
	}
	if err := in[0].cache.Set(ctx, 1, User{ID: 1, Name: "written"}); err != nil {
		t.Fatal(err) // its message does not reach the reader
	}
	if u := reader.get(t, 1); u.Name != "written" {
		t.Fatalf("read after a write whose message was lost: %q, want the write", u.Name)
	}
	if h := reader.cache.Health(); h.Subscribed || h.Err() == nil {
		t.Fatalf("health while broken: %+v", h)
	}
	if got := reader.stats.Snapshot().Get(stats.Interrupted); got != 1 {
		t.Fatalf("Interrupted = %d, want 1", got)
	}
	reader.bus.Reconnect()
	reader.get(t, 1)
	if !reader.inL1(1) || !reader.cache.Health().Subscribed {
		t.Fatal("L1 not in use again after the subscription came back")
	}
}
