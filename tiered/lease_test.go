package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// A miss in one instance while another holds the key's lease waits for the
// holder's value instead of loading.
func TestLease_OtherInstanceWaits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gate := newOnceGate()
	in, _ := newInstances(t, 2, func(o *tiered.Options[int64, User]) {
		o.Loader = loader.Func[int64, User](func(_ context.Context, id int64) (User, error) {
			gate.pass()
			return user(id), nil
		})
	})
	done := make(chan error, 1)
	go func() {
		_, err := in[0].cache.Get(ctx, 1)
		done <- err
	}()
	<-gate.started // instance 0 holds the lease and loads
	got := make(chan error, 1)
	go func() {
		u, err := in[1].cache.Get(ctx, 1)
		if err == nil && u.ID != 1 {
			err = errors.New("wrong user")
		}
		got <- err
	}()
	waitFor(t, "instance 1 to wait for the lease", func() bool {
		return in[1].stats.Snapshot().Get(stats.LeaseWaited) == 1
	})
	gate.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	s0, s1 := in[0].stats.Snapshot(), in[1].stats.Snapshot()
	if s0.Get(stats.LeaseGranted) != 1 || s0.Loads() != 1 || s1.Loads() != 0 {
		t.Fatalf("instance 0: %d leases, %d loads; instance 1: %d loads", s0.Get(stats.LeaseGranted), s0.Loads(), s1.Loads())
	}
	if !in[1].inL1(1) {
		t.Error("the waiting instance did not keep the value in L1")
	}
}

// A Delete ends the lease: the holder's value is not stored, and the
// instance waiting for it stops waiting and loads the new value, even when
// the Delete's message is lost.
func TestLease_DeleteRevokes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var version atomicString
	version.Store("v0")
	gate := newOnceGate()
	in, store := newInstances(t, 3, func(o *tiered.Options[int64, User]) {
		o.Loader = loader.Func[int64, User](func(_ context.Context, id int64) (User, error) {
			u := User{ID: id, Name: version.Load()}
			gate.pass()
			return u, nil
		})
	})
	held := make(chan User, 1)
	go func() {
		u, err := in[0].cache.Get(ctx, 1)
		if err != nil {
			t.Error(err)
		}
		held <- u
	}()
	<-gate.started
	waiting := make(chan User, 1)
	go func() {
		u, err := in[1].cache.Get(ctx, 1)
		if err != nil {
			t.Error(err)
		}
		waiting <- u
	}()
	waitFor(t, "instance 1 to wait for the lease", func() bool {
		return in[1].stats.Snapshot().Get(stats.LeaseWaited) == 1
	})
	version.Store("v1")
	// The message is lost, so that only L2 can stop the holder (the
	// generation guard would otherwise stop it first).
	in[2].bus.DropNext(1)
	if err := in[2].cache.Delete(ctx, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case u := <-waiting:
		if u.Name != "v1" {
			t.Fatalf("the waiting instance got %q, want v1", u.Name)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting instance still waits after the Delete")
	}
	gate.open()
	if u := <-held; u.Name != "v0" {
		t.Fatalf("the holder's callers got %q, want what it loaded, v0", u.Name)
	}
	if n := in[0].stats.Snapshot().Get(stats.LeaseLost); n != 1 {
		t.Fatalf("holder: LeaseLost = %d, want 1", n)
	}
	for i, x := range in {
		if u := x.get(t, 1); u.Name != "v1" {
			t.Errorf("instance %d reads %q, want v1", i, u.Name)
		}
	}
	_ = store
}

// batchRecorder is a BatchLoader that records the keys of each call and can
// hold the first call until the test lets it go.
type batchRecorder struct {
	mu    sync.Mutex
	calls [][]int64
	gate  *onceGate
}

func (b *batchRecorder) LoadMany(_ context.Context, ids []int64) (map[int64]User, error) {
	b.mu.Lock()
	b.calls = append(b.calls, slices.Sorted(slices.Values(ids)))
	b.mu.Unlock()
	if b.gate != nil {
		b.gate.pass()
	}
	out := make(map[int64]User, len(ids))
	for _, id := range ids {
		out[id] = user(id)
	}
	return out, nil
}

func (b *batchRecorder) loaded() [][]int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

// GetMany takes leases too: keys whose lease another instance holds are
// waited for, the others are loaded in one BatchLoader call.
func TestLease_GetManyWaitsForOtherInstance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &batchRecorder{gate: newOnceGate()}
	in, _ := newInstances(t, 2, func(o *tiered.Options[int64, User]) {
		o.Loader, o.BatchLoader = nil, rec
	})
	first := make(chan error, 1)
	go func() {
		got, err := in[0].cache.GetMany(ctx, []int64{1, 2, 3})
		if err == nil && len(got) != 3 {
			err = fmt.Errorf("instance 0 got %d values", len(got))
		}
		first <- err
	}()
	<-rec.gate.started // instance 0 holds the leases of 1, 2, 3 and loads
	second := make(chan map[int64]User, 1)
	go func() {
		got, err := in[1].cache.GetMany(ctx, []int64{2, 3, 4})
		if err != nil {
			t.Error(err)
		}
		second <- got
	}()
	waitFor(t, "instance 1 to wait for keys 2 and 3", func() bool {
		return in[1].stats.Snapshot().Get(stats.LeaseWaited) == 2
	})
	rec.gate.open()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	got := <-second
	for _, id := range []int64{2, 3, 4} {
		if got[id].ID != id {
			t.Errorf("instance 1: key %d = %+v", id, got[id])
		}
	}
	if calls := rec.loaded(); len(calls) != 2 || !slices.Equal(calls[0], []int64{1, 2, 3}) || !slices.Equal(calls[1], []int64{4}) {
		t.Fatalf("BatchLoader calls %v, want [1 2 3] then [4]", calls)
	}
	if s := in[1].stats.Snapshot(); s.Get(stats.LeaseGranted) != 1 || s.Get(stats.LeaseLost) != 0 {
		t.Fatalf("instance 1: %d leases granted, %d lost; want 1, 0", s.Get(stats.LeaseGranted), s.Get(stats.LeaseLost))
	}
	for _, x := range in {
		for id := int64(1); id <= 4; id++ {
			if u := x.get(t, id); u.ID != id {
				t.Fatalf("Get(%d) = %+v", id, u)
			}
		}
	}
	if calls := rec.loaded(); len(calls) != 2 {
		t.Fatalf("%d BatchLoader calls after the reads, want still 2", len(calls))
	}
}

// A batch load whose key is deleted meanwhile does not store that key's
// value, releases nothing it should not, and the other keys are stored.
func TestLease_GetManyDeleteRevokes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &batchRecorder{gate: newOnceGate()}
	in, store := newInstances(t, 2, func(o *tiered.Options[int64, User]) {
		o.Loader, o.BatchLoader = nil, rec
	})
	done := make(chan error, 1)
	go func() {
		_, err := in[0].cache.GetMany(ctx, []int64{1, 2})
		done <- err
	}()
	<-rec.gate.started
	in[1].bus.DropNext(1) // only L2 can stop instance 0
	if err := in[1].cache.Delete(ctx, 2); err != nil {
		t.Fatal(err)
	}
	rec.gate.open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := in[0].stats.Snapshot().Get(stats.LeaseLost); n != 1 {
		t.Fatalf("LeaseLost = %d, want 1 (key 2)", n)
	}
	if !holdsValue(t, store, "user", 1) || holdsValue(t, store, "user", 2) {
		t.Fatalf("L2 holds key 1: %v, key 2: %v; want key 1 only", holdsValue(t, store, "user", 1), holdsValue(t, store, "user", 2))
	}
}
