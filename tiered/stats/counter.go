package stats

import (
	"sync/atomic"
	"time"
	"unsafe"
)

// Counter is a Recorder that keeps running totals in memory. Its zero value
// is ready to use; it must not be copied after first use.
type Counter struct {
	// counts has stripes copies of each event's count (see stripeOf):
	// Add, on the hot path of every core, writes its goroutine's copy.
	// Gauges live in copy 0.
	counts [stripes][numEvents + stripeGap]atomic.Int64
	nanos  [numEvents]atomic.Int64
	calls  [numOps][numOutcomes]atomic.Int64
	l2ns   [numOps]atomic.Int64
}

var (
	_ Recorder = (*Counter)(nil)
	_ Gauger   = (*Counter)(nil)
)

// Gauge sets ev's total to value: Snapshot.Get returns the last value set.
func (c *Counter) Gauge(ev Event, value int64) {
	if ev < numEvents {
		c.counts[0][ev].Store(value)
	}
}

// Add counts n occurrences of ev.
func (c *Counter) Add(ev Event, n int) {
	if ev < numEvents {
		c.counts[stripeOf()][ev].Add(int64(n))
	}
}

// Observe counts one occurrence of ev and adds d to its total duration.
func (c *Counter) Observe(ev Event, d time.Duration) {
	if ev < numEvents {
		c.counts[stripeOf()][ev].Add(1)
		c.nanos[ev].Add(int64(d))
	}
}

// ObserveL2 counts one call of op that ended with outcome and adds d to the
// op's total duration.
func (c *Counter) ObserveL2(op Op, outcome Outcome, d time.Duration) {
	if op < numOps && outcome < numOutcomes {
		c.calls[op][outcome].Add(1)
		c.l2ns[op].Add(int64(d))
	}
}

// Snapshot returns the totals at this moment. Each total is read atomically;
// the set as a whole is not a single instant.
func (c *Counter) Snapshot() Snapshot {
	var s Snapshot
	for i := range numEvents {
		for st := range c.counts {
			s.counts[i] += c.counts[st][i].Load()
		}
		s.durations[i] = time.Duration(c.nanos[i].Load())
	}
	for op := range c.calls {
		for o := range c.calls[op] {
			s.calls[op][o] = c.calls[op][o].Load()
		}
		s.l2durations[op] = time.Duration(c.l2ns[op].Load())
	}
	return s
}

// Snapshot is a copy of a Counter's totals.
type Snapshot struct {
	counts      [numEvents]int64
	durations   [numEvents]time.Duration
	calls       [numOps][numOutcomes]int64
	l2durations [numOps]time.Duration
}

// L2Calls returns how many calls of op ended with outcome.
func (s Snapshot) L2Calls(op Op, outcome Outcome) int64 {
	if op < numOps && outcome < numOutcomes {
		return s.calls[op][outcome]
	}
	return 0
}

// L2Duration returns the total time spent in calls of op.
func (s Snapshot) L2Duration(op Op) time.Duration {
	if op < numOps {
		return s.l2durations[op]
	}
	return 0
}

// Get returns how many times ev occurred (for a gauge: its last value).
func (s Snapshot) Get(ev Event) int64 {
	if ev < numEvents {
		return s.counts[ev]
	}
	return 0
}

// Duration returns the total time observed for ev.
func (s Snapshot) Duration(ev Event) time.Duration {
	if ev < numEvents {
		return s.durations[ev]
	}
	return 0
}

// Loads returns the number of loader calls of every outcome.
func (s Snapshot) Loads() int64 {
	return s.counts[LoadSuccess] + s.counts[LoadNotFound] + s.counts[LoadFailure]
}

// HitRatio returns the share of lookups answered by tier: hits/(hits+misses)
// for L1Hit or L2Hit, 0 when there were none.
func (s Snapshot) HitRatio(hit Event) float64 {
	var miss Event
	switch hit {
	case L1Hit:
		miss = L1Miss
	case L2Hit:
		miss = L2Miss
	default:
		return 0
	}
	total := s.counts[hit] + s.counts[miss]
	if total == 0 {
		return 0
	}
	return float64(s.counts[hit]) / float64(total)
}

// stripes is how many copies of its counts a Counter keeps, and stripeGap
// the room between two copies (128 bytes), so that no cache line holds
// counts of two copies.
const (
	stripes   = 8
	stripeGap = 16
)

// stripeOf returns the copy of the counts that the calling goroutine adds
// to: goroutine stacks are at least 8 KiB apart, so the address of a local
// variable in units of 8 KiB tells goroutines apart at no cost. A count
// shared by every core is a cache line that each Add takes from the core
// that wrote it last; with copies, two goroutines running at once share
// one once in stripes.
func stripeOf() int {
	var here byte
	return int(uintptr(unsafe.Pointer(&here))>>13) % stripes
}
