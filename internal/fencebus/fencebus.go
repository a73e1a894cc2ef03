package fencebus

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/invalidate"
)

// Bus is an invalidate.Bus that notes what its subscription hears.
type Bus struct {
	invalidate.Bus
	mu    sync.Mutex
	heard map[string]bool      // keys heard
	named map[string]time.Time // "<key>@<origin>": when last named
	lost  time.Time            // when the subscription was last lost
}

// New wraps b.
func New(b invalidate.Bus) *Bus {
	return &Bus{Bus: b, heard: map[string]bool{}, named: map[string]time.Time{}}
}

// Subscribe subscribes h, noting what it receives.
func (b *Bus) Subscribe(ns string, h invalidate.Handler) (func(), error) {
	return b.Bus.Subscribe(ns, handler{h, b})
}

// Heard reports whether the subscription heard a message naming key.
func (b *Bus) Heard(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.heard[key]
}

// History says, for a failure report, when key was last named by a message
// of each origin, and when the subscription was last lost, relative to t0.
func (b *Bus) History(key string, t0 time.Time) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for k, at := range b.named {
		if strings.HasPrefix(k, key+"@") {
			out = append(out, fmt.Sprintf("%s at %v", k, at.Sub(t0)))
		}
	}
	sort.Strings(out)
	return fmt.Sprintf("messages %v; last loss at %v", out, b.lost.Sub(t0))
}

type handler struct {
	invalidate.Handler
	b *Bus
}

func (h handler) Receive(m *invalidate.Message) {
	now := time.Now()
	h.b.mu.Lock()
	for _, k := range m.Keys {
		h.b.heard[k] = true
		h.b.named[k+"@"+m.Origin] = now
	}
	h.b.mu.Unlock()
	h.Handler.Receive(m)
}

func (h handler) Lost(r invalidate.LostReason) {
	h.Handler.Lost(r)
	h.b.mu.Lock()
	h.b.lost = time.Now()
	h.b.mu.Unlock()
}

// Timeout bounds Fence.
const Timeout = 30 * time.Second

// Fence makes each of buses publish the fence "fence-<id>-<i>" on
// namespace ns (retrying while publishing fails, as during a failover),
// then waits until every bus heard every fence; it fails t after Timeout.
// A bus that subscribes again after a fence went out (a restarted server,
// a failover) never hears it: the fences go out again every
// republishEvery until every bus heard them. That keeps the fence's
// promise, since a bus that subscribed again flushed L1 as it did.
func Fence(t testing.TB, ns, id string, buses ...*Bus) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	key := func(i int) string { return fmt.Sprintf("fence-%s-%d", id, i) }
	publish := func() {
		for i, b := range buses {
			for {
				err := b.Publish(context.Background(), &invalidate.Message{Namespace: ns, Keys: []string{key(i)}})
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("publishing fence %s: %v", key(i), err)
				}
				time.Sleep(10 * time.Millisecond) // a retry pause, not a wait for an outcome
			}
		}
	}
	heard := func() (string, bool) {
		for _, b := range buses {
			for i := range buses {
				if !b.Heard(key(i)) {
					return key(i), false
				}
			}
		}
		return "", true
	}
	publish()
	last := time.Now()
	for {
		missing, ok := heard()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for fence %s", missing)
		}
		if time.Since(last) > republishEvery {
			publish()
			last = time.Now()
		}
		time.Sleep(time.Millisecond) // a poll interval
	}
}

// republishEvery is how long Fence waits for its fences before it sends
// them again.
const republishEvery = 500 * time.Millisecond
