package invalidate_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tiercache/tiercache/invalidate"
)

// recorder is a Handler that logs its calls as strings ("a#1 k1,k2",
// "lost gap") and notices calls that overlap.
type recorder struct {
	mu       sync.Mutex
	events   []string
	received int
	lost     map[invalidate.LostReason]int

	busy    atomic.Bool
	overlap atomic.Bool
}

func (r *recorder) Receive(m *invalidate.Message) {
	r.enter()
	defer r.exit()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("%s#%d %s", m.Origin, m.Seq, strings.Join(m.Keys, ",")))
	r.received++
}

func (r *recorder) Lost(reason invalidate.LostReason) {
	r.enter()
	defer r.exit()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "lost "+reason.String())
	if r.lost == nil {
		r.lost = make(map[invalidate.LostReason]int)
	}
	r.lost[reason]++
}

func (r *recorder) enter() {
	if r.busy.Swap(true) {
		r.overlap.Store(true)
	}
}

func (r *recorder) exit() { r.busy.Store(false) }

// take returns the events logged since the last take.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.events
	r.events = nil
	return e
}

func (r *recorder) counts() (received int, lost map[invalidate.LostReason]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.received, maps.Clone(r.lost)
}

// newBus returns a bus of hub closed at the end of the test.
func newBus(t *testing.T, hub *invalidate.Hub, id string) *invalidate.MemBus {
	t.Helper()
	b := hub.NewBus(id)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// subscribe subscribes a new recorder to namespace on b and consumes its
// Lost(Subscribed).
func subscribe(t *testing.T, b *invalidate.MemBus, namespace string) *recorder {
	t.Helper()
	r := new(recorder)
	unsubscribe, err := b.Subscribe(namespace, r)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", namespace, err)
	}
	t.Cleanup(unsubscribe)
	if got, want := r.take(), []string{"lost subscribed"}; !slices.Equal(got, want) {
		t.Fatalf("Subscribe(%q): events %q, want %q", namespace, got, want)
	}
	return r
}

func publish(t *testing.T, b *invalidate.MemBus, namespace string, keys ...string) {
	t.Helper()
	if err := b.Publish(context.Background(), &invalidate.Message{Namespace: namespace, Keys: keys}); err != nil {
		t.Fatalf("Publish(%q, %q): %v", namespace, keys, err)
	}
}

func TestHub_NewBus(t *testing.T) {
	t.Parallel()
	hub := invalidate.NewHub()
	ids := []string{newBus(t, hub, "").ID(), newBus(t, hub, "x").ID(), newBus(t, hub, "").ID()}
	if want := []string{"mem-1", "x", "mem-2"}; !slices.Equal(ids, want) {
		t.Errorf("IDs %q, want %q", ids, want)
	}
	if id := newBus(t, invalidate.NewHub(), "").ID(); id != "mem-1" {
		t.Errorf("first generated ID of another hub: %q, want mem-1", id)
	}
}

func TestMemBus_Publish(t *testing.T) {
	t.Parallel()
	hub := invalidate.NewHub()
	a, b, c := newBus(t, hub, "a"), newBus(t, hub, "b"), newBus(t, hub, "c")
	onA, onB := new(capture), new(capture)
	for _, s := range []struct {
		bus *invalidate.MemBus
		h   invalidate.Handler
	}{{a, onA}, {b, onB}} {
		if _, err := s.bus.Subscribe("users", s.h); err != nil {
			t.Fatal(err)
		}
	}
	other := subscribe(t, c, "orders")

	m := &invalidate.Message{
		Origin: "ignored", Seq: 99, Namespace: "users",
		Keys: []string{"user:1", "user:2"}, Tags: []string{"team:3"}, Prefix: "user:", Flush: true,
	}
	before := time.Now().UnixNano()
	if err := a.Publish(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixNano()
	if m.Origin != "a" || m.Seq != 1 || m.Sent < before || m.Sent > after {
		t.Errorf("Publish set Origin %q, Seq %d, Sent %d; want a, 1 and a time in [%d, %d]", m.Origin, m.Seq, m.Sent, before, after)
	}
	if m.Keys[0] != "user:1" {
		t.Errorf("a handler's change reached the publisher's message: Keys %q", m.Keys)
	}
	for name, h := range map[string]*capture{"publisher's own subscription": onA, "other bus": onB} {
		if len(h.msgs) != 1 || !reflect.DeepEqual(h.msgs[0], *m) {
			t.Errorf("%s received %+v, want [%+v]", name, h.msgs, *m)
		}
		if !slices.Equal(h.lost, []invalidate.LostReason{invalidate.Subscribed}) {
			t.Errorf("%s: Lost(%v), want Lost(subscribed) only", name, h.lost)
		}
	}
	if got := other.take(); len(got) != 0 {
		t.Errorf("a subscription of another namespace received %q", got)
	}
}

// capture keeps a copy of each message, then scribbles over the one it
// was handed: no other receiver, nor the publisher, may see that.
type capture struct {
	msgs []invalidate.Message
	lost []invalidate.LostReason
}

func (c *capture) Receive(m *invalidate.Message) {
	cp := *m
	cp.Keys, cp.Tags = slices.Clone(m.Keys), slices.Clone(m.Tags)
	c.msgs = append(c.msgs, cp)
	m.Keys[0] = "scribbled"
}

func (c *capture) Lost(r invalidate.LostReason) { c.lost = append(c.lost, r) }

// TestMemBus_Seq checks that sequence numbers count per bus and per
// namespace, from 1.
func TestMemBus_Seq(t *testing.T) {
	t.Parallel()
	hub := invalidate.NewHub()
	a, b := newBus(t, hub, "a"), newBus(t, hub, "b")
	users, orders := subscribe(t, b, "users"), subscribe(t, a, "orders")
	publish(t, a, "users", "u1")
	publish(t, a, "orders", "o1")
	publish(t, a, "users", "u2")
	publish(t, b, "users", "u3")
	publish(t, b, "orders", "o2")
	publish(t, a, "orders", "o3")
	if got, want := users.take(), []string{"a#1 u1", "a#2 u2", "b#1 u3"}; !slices.Equal(got, want) {
		t.Errorf("users: %q, want %q", got, want)
	}
	if got, want := orders.take(), []string{"a#1 o1", "b#1 o2", "a#2 o3"}; !slices.Equal(got, want) {
		t.Errorf("orders: %q, want %q", got, want)
	}
}

// TestMemBus_Faults drives a publisher "a" and a receiving bus "b" through
// the injected faults and checks what the receiver's handler sees.
func TestMemBus_Faults(t *testing.T) {
	t.Parallel()
	errDown := errors.New("connection refused")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		run  func(t *testing.T, a, b *invalidate.MemBus)
		want []string
	}{
		{
			name: "no fault",
			run: func(t *testing.T, a, _ *invalidate.MemBus) {
				publish(t, a, "ns", "k1")
				publish(t, a, "ns", "k2", "k3")
			},
			want: []string{"a#1 k1", "a#2 k2,k3"},
		},
		{
			name: "drop next",
			run: func(t *testing.T, a, _ *invalidate.MemBus) {
				publish(t, a, "ns", "k1")
				a.DropNext(2)
				publish(t, a, "ns", "k2")
				publish(t, a, "ns", "k3")
				publish(t, a, "ns", "k4")
				publish(t, a, "ns", "k5")
			},
			want: []string{"a#1 k1", "lost gap", "a#4 k4", "a#5 k5"},
		},
		{
			name: "drop before the first message heard",
			run: func(t *testing.T, a, _ *invalidate.MemBus) {
				a.DropNext(1)
				publish(t, a, "ns", "k1")
				publish(t, a, "ns", "k2")
			},
			want: []string{"a#2 k2"}, // a first message is no gap: Subscribed flushed
		},
		{
			name: "drop canceled",
			run: func(t *testing.T, a, _ *invalidate.MemBus) {
				a.DropNext(3)
				a.DropNext(0)
				publish(t, a, "ns", "k1")
			},
			want: []string{"a#1 k1"},
		},
		{
			name: "publish error",
			run: func(t *testing.T, a, _ *invalidate.MemBus) {
				publish(t, a, "ns", "k1")
				a.SetPublishError(errDown)
				for range 2 {
					err := a.Publish(context.Background(), &invalidate.Message{Namespace: "ns", Keys: []string{"k2"}})
					if !errors.Is(err, errDown) || !strings.HasPrefix(err.Error(), "invalidate: ") {
						t.Errorf("Publish with an error set: %v, want an error wrapping %v", err, errDown)
					}
				}
				a.SetPublishError(nil)
				publish(t, a, "ns", "k3")
			},
			want: []string{"a#1 k1", "lost gap", "a#4 k3"},
		},
		{
			name: "publish with a done context",
			run: func(t *testing.T, a, _ *invalidate.MemBus) {
				publish(t, a, "ns", "k1")
				if err := a.Publish(canceled, &invalidate.Message{Namespace: "ns"}); !errors.Is(err, context.Canceled) {
					t.Errorf("Publish with a canceled context: %v", err)
				}
				publish(t, a, "ns", "k2")
			},
			want: []string{"a#1 k1", "lost gap", "a#3 k2"},
		},
		{
			name: "faults of another bus",
			run: func(t *testing.T, a, b *invalidate.MemBus) {
				b.DropNext(1)
				b.SetPublishError(errDown)
				publish(t, a, "ns", "k1")
				publish(t, a, "ns", "k2")
			},
			want: []string{"a#1 k1", "a#2 k2"},
		},
		{
			name: "reconnect",
			run: func(t *testing.T, a, b *invalidate.MemBus) {
				publish(t, a, "ns", "k1")
				b.Reconnect()
				publish(t, a, "ns", "k2")
				a.Reconnect() // the publisher's: not b's subscriptions
			},
			want: []string{"a#1 k1", "lost resubscribed", "a#2 k2"},
		},
		{
			name: "reconnect keeps the numbers heard",
			run: func(t *testing.T, a, b *invalidate.MemBus) {
				publish(t, a, "ns", "k1")
				a.DropNext(1)
				publish(t, a, "ns", "k2")
				b.Reconnect()
				// A gap across the reconnection: the lost message may
				// have come after the flush, so it flushes again.
				publish(t, a, "ns", "k3")
				a.DropNext(1)
				publish(t, a, "ns", "k4")
				publish(t, a, "ns", "k5")
			},
			want: []string{"a#1 k1", "lost resubscribed", "lost gap", "a#3 k3", "lost gap", "a#5 k5"},
		},
		{
			name: "gaps of one origin do not concern another",
			run: func(t *testing.T, a, b *invalidate.MemBus) {
				publish(t, a, "ns", "k1")
				publish(t, b, "ns", "k2")
				a.DropNext(1)
				publish(t, a, "ns", "k3")
				publish(t, b, "ns", "k4")
				publish(t, a, "ns", "k5")
			},
			want: []string{"a#1 k1", "b#1 k2", "b#2 k4", "lost gap", "a#3 k5"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hub := invalidate.NewHub()
			a, b := newBus(t, hub, "a"), newBus(t, hub, "b")
			r := subscribe(t, b, "ns")
			tt.run(t, a, b)
			if got := r.take(); !slices.Equal(got, tt.want) {
				t.Errorf("events:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestMemBus_Subscribe(t *testing.T) {
	t.Parallel()
	hub := invalidate.NewHub()
	a, b := newBus(t, hub, "a"), newBus(t, hub, "b")

	if _, err := a.Subscribe("ns", nil); err == nil {
		t.Errorf("Subscribe with a nil handler: no error")
	}
	first := new(recorder)
	unsubscribe, err := a.Subscribe("ns", first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Subscribe("ns", new(recorder)); !errors.Is(err, invalidate.ErrSubscribed) {
		t.Errorf("second Subscribe of a namespace: %v, want ErrSubscribed", err)
	}
	subscribe(t, a, "other") // another namespace
	onB := subscribe(t, b, "ns")

	publish(t, b, "ns", "k1")
	unsubscribe()
	unsubscribe() // idempotent
	publish(t, b, "ns", "k2")
	if got, want := first.take(), []string{"lost subscribed", "b#1 k1"}; !slices.Equal(got, want) {
		t.Errorf("subscription ended after b#1: %q, want %q", got, want)
	}

	again := subscribe(t, a, "ns") // the namespace is free again
	publish(t, b, "ns", "k3")
	if got, want := again.take(), []string{"b#3 k3"}; !slices.Equal(got, want) {
		t.Errorf("new subscription: %q, want %q", got, want)
	}
	if got, want := onB.take(), []string{"b#1 k1", "b#2 k2", "b#3 k3"}; !slices.Equal(got, want) {
		t.Errorf("the other bus's subscription: %q, want %q", got, want)
	}
}

func TestMemBus_Close(t *testing.T) {
	t.Parallel()
	hub := invalidate.NewHub()
	a, b := newBus(t, hub, "a"), newBus(t, hub, "b")
	onA := subscribe(t, a, "ns")
	onB := new(recorder)
	unsubscribe, err := b.Subscribe("ns", onB)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, b, "ns", "k1")

	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	unsubscribe() // after Close: nothing left to do
	if err := b.Publish(context.Background(), &invalidate.Message{Namespace: "ns"}); !errors.Is(err, invalidate.ErrClosed) {
		t.Errorf("Publish after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Subscribe("ns2", new(recorder)); !errors.Is(err, invalidate.ErrClosed) {
		t.Errorf("Subscribe after Close: %v, want ErrClosed", err)
	}
	b.Reconnect()
	b.DropNext(1)
	b.SetPublishError(errors.New("x"))
	publish(t, a, "ns", "k2") // the other bus goes on

	if got, want := onB.take(), []string{"lost subscribed", "b#1 k1"}; !slices.Equal(got, want) {
		t.Errorf("closed bus's subscription: %q, want %q", got, want)
	}
	if got, want := onA.take(), []string{"b#1 k1", "a#1 k2"}; !slices.Equal(got, want) {
		t.Errorf("open bus's subscription: %q, want %q", got, want)
	}
}

// TestMemBus_Concurrent publishes from many goroutines on several buses,
// reconnects and subscribes meanwhile, and checks that every message
// arrives, that no handler call overlaps another, and that no gap is
// reported: each bus delivers its messages in order.
func TestMemBus_Concurrent(t *testing.T) {
	t.Parallel()
	const (
		buses      = 4
		publishers = 4 // goroutines per bus
		messages   = 50
	)
	hub := invalidate.NewHub()
	var bs []*invalidate.MemBus
	var rs []*recorder
	for range buses {
		b := newBus(t, hub, "")
		bs = append(bs, b)
		rs = append(rs, subscribe(t, b, "ns"))
	}
	var wg sync.WaitGroup
	for _, b := range bs {
		for range publishers {
			wg.Go(func() {
				for i := range messages {
					m := &invalidate.Message{Namespace: "ns", Keys: []string{fmt.Sprint(i)}}
					if err := b.Publish(context.Background(), m); err != nil {
						t.Error(err)
					}
				}
			})
		}
	}
	wg.Go(func() {
		for range 20 {
			bs[0].Reconnect()
		}
	})
	wg.Go(func() { // subscriptions come and go on another namespace
		for range 20 {
			unsubscribe, err := bs[1].Subscribe("other", new(recorder))
			if err != nil {
				t.Error(err)
				return
			}
			if err := bs[2].Publish(context.Background(), &invalidate.Message{Namespace: "other"}); err != nil {
				t.Error(err)
			}
			unsubscribe()
		}
	})
	wg.Wait()

	for i, r := range rs {
		received, lost := r.counts()
		if want := buses * publishers * messages; received != want {
			t.Errorf("bus %d: %d messages received, want %d", i, received, want)
		}
		wantLost := map[invalidate.LostReason]int{invalidate.Subscribed: 1}
		if i == 0 {
			wantLost[invalidate.Resubscribed] = 20
		}
		if !reflect.DeepEqual(lost, wantLost) {
			t.Errorf("bus %d: Lost calls %v, want %v", i, lost, wantLost)
		}
		if r.overlap.Load() {
			t.Errorf("bus %d: handler calls overlapped", i)
		}
	}
}
