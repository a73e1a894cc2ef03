package stats_test

import (
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/tiered/stats"
)

func TestCounter(t *testing.T) {
	t.Parallel()
	var c stats.Counter
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				c.Add(stats.L1Hit, 1)
				c.Add(stats.L1Miss, 2)
				c.Observe(stats.LoadSuccess, time.Millisecond)
			}
		}()
	}
	wg.Wait()
	c.Add(stats.Event(250), 1) // unknown events are ignored
	c.Observe(stats.Event(250), time.Second)
	s := c.Snapshot()
	if s.Get(stats.L1Hit) != 8000 || s.Get(stats.L1Miss) != 16000 {
		t.Fatalf("hits %d, misses %d", s.Get(stats.L1Hit), s.Get(stats.L1Miss))
	}
	if s.Get(stats.LoadSuccess) != 8000 || s.Duration(stats.LoadSuccess) != 8*time.Second {
		t.Fatalf("loads %d taking %v", s.Get(stats.LoadSuccess), s.Duration(stats.LoadSuccess))
	}
	if s.Loads() != 8000 {
		t.Fatalf("Loads() = %d", s.Loads())
	}
	if r := s.HitRatio(stats.L1Hit); r < 0.333 || r > 0.334 {
		t.Fatalf("L1 hit ratio %v, want 1/3", r)
	}
	if s.HitRatio(stats.L2Hit) != 0 || s.HitRatio(stats.LoadFailure) != 0 {
		t.Fatal("hit ratio without lookups must be 0")
	}
	if s.Get(stats.Event(250)) != 0 || s.Duration(stats.Event(250)) != 0 {
		t.Fatal("unknown event counted")
	}
}

func TestEventNames(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, ev := range stats.Events() {
		name := ev.String()
		if name == "" || name == "unknown" || seen[name] {
			t.Fatalf("event %d has name %q", ev, name)
		}
		seen[name] = true
	}
	if stats.Event(250).String() != "unknown" {
		t.Fatal("out-of-range event name")
	}
	var _ stats.Recorder = stats.Noop{}
	stats.Noop{}.Add(stats.L1Hit, 1)
	stats.Noop{}.Observe(stats.LoadSuccess, time.Second)
}
