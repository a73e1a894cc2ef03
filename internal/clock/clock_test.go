package clock_test

import (
	"testing"
	"time"

	"github.com/tiercache/tiercache/internal/clock"
)

func TestMonoFollowsTheWallClock(t *testing.T) {
	c := clock.NewMono()
	for range 1000 {
		before := time.Now()
		got := c.Now()
		after := time.Now()
		// Both read the same monotonic clock: got lies between the two
		// wall readings, give or take the rounding of the base.
		if got.Before(before.Add(-time.Millisecond)) || got.After(after.Add(time.Millisecond)) {
			t.Fatalf("Mono.Now() = %v, outside [%v, %v]", got, before, after)
		}
	}
	a := c.Now()
	b := c.Now()
	if b.Before(a) {
		t.Fatal("Mono went backwards")
	}
}

var sink time.Time

func BenchmarkNow(b *testing.B) {
	c := clock.NewMono()
	b.Run("time.Now", func(b *testing.B) {
		for b.Loop() {
			sink = time.Now()
		}
	})
	b.Run("Mono", func(b *testing.B) {
		for b.Loop() {
			sink = c.Now()
		}
	})
}
