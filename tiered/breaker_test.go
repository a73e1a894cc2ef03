package tiered

import (
	"sync"
	"testing"
	"time"
)

type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestBreaker(t *testing.T) {
	clk := &manualClock{t: time.Unix(1000, 0)}
	b := &breaker{cooldown: time.Second, now: clk.now}
	if !b.allow() || b.success() {
		t.Fatal("a new breaker must be closed")
	}
	if !b.failure() {
		t.Fatal("first failure must report the breaker was closed")
	}
	if b.failure() {
		t.Fatal("second failure must report the breaker was open")
	}
	if b.allow() {
		t.Fatal("allowed during the cool-down")
	}
	clk.advance(time.Second)
	if !b.allow() {
		t.Fatal("no probe after the cool-down")
	}
	if b.allow() {
		t.Fatal("two probes at once")
	}
	// The probe never reports (its caller gave up): another probe comes one
	// cool-down later.
	clk.advance(time.Second)
	if !b.allow() {
		t.Fatal("an abandoned probe blocked L2 for good")
	}
	if !b.success() {
		t.Fatal("success must report the breaker was open")
	}
	if !b.allow() || b.success() {
		t.Fatal("breaker not closed after a successful probe")
	}
}

func TestBreakerConcurrentProbe(t *testing.T) {
	clk := &manualClock{t: time.Unix(1000, 0)}
	b := &breaker{cooldown: time.Second, now: clk.now}
	b.failure()
	clk.advance(2 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	probes := 0
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b.allow() {
				mu.Lock()
				probes++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if probes != 1 {
		t.Fatalf("%d probes, want 1", probes)
	}
}
