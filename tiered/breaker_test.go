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
	allowed := func() bool {
		ok, _ := b.allow()
		return ok
	}
	if !allowed() || b.success() {
		t.Fatal("a new breaker must be closed")
	}
	if !b.failure() {
		t.Fatal("first failure must report the breaker was closed")
	}
	if b.failure() {
		t.Fatal("second failure must report the breaker was open")
	}
	if allowed() {
		t.Fatal("allowed during the cool-down")
	}
	clk.advance(time.Second)
	ok, probe := b.allow()
	if !ok || probe == 0 {
		t.Fatal("no probe after the cool-down")
	}
	if allowed() {
		t.Fatal("two probes at once")
	}
	// The probe's call is still running (a server that fails slowly): no
	// other probe, however many cool-downs pass.
	clk.advance(3 * time.Second)
	if allowed() {
		t.Fatal("a second probe while the first one runs")
	}
	// It fails: the next probe comes a cool-down later.
	b.failure()
	b.probed(probe)
	if allowed() {
		t.Fatal("a probe right after the last one failed")
	}
	clk.advance(time.Second)
	ok, probe = b.allow()
	if !ok {
		t.Fatal("no probe a cool-down after the last one failed")
	}
	// This one never returns (a store without timeouts): after probeLimit
	// another may go.
	clk.advance(probeLimit - time.Nanosecond)
	if allowed() {
		t.Fatal("a second probe before probeLimit")
	}
	clk.advance(time.Nanosecond)
	ok, late := b.allow()
	if !ok {
		t.Fatal("a hung probe blocked L2 for good")
	}
	b.probed(probe) // the hung one returns at last: it does not end the new one
	if allowed() {
		t.Fatal("the old probe's return ended the running one")
	}
	b.probed(late)
	if !b.success() {
		t.Fatal("success must report the breaker was open")
	}
	if !allowed() || b.success() {
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
			if ok, _ := b.allow(); ok {
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
