package tiered_test

import (
	"context"
	"testing"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

func (b *lateBus) lost(r invalidate.LostReason) {
	b.mu.Lock()
	h := b.h
	b.mu.Unlock()
	h.Lost(r)
}

func (b *lateBus) receive(m *invalidate.Message) {
	b.mu.Lock()
	h := b.h
	b.mu.Unlock()
	h.Receive(m)
}

// A bus with a log suspends L1 when its subscription breaks, replays what
// it missed, and resumes it: L1 serves nothing in between and takes
// nothing, keeps what the replay did not name, and serves it again after.
// When the replay fails, the bus says Resubscribed and L1 is flushed.
func TestSuspended_KeepsL1(t *testing.T) {
	bus := &lateBus{}
	f := newFixture(t, func(o *tiered.Options[int64, User]) { o.Bus = bus })
	bus.subscribed()
	ctx := context.Background()
	// l1Hits reads ids and returns how many of the reads L1 served.
	l1Hits := func(ids ...int64) int64 {
		t.Helper()
		before := f.snap().Get(stats.L1Hit)
		for _, id := range ids {
			if _, err := f.cache.Get(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		return f.snap().Get(stats.L1Hit) - before
	}
	l1Hits(1, 2)
	if n := l1Hits(1, 2); n != 2 {
		t.Fatalf("%d of 2 reads served by L1 before the break", n)
	}

	bus.lost(invalidate.Suspended)
	if n := l1Hits(1, 2, 3); n != 0 {
		t.Errorf("%d reads served by L1 while the subscription was suspended", n)
	}
	// The replay names key 2, written by another instance meanwhile.
	bus.receive(&invalidate.Message{Origin: "other", Seq: 1, Namespace: "user", Keys: []string{"2"}})
	bus.lost(invalidate.Resumed)
	if n := l1Hits(1); n != 1 {
		t.Errorf("key 1, which the replay did not name, was not served by L1 after Resumed")
	}
	if n := l1Hits(2); n != 0 {
		t.Errorf("key 2, named by the replay, was served by L1 after Resumed")
	}
	if n := l1Hits(3); n != 0 {
		t.Errorf("key 3, read while suspended, was served by L1: L1 took it while suspended")
	}
	if got := f.snap().Get(stats.Resumed); got != 1 {
		t.Errorf("stats.Resumed = %d, want 1", got)
	}

	bus.lost(invalidate.Suspended)
	bus.lost(invalidate.Resubscribed) // the replay failed
	if n := l1Hits(1, 2, 3); n != 0 {
		t.Errorf("%d reads served by L1 after a failed replay (Resubscribed flushes)", n)
	}
	if n := l1Hits(1, 2, 3); n != 3 {
		t.Errorf("%d of 3 reads served by L1 once refilled after Resubscribed", n)
	}
}
