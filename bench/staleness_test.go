package bench

import (
	"context"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

const (
	// stalenessWindow is how long the reader reads after a write when it
	// keeps reading the old value.
	stalenessWindow = 50 * time.Millisecond
	// stalenessDelivery bounds the wait for tiercache's invalidation
	// message to reach the reader.
	stalenessDelivery = time.Second
	// stalenessPoll is how often that wait looks.
	stalenessPoll = 100 * time.Microsecond
)

// An invalidationCounter tells how many invalidation messages of other
// instances an instance applied to its local tier (tiercache's).
type invalidationCounter interface {
	Invalidations() int64
}

// BenchmarkStaleness measures how long an instance keeps serving a value
// that another instance has just overwritten. Each library runs two
// instances on the same Redis: A writes, B reads. Each op takes a key never
// read before (so that nothing left by an earlier op, such as a local copy
// that outlives the window, weighs on the next): B reads it three times,
// so that its local tier holds version 1; A writes version 2 (the source's
// write, then Set); from Set's return on, B reads the key again and again
// until it returns version 2 or stalenessWindow has passed.
// ns/op is the whole op: B's three reads, the write and the window.
//
// Metrics, over all ops:
//
//   - stale-first/100: writes after which B's first read (right after Set
//     returned) was stale, per 100 writes;
//   - stale-at-end/100: writes after which B was still stale at the end of
//     the window, per 100 writes;
//   - window-p50-ms, window-p90-ms, window-max-ms: the staleness window
//     (median, 90th percentile, largest), from Set's return
//     to the start of B's first fresh read (0 when the first read was
//     fresh; stalenessWindow when none was);
//   - stale-after-delivery/100 (tiercache only): stale reads on B that
//     started after B had applied A's invalidation message (its
//     Invalidations count grew past its value before the Set), per 100
//     writes. They are the reads of the window that started after the
//     delivery, and one more read once the delivery is seen (waited for,
//     up to stalenessDelivery, after the window).
//
// Only the libraries with a shared tier run: ristretto has none, so a write
// never reaches another instance. go-redis/cache has no cross-instance
// invalidation: B serves its local copy for the whole local TTL (a minute),
// so each of its ops lasts the whole window. rueidis and go-redis-csc drop
// the local copy when Redis's tracking push arrives; go-redis+msgpack has
// no local tier and reads Redis every time.
func BenchmarkStaleness(b *testing.B) {
	var next atomic.Int64 // ids never read before, across the framework's runs
	for _, lib := range Libraries() {
		if !lib.Remote {
			continue
		}
		b.Run(lib.Name, func(b *testing.B) {
			addr := redisAddr(b)
			src := newSource(0)
			cfg := Config{Addr: addr, Loader: src.Load}
			writer, reader := newPeer(b, lib, cfg), newPeer(b, lib, cfg)
			if writer == nil || reader == nil {
				b.Skipf("%s: unsupported configuration", lib.Name)
			}
			ready(b, writer)
			ready(b, reader)
			inv, _ := reader.(invalidationCounter)
			ctx := context.Background()
			var total stalenessTotal
			b.ReportAllocs()
			for b.Loop() {
				total.add(stalenessRound(b, ctx, src, writer, reader, inv, next.Add(1)))
			}
			b.StopTimer()
			total.report(b, inv != nil)
		})
	}
}

// staleRound is what one op of BenchmarkStaleness saw.
type staleRound struct {
	staleFirst         bool          // the first read after Set was stale
	staleAtEnd         bool          // still stale at the end of the window
	window             time.Duration // Set's return to the first fresh read
	staleAfterDelivery int           // stale reads after the invalidation was applied
}

// stalenessRound is one op of BenchmarkStaleness on the key of id: B
// (reader) reads it into its local tier, A (writer) writes it, and B reads
// it until it is fresh. inv is B's invalidation count when it has one.
func stalenessRound(b *testing.B, ctx context.Context, src *source, writer, reader Peer, inv invalidationCounter, id int64) staleRound {
	key := Key(id)
	for i := range 3 {
		v, err := reader.Get(ctx, key)
		if err != nil {
			b.Fatalf("B: Get %s (read %d before the write): %v", key, i+1, err)
		}
		if v.ID != id || v.Version != 1 {
			b.Fatalf("B: Get %s (read %d before the write) = id %d version %d, want id %d version 1",
				key, i+1, v.ID, v.Version, id)
		}
	}
	var before int64
	if inv != nil {
		before = inv.Invalidations()
	}
	w := src.write(id)
	if err := writer.Set(ctx, key, w); err != nil {
		b.Fatalf("A: Set %s: %v", key, err)
	}
	set := time.Now()
	r := staleRound{window: stalenessWindow}
	// fresh reads key on B, checks its id, and tells whether it returned
	// the written version; delivered says that B had applied the
	// invalidation when the read started.
	fresh := func(delivered bool) bool {
		v, err := reader.Get(ctx, key)
		if err != nil {
			b.Fatalf("B: Get %s after the write: %v", key, err)
		}
		if v.ID != id {
			b.Fatalf("B: Get %s after the write returned id %d", key, v.ID)
		}
		if v.Version >= w.Version {
			return true
		}
		if delivered {
			r.staleAfterDelivery++
		}
		return false
	}
	for first := true; ; first = false {
		start := time.Now()
		if fresh(inv != nil && inv.Invalidations() > before) {
			r.window = start.Sub(set)
			break
		}
		r.staleFirst = r.staleFirst || first
		if time.Since(set) >= stalenessWindow {
			r.staleAtEnd = true
			break
		}
		// Read again at once: a timer here fires about every millisecond,
		// longer than the windows measured. Gosched lets the goroutine
		// that applies invalidations run on a busy machine.
		runtime.Gosched()
	}
	if inv != nil {
		if !awaitInvalidation(inv, before) {
			b.Fatalf("B applied no invalidation within %v of A's Set of %s (count %d before the Set, %d now)",
				stalenessDelivery, key, before, inv.Invalidations())
		}
		fresh(true) // counts itself when stale
	}
	return r
}

// awaitInvalidation waits, up to stalenessDelivery, until inv's count
// grows past before, and reports whether it did.
func awaitInvalidation(inv invalidationCounter, before int64) bool {
	if inv.Invalidations() > before {
		return true
	}
	deadline := time.Now().Add(stalenessDelivery)
	poll := time.NewTicker(stalenessPoll)
	defer poll.Stop()
	for inv.Invalidations() <= before {
		if time.Now().After(deadline) {
			return false
		}
		<-poll.C
	}
	return true
}

// stalenessTotal sums the rounds of a benchmark.
type stalenessTotal struct {
	writes             int
	staleFirst         int
	staleAtEnd         int
	staleAfterDelivery int
	windows            []time.Duration
}

func (s *stalenessTotal) add(r staleRound) {
	s.writes++
	if r.staleFirst {
		s.staleFirst++
	}
	if r.staleAtEnd {
		s.staleAtEnd++
	}
	s.staleAfterDelivery += r.staleAfterDelivery
	s.windows = append(s.windows, r.window)
}

// report reports s's metrics; afterDelivery says whether the reader
// counted its invalidations (stale-after-delivery/100).
func (s *stalenessTotal) report(b *testing.B, afterDelivery bool) {
	if s.writes == 0 {
		return
	}
	n := float64(s.writes)
	slices.Sort(s.windows)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(100*float64(s.staleFirst)/n, "stale-first/100")
	b.ReportMetric(100*float64(s.staleAtEnd)/n, "stale-at-end/100")
	b.ReportMetric(ms(s.windows[(len(s.windows)-1)/2]), "window-p50-ms")
	b.ReportMetric(ms(s.windows[(len(s.windows)-1)*9/10]), "window-p90-ms")
	b.ReportMetric(ms(s.windows[len(s.windows)-1]), "window-max-ms")
	if afterDelivery {
		b.ReportMetric(100*float64(s.staleAfterDelivery)/n, "stale-after-delivery/100")
	}
}
