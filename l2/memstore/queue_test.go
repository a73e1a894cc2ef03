package memstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/l2test"
	"github.com/tiercache/tiercache/l2/memstore"
)

func TestQueueConformance(t *testing.T) {
	t.Run("FakeClock", func(t *testing.T) {
		l2test.RunQueue(t, l2test.QueueHarness{New: func(t *testing.T) l2test.QueueBackend {
			clock := newFakeClock()
			b := memstore.NewQueueBackend(&memstore.QueueOptions{Now: clock.Now, ClaimAfter: time.Minute})
			return l2test.QueueBackend{
				Queue:      func(_ *testing.T, ns, consumer string) l2.Queue { return b.Queue(ns, consumer) },
				ClaimAfter: time.Minute,
				Advance:    clock.Advance,
			}
		}})
	})
	t.Run("RealClock", func(t *testing.T) {
		const claimAfter = 100 * time.Millisecond
		l2test.RunQueue(t, l2test.QueueHarness{New: func(t *testing.T) l2test.QueueBackend {
			b := memstore.NewQueueBackend(&memstore.QueueOptions{ClaimAfter: claimAfter})
			return l2test.QueueBackend{
				Queue:      func(_ *testing.T, ns, consumer string) l2.Queue { return b.Queue(ns, consumer) },
				ClaimAfter: claimAfter,
			}
		}})
	})
}

func TestQueueClaimTimeoutExact(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := memstore.NewQueueBackend(&memstore.QueueOptions{Now: clock.Now, ClaimAfter: time.Second})
	ctx := t.Context()
	qa, qb := b.Queue("ns", "a"), b.Queue("ns", "b")
	if _, err := qa.Add(ctx, []string{"k"}); err != nil {
		t.Fatal(err)
	}
	if got, err := qa.Read(ctx, 1); err != nil || len(got) != 1 {
		t.Fatalf("Read = %+v, %v", got, err)
	}
	clock.Advance(time.Second - time.Nanosecond)
	if got, err := qb.Read(ctx, 1); err != nil || len(got) != 0 {
		t.Fatalf("Read 1ns before the claim timeout = %+v, %v; want nothing", got, err)
	}
	clock.Advance(time.Nanosecond)
	if got, err := qb.Read(ctx, 1); err != nil || len(got) != 1 || got[0].Deliveries != 2 {
		t.Fatalf("Read at the claim timeout = %+v, %v; want the entry, delivered twice", got, err)
	}
}

func TestQueueDefaults(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	b := memstore.NewQueueBackend(&memstore.QueueOptions{Now: clock.Now})
	ctx := t.Context()
	q := b.Queue("ns", "a")
	if _, err := q.Add(ctx, []string{"k"}); err != nil {
		t.Fatal(err)
	}
	if got, err := q.Read(ctx, 1); err != nil || len(got) != 1 || !got[0].Added.Equal(clock.Now()) {
		t.Fatalf("Read = %+v, %v; want the entry, added now", got, err)
	}
	clock.Advance(memstore.DefaultClaimAfter - time.Nanosecond)
	if got, _ := q.Read(ctx, 1); len(got) != 0 {
		t.Fatalf("Read before DefaultClaimAfter = %+v", got)
	}
	clock.Advance(time.Nanosecond)
	if got, _ := q.Read(ctx, 1); len(got) != 1 {
		t.Fatalf("Read at DefaultClaimAfter = %+v, want the entry", got)
	}

	defer func() {
		if recover() == nil {
			t.Error("NewQueueBackend with a negative ClaimAfter did not panic")
		}
	}()
	memstore.NewQueueBackend(&memstore.QueueOptions{ClaimAfter: -time.Second})
}

func TestQueueFaults(t *testing.T) {
	t.Parallel()
	b := memstore.NewQueueBackend(nil)
	ctx := t.Context()
	q := b.Queue("ns", "a")
	if _, err := q.Add(ctx, []string{"k"}); err != nil {
		t.Fatal(err)
	}
	down := errors.New("down")
	b.FailWith(down)
	if _, err := q.Add(ctx, []string{"k2"}); !errors.Is(err, down) {
		t.Errorf("Add: %v, want %v", err, down)
	}
	if _, err := q.Read(ctx, 10); !errors.Is(err, down) {
		t.Errorf("Read: %v, want %v", err, down)
	}
	if _, err := q.Ack(ctx, nil); !errors.Is(err, down) {
		t.Errorf("Ack: %v, want %v", err, down)
	}
	if _, _, err := q.Depth(ctx); !errors.Is(err, down) {
		t.Errorf("Depth: %v, want %v", err, down)
	}
	b.FailWith(nil)

	var ops []string
	b.FailWhen(func(op string) error {
		ops = append(ops, op)
		if op == "queue: ack" {
			return down
		}
		return nil
	})
	got, err := q.Read(ctx, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("Read = %+v, %v", got, err)
	}
	if _, err := q.Ack(ctx, got); !errors.Is(err, down) || err.Error() != "memstore: queue: ack: down" {
		t.Errorf("Ack: %v, want memstore: queue: ack: down", err)
	}
	if n, _, err := q.Depth(ctx); err != nil || n != 1 {
		t.Errorf("Depth after a failed Ack = %d, %v; want 1", n, err)
	}
	b.FailWhen(nil)
	if want := []string{"queue: read", "queue: ack", "queue: depth"}; len(ops) != 3 || ops[0] != want[0] || ops[1] != want[1] || ops[2] != want[2] {
		t.Errorf("FailWhen saw %q, want %q", ops, want)
	}
	if _, err := q.Ack(context.Background(), got); err != nil {
		t.Fatal(err)
	}
}
