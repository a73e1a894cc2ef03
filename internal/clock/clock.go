// Package clock provides a cheaper wall clock than time.Now for code that
// reads the time on every cache operation.
//
// time.Now reads two clocks (wall and monotonic); on the VMs this project is
// measured on it costs about 60 ns. [Mono] reads only the monotonic clock
// and adds the elapsed time to a wall time that it reads again once a second
// has passed since the last time, about 40 ns in all. Between two re-reads
// it follows the wall clock's rate (NTP slews both clocks alike on Linux)
// but not its steps, nor the time a suspended machine did not count: such a
// jump shows up at the next re-read, within one second.
package clock

import (
	"sync"
	"sync/atomic"
	"time"
)

// rebaseEvery is how often Mono reads the wall clock again.
const rebaseEvery = time.Second

// Mono is a wall clock derived from the monotonic clock. Make one with
// NewMono; it is safe for concurrent use.
type Mono struct{ base atomic.Pointer[time.Time] }

// NewMono returns a clock that starts at time.Now().
func NewMono() *Mono {
	m := &Mono{}
	now := time.Now()
	m.base.Store(&now)
	return m
}

// Now returns the current time: the last wall reading plus the monotonic
// time elapsed since. The result carries a monotonic reading, so Sub and
// Since between two of them are exact.
func (m *Mono) Now() time.Time {
	base := m.base.Load()
	d := time.Since(*base)
	if d >= rebaseEvery || d < 0 {
		now := time.Now()
		m.base.Store(&now)
		return now
	}
	return base.Add(d)
}

// Coarse is a clock in unix milliseconds that costs a load of a variable
// to read while it is in use: a goroutine reads the underlying clock every
// resolution and publishes the reading. When a whole resolution passes
// without a read, the goroutine stops reading and waits; the next read
// reads the underlying clock itself and wakes it. So an idle Coarse costs
// nothing, and a busy one one wakeup per resolution.
//
// A reading lags the underlying clock by up to the resolution, and by
// more when its goroutine cannot run in time (a saturated machine). Make
// one with NewCoarse and stop it with Close.
type Coarse struct {
	ms   atomic.Int64 // the last reading; 0 while the goroutine waits
	read atomic.Bool  // read since the goroutine's last tick
	now  func() time.Time
	res  time.Duration
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// NewCoarse returns a Coarse over now that reads it every resolution
// while in use.
func NewCoarse(now func() time.Time, resolution time.Duration) *Coarse {
	c := &Coarse{
		now:  now,
		res:  resolution,
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go c.run()
	return c
}

// UnixMilli returns the time in unix milliseconds.
func (c *Coarse) UnixMilli() int64 {
	if ms := c.ms.Load(); ms != 0 {
		if !c.read.Load() { // one write per tick, not per read
			c.read.Store(true)
		}
		return ms
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return c.now().UnixMilli()
}

// Close stops the goroutine; later reads read the underlying clock. It is
// idempotent.
func (c *Coarse) Close() {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
	})
}

func (c *Coarse) run() {
	defer close(c.done)
	for {
		select {
		case <-c.wake:
		case <-c.stop:
			return
		}
		if !c.tick() {
			return
		}
	}
}

// tick publishes readings every resolution until a whole resolution goes
// by unread (it returns true) or Close (false).
func (c *Coarse) tick() bool {
	c.read.Store(false)
	c.ms.Store(c.now().UnixMilli())
	t := time.NewTicker(c.res)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			c.ms.Store(0)
			return false
		case <-t.C:
			if !c.read.Swap(false) {
				c.ms.Store(0)
				return true
			}
			c.ms.Store(c.now().UnixMilli())
		}
	}
}
