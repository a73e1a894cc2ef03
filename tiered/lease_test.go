package tiered_test

import (
	"context"
	"errors"
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
