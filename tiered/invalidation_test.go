package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// onceGate holds the first goroutine that passes it until the test opens
// it, and tells the test when that goroutine got there.
type onceGate struct {
	armed   atomic.Bool
	started chan struct{} // closed when the first goroutine waits
	release chan struct{}
}

func newOnceGate() *onceGate {
	g := &onceGate{started: make(chan struct{}), release: make(chan struct{})}
	g.armed.Store(true)
	return g
}

// pass blocks the first caller until open; later callers go through.
func (g *onceGate) pass() {
	if g.armed.CompareAndSwap(true, false) {
		close(g.started)
		<-g.release
	}
}

func (g *onceGate) open() { close(g.release) }

// instance is one simulated service instance: a cache with its own L1 (a
// map, so that tests see exactly what it holds) and bus, over an L2 and a
// hub shared with the other instances.
type instance struct {
	cache  *tiered.Cache[int64, User]
	l1     *recordingL1
	bus    *invalidate.MemBus
	stats  *stats.Counter
	loader *countingLoader
}

// newInstances builds n instances of the cache "user" over one memstore
// and one hub.
func newInstances(t *testing.T, n int, opt func(*tiered.Options[int64, User])) ([]*instance, *memstore.Store) {
	t.Helper()
	clock := newFakeClock()
	l2 := memstore.New(&memstore.Options{Now: clock.Now})
	t.Cleanup(func() { _ = l2.Close() })
	hub := invalidate.NewHub()
	out := make([]*instance, n)
	for i := range out {
		in := &instance{l1: &recordingL1{}, bus: hub.NewBus(fmt.Sprintf("i%d", i)), stats: &stats.Counter{}, loader: &countingLoader{}}
		t.Cleanup(func() { _ = in.bus.Close() })
		opts := &tiered.Options[int64, User]{
			Name: "user", L1: in.l1, L2: l2, Bus: in.bus, Loader: in.loader, Stats: in.stats, Now: clock.Now,
		}
		if opt != nil {
			opt(opts)
		}
		c, err := tiered.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		in.cache = c
		out[i] = in
	}
	return out, l2
}

func (in *instance) inL1(id int64) bool {
	_, ok := in.l1.Get(strconv.FormatInt(id, 10))
	return ok
}

func (in *instance) get(t *testing.T, id int64) User {
	t.Helper()
	u, err := in.cache.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%d): %v", id, err)
	}
	return u
}

func TestInvalidation_WritesReachOtherL1(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name  string
		write func(c *tiered.Cache[int64, User]) error
	}{
		{"Delete", func(c *tiered.Cache[int64, User]) error { return c.Delete(ctx, 1) }},
		{"Set", func(c *tiered.Cache[int64, User]) error { return c.Set(ctx, 1, User{ID: 1, Name: "new"}) }},
		{"SetMany", func(c *tiered.Cache[int64, User]) error {
			return c.SetMany(ctx, map[int64]User{1: {ID: 1, Name: "new"}, 2: {ID: 2}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in, _ := newInstances(t, 3, nil)
			for _, x := range in[1:] {
				x.get(t, 1)
				if !x.inL1(1) {
					t.Fatal("the read did not fill L1")
				}
			}
			if err := tt.write(in[0].cache); err != nil {
				t.Fatal(err)
			}
			for i, x := range in[1:] {
				if x.inL1(1) {
					t.Errorf("instance %d still holds key 1 in L1", i+1)
				}
				if got := x.stats.Snapshot().Get(stats.Received); got != 1 {
					t.Errorf("instance %d received %d messages, want 1", i+1, got)
				}
			}
			if got := in[0].stats.Snapshot().Get(stats.Skipped); got != 1 {
				t.Errorf("the writer skipped %d of its own messages, want 1", got)
			}
			if got := in[0].stats.Snapshot().Get(stats.Published); got != 1 {
				t.Errorf("the writer published %d messages, want 1", got)
			}
			if tt.name != "Delete" {
				if u := in[1].get(t, 1); u.Name != "new" {
					t.Errorf("after the write, another instance reads %q, want %q", u.Name, "new")
				}
			}
		})
	}
}

func TestInvalidation_LostMessagesFlushL1(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("gap", func(t *testing.T) {
		t.Parallel()
		in, _ := newInstances(t, 2, nil)
		in[0].get(t, 1) // the writer must have been heard once for a gap to show
		if err := in[0].cache.Delete(ctx, 100); err != nil {
			t.Fatal(err)
		}
		in[1].get(t, 1)
		in[1].get(t, 2)
		in[0].bus.DropNext(1)
		if err := in[0].cache.Delete(ctx, 1); err != nil { // lost
			t.Fatal(err)
		}
		if !in[1].inL1(1) {
			t.Fatal("the dropped message arrived")
		}
		if err := in[0].cache.Delete(ctx, 3); err != nil { // shows the gap
			t.Fatal(err)
		}
		if in[1].inL1(1) || in[1].inL1(2) {
			t.Error("L1 was not flushed after a gap")
		}
		if got := in[1].stats.Snapshot().Get(stats.FlushGap); got != 1 {
			t.Errorf("FlushGap = %d, want 1", got)
		}
	})
	t.Run("resubscribed", func(t *testing.T) {
		t.Parallel()
		in, _ := newInstances(t, 1, nil)
		in[0].get(t, 1)
		in[0].bus.Reconnect()
		if in[0].inL1(1) {
			t.Error("L1 was not flushed after a resubscription")
		}
		s := in[0].stats.Snapshot()
		if s.Get(stats.FlushResubscribed) != 1 || s.Get(stats.Subscribed) != 1 {
			t.Errorf("FlushResubscribed = %d, Subscribed = %d, want 1 and 1",
				s.Get(stats.FlushResubscribed), s.Get(stats.Subscribed))
		}
	})
	t.Run("publish error", func(t *testing.T) {
		t.Parallel()
		in, _ := newInstances(t, 2, nil)
		boom := errors.New("boom")
		in[0].bus.SetPublishError(boom)
		err := in[0].cache.Delete(ctx, 1)
		if !errors.Is(err, boom) {
			t.Fatalf("Delete = %v, want the bus's error", err)
		}
		if got := in[0].stats.Snapshot().Get(stats.PublishError); got != 1 {
			t.Errorf("PublishError = %d, want 1", got)
		}
		if _, err := in[0].cache.Get(ctx, 1); err != nil {
			t.Fatal(err) // the delete itself happened: the key loads again
		}
	})
}

// The deterministic stale-set test: a load reads the old value, a Delete of
// the key arrives from another instance before the load finishes; the old
// value must reach neither this L1 nor L2.
//
// Two mechanisms keep it out: the key's generation, moved by the message
// (this L1), and the conditional write that meets the Delete's tombstone
// (L2, and through it L1). The plain store lacks the second, so each
// mechanism is tested alone.
func TestInvalidation_StaleLoadAfterRemoteDelete(t *testing.T) {
	t.Parallel()
	for _, plain := range []bool{false, true} {
		t.Run(fmt.Sprint("plain L2=", plain), func(t *testing.T) {
			t.Parallel()
			testStaleLoadAfterRemoteDelete(t, plain)
		})
	}
}

// plainStore hides every optional ability of the store it wraps.
type plainStore struct{ l2.Store }

// Abilities declares none of the optional interfaces: a plain store.
func (plainStore) Abilities() l2.Ability { return 0 }

func testStaleLoadAfterRemoteDelete(t *testing.T, plain bool) {
	ctx := context.Background()
	var version atomic.Int64 // the source of truth: Name is "v<version>"
	gate := newOnceGate()
	in, l2 := newInstances(t, 2, func(o *tiered.Options[int64, User]) {
		o.Loader = loader.Func[int64, User](func(_ context.Context, id int64) (User, error) {
			u := User{ID: id, Name: "v" + strconv.FormatInt(version.Load(), 10)}
			gate.pass() // the Delete happens here
			return u, nil
		})
		if plain {
			o.L2 = plainStore{o.L2}
		}
	})
	done := make(chan User)
	go func() {
		u, err := in[1].cache.Get(ctx, 7)
		if err != nil {
			t.Error(err)
		}
		done <- u
	}()
	<-gate.started // the load has read the source: it returns "v0"
	version.Store(1)
	if err := in[0].cache.Delete(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if got := in[1].stats.Snapshot().Get(stats.ReceivedKeys); got != 1 {
		t.Fatalf("the loading instance received %d keys, want 1", got)
	}
	gate.open()
	if u := <-done; u.Name != "v0" {
		t.Fatalf("the waiting caller got %q, want the value its load read, v0", u.Name)
	}
	if in[1].inL1(7) {
		t.Error("the old value landed in L1 after the Delete arrived")
	}
	for i, x := range in {
		if u := x.get(t, 7); u.Name != "v1" {
			t.Errorf("instance %d reads %q after the load, want v1", i, u.Name)
		}
	}
	_ = l2
}

func TestInvalidation_Tags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	in, _ := newInstances(t, 2, func(o *tiered.Options[int64, User]) {
		o.Tags = func(id int64, _ User) []string { return []string{"parity:" + strconv.FormatInt(id%2, 10)} }
	})
	for id := int64(1); id <= 10; id++ {
		if err := in[0].cache.SetTagged(ctx, id, User{ID: id}, "all"); err != nil {
			t.Fatal(err)
		}
	}
	in[1].get(t, 11) // loaded: tagged parity:1 by Options.Tags
	for id := int64(1); id <= 11; id++ {
		in[1].get(t, id)
	}
	if err := in[1].cache.InvalidateTags(ctx, "parity:1"); err != nil {
		t.Fatal(err)
	}
	for id := int64(1); id <= 11; id++ {
		for i, x := range in {
			if want := id%2 == 0; x.inL1(id) != want {
				t.Errorf("instance %d: key %d in L1 = %v, want %v", i, id, x.inL1(id), want)
			}
		}
	}
	calls := in[0].loader.calls.Load()
	in[0].get(t, 3)
	if in[0].loader.calls.Load() != calls+1 {
		t.Error("an invalidated key was still in L2")
	}
	if err := in[0].cache.InvalidateTags(ctx, "all"); err != nil {
		t.Fatal(err)
	}
	for id := int64(2); id <= 10; id += 2 {
		if in[0].inL1(id) || in[1].inL1(id) {
			t.Errorf("key %d survived InvalidateTags(all)", id)
		}
	}
}

func TestInvalidation_PrefixAndFlush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	in, _ := newInstances(t, 2, nil)
	for _, id := range []int64{1, 10, 11, 2, 20} {
		in[0].get(t, id)
		in[1].get(t, id)
	}
	if err := in[0].cache.InvalidatePrefix(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{1, 10, 11, 2, 20} {
		want := id == 2 || id == 20
		for i, x := range in {
			if x.inL1(id) != want {
				t.Errorf("instance %d: key %d in L1 = %v, want %v", i, id, x.inL1(id), want)
			}
		}
	}
	if err := in[1].cache.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i, x := range in {
		if x.inL1(2) || x.inL1(20) {
			t.Errorf("instance %d kept keys after Flush", i)
		}
	}
	calls := in[0].loader.calls.Load()
	in[0].get(t, 2)
	if in[0].loader.calls.Load() != calls+1 {
		t.Error("Flush left the key in L2")
	}
}

func TestInvalidation_CloseUnsubscribes(t *testing.T) {
	t.Parallel()
	hub := invalidate.NewHub()
	bus := hub.NewBus("")
	defer func() { _ = bus.Close() }()
	opts := &tiered.Options[int64, User]{Name: "user", Bus: bus}
	c, err := tiered.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tiered.New(opts); !errors.Is(err, invalidate.ErrSubscribed) {
		t.Fatalf("second cache of the namespace on one bus: %v, want ErrSubscribed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := tiered.New(opts)
	if err != nil {
		t.Fatalf("after Close the namespace is free again: %v", err)
	}
	if err := c2.Close(); err != nil {
		t.Fatal(err)
	}
}

// A load that read the source before a change and indexes its key after
// InvalidateTags took the index apart stores an old value; the second pass,
// LoadTimeout later, removes it.
func TestInvalidation_TagsSecondPass(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var version atomic.Int64
	gate := newOnceGate()
	in, _ := newInstances(t, 2, func(o *tiered.Options[int64, User]) {
		o.LoadTimeout = 200 * time.Millisecond
		o.TombstoneTTL = time.Second
		o.Tags = func(int64, User) []string { return []string{"t"} }
		o.Loader = loader.Func[int64, User](func(_ context.Context, id int64) (User, error) {
			u := User{ID: id, Name: "v" + strconv.FormatInt(version.Load(), 10)}
			gate.pass()
			return u, nil
		})
	})
	done := make(chan error)
	go func() {
		_, err := in[1].cache.Get(ctx, 5)
		done <- err
	}()
	<-gate.started // the load read v0
	version.Store(1)
	if err := in[0].cache.InvalidateTags(ctx, "t"); err != nil { // finds nothing yet
		t.Fatal(err)
	}
	gate.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if u := in[0].get(t, 5); u.Name != "v0" {
		t.Fatalf("before the second pass L2 holds %q; the test expects the old value there", u.Name)
	}
	waitFor(t, "the second pass", func() bool {
		return !in[0].inL1(5) && !in[1].inL1(5)
	})
	for i, x := range in {
		if u := x.get(t, 5); u.Name != "v1" {
			t.Errorf("instance %d reads %q after the second pass, want v1", i, u.Name)
		}
	}
}

// GetMany's batch load meets the same conditional write: a key deleted by
// another instance while the batch loaded keeps its tombstone, the other
// keys are stored.
func TestInvalidation_StaleBatchLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var version atomic.Int64
	gate := newOnceGate()
	in, l2 := newInstances(t, 2, func(o *tiered.Options[int64, User]) {
		o.Tags = func(int64, User) []string { return []string{"batch"} }
		o.BatchLoader = loader.BatchFunc[int64, User](func(_ context.Context, ids []int64) (map[int64]User, error) {
			out := make(map[int64]User, len(ids))
			for _, id := range ids {
				out[id] = User{ID: id, Name: "v" + strconv.FormatInt(version.Load(), 10)}
			}
			gate.pass()
			return out, nil
		})
	})
	done := make(chan error)
	go func() {
		_, err := in[1].cache.GetMany(ctx, []int64{1, 2, 3})
		done <- err
	}()
	<-gate.started
	version.Store(1)
	if err := in[0].cache.Delete(ctx, 2); err != nil {
		t.Fatal(err)
	}
	gate.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int64]bool{1: true, 2: false, 3: true} {
		if got := holdsValue(t, l2, "user", id); got != want {
			t.Errorf("L2 holds a value for %d: %v, want %v", id, got, want)
		}
		if got := in[1].inL1(id); got != want {
			t.Errorf("L1 holds %d: %v, want %v", id, got, want)
		}
	}
	if got, err := in[0].cache.GetMany(ctx, []int64{2}); err != nil || got[2].Name != "v1" {
		t.Errorf("after the batch, key 2 reads %q (%v), want v1", got[2].Name, err)
	}
	// The stored keys were indexed under their tag.
	if err := in[0].cache.InvalidateTags(ctx, "batch"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{1, 3} {
		if holdsValue(t, l2, "user", id) || in[1].inL1(id) {
			t.Errorf("key %d survived InvalidateTags", id)
		}
	}
}

// flakyStore is a memstore whose namespaced views fail SetMany and Revoke
// (the writes of tombstones) on demand.
type flakyStore struct {
	*memstore.Store
	fail atomic.Bool
}

var errFlaky = errors.New("flaky SetMany")

func (f *flakyStore) Namespace(ns string) l2.Store {
	return &flakyView{Store: f.Store.Namespace(ns).(*memstore.Store), f: f}
}

type flakyView struct {
	*memstore.Store
	f *flakyStore
}

func (v *flakyView) SetMany(ctx context.Context, items []l2.Item) error {
	if v.f.fail.Load() {
		return errFlaky
	}
	return v.Store.SetMany(ctx, items)
}

func (v *flakyView) Revoke(ctx context.Context, items []l2.Item) error {
	if v.f.fail.Load() {
		return errFlaky
	}
	return v.Store.Revoke(ctx, items)
}

// Keys taken out of a tag index whose deletion failed go back into it: a
// later InvalidateTags finds them.
func TestInvalidation_TagsRetryAfterL2Error(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := &flakyStore{Store: memstore.New(nil)}
	defer func() { _ = store.Close() }()
	c, err := tiered.New(&tiered.Options[int64, User]{Name: "user", L2: store, Loader: &countingLoader{}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	for id := int64(1); id <= 3; id++ {
		if err := c.SetTagged(ctx, id, user(id), "t"); err != nil {
			t.Fatal(err)
		}
	}
	store.fail.Store(true)
	if err := c.InvalidateTags(ctx, "t"); !errors.Is(err, errFlaky) {
		t.Fatalf("InvalidateTags = %v, want the store's error", err)
	}
	store.fail.Store(false)
	for id := int64(1); id <= 3; id++ {
		if !holdsValue(t, store.Store, "user", id) {
			t.Fatalf("key %d left L2 although the delete failed", id)
		}
	}
	if err := c.InvalidateTags(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	for id := int64(1); id <= 3; id++ {
		if holdsValue(t, store.Store, "user", id) {
			t.Errorf("key %d survived the second InvalidateTags: it fell out of the index", id)
		}
	}
}

// Another instance's delete that reaches L2 just after this instance's Set,
// and whose message arrives before the Set has put its value into L1, must
// not leave the value in this instance's L1: L2 holds the tombstone, and
// no later message would remove it. The Set's value is tagged, so that the
// write path's second Tag call, which comes after the value is in L2,
// gives the test the moment to run the other instance's Delete.
func TestSet_MessageDuringL2Write(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	in, store := newInstances(t, 2, nil)
	var tags atomic.Int64
	store.FailWhen(func(op string) error {
		if op == "tag" && tags.Add(1) == 2 { // the Set's value is in L2
			if err := in[1].cache.Delete(ctx, 1); err != nil {
				return err
			}
			waitFor(t, "the Delete's message", func() bool { return in[0].stats.Snapshot().Get(stats.Received) == 1 })
		}
		return nil
	})
	if err := in[0].cache.SetTagged(ctx, 1, user(1), "t"); err != nil {
		t.Fatal(err)
	}
	store.FailWhen(nil)
	if in[0].inL1(1) {
		t.Error("L1 kept the value that the other instance deleted during the Set")
	}
	in[0].get(t, 1)
	if n := in[0].loader.calls.Load(); n != 1 {
		t.Errorf("%d loads after the delete, want 1", n)
	}
}
