package clock_test

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tiercache/tiercache/internal/clock"
)

// countingClock is time.Now that counts its reads.
type countingClock struct{ reads atomic.Int64 }

func (c *countingClock) Now() time.Time {
	c.reads.Add(1)
	return time.Now()
}

// While read, a Coarse lags the clock by at most its resolution and reads
// the clock once per resolution, not once per read; left alone, it stops
// reading; read again, it starts again.
func TestCoarse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		under := &countingClock{}
		c := clock.NewCoarse(under.Now, time.Millisecond)
		defer c.Close()

		// Busy: 1,000 reads 100 µs apart, 100 ms in all.
		start := under.reads.Load()
		for range 1000 {
			got, want := c.UnixMilli(), time.Now().UnixMilli()
			if got > want || got < want-1 {
				t.Fatalf("UnixMilli() = %d, the clock says %d", got, want)
			}
			time.Sleep(100 * time.Microsecond)
		}
		if n := under.reads.Load() - start; n > 110 {
			t.Errorf("1,000 reads over 100 ms read the clock %d times, want about 100", n)
		}

		// Idle: after a tick without a read, it stops reading the clock.
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		idle := under.reads.Load()
		time.Sleep(time.Second)
		synctest.Wait()
		if n := under.reads.Load() - idle; n != 0 {
			t.Errorf("an idle Coarse read the clock %d times in 1 s", n)
		}

		// Read again: right, and running again.
		if got, want := c.UnixMilli(), time.Now().UnixMilli(); got != want {
			t.Errorf("first read after idling = %d, want %d", got, want)
		}
		synctest.Wait()
		before := under.reads.Load()
		for range 100 {
			c.UnixMilli()
			time.Sleep(100 * time.Microsecond)
		}
		if n := under.reads.Load() - before; n > 15 {
			t.Errorf("100 reads over 10 ms after waking read the clock %d times, want about 10", n)
		}
	})
}

// Close is idempotent, and a closed Coarse reads the clock.
func TestCoarseClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := clock.NewCoarse(time.Now, time.Millisecond)
		c.UnixMilli()
		c.Close()
		c.Close()
		time.Sleep(5 * time.Second)
		if got, want := c.UnixMilli(), time.Now().UnixMilli(); got != want {
			t.Errorf("UnixMilli() after Close = %d, want %d", got, want)
		}
	})
}

var sinkMs int64

func BenchmarkCoarse(b *testing.B) {
	c := clock.NewCoarse(time.Now, time.Millisecond)
	defer c.Close()
	mono := clock.NewMono()
	b.Run("coarse", func(b *testing.B) {
		for b.Loop() {
			sinkMs = c.UnixMilli()
		}
	})
	b.Run("mono", func(b *testing.B) {
		for b.Loop() {
			sinkMs = mono.Now().UnixMilli()
		}
	})
}
