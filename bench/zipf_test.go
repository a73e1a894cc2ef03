package bench

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// The mixed Zipf workload of BenchmarkMixed_Zipf.
const (
	// zipfKeys is how many distinct ids the workload draws from.
	zipfKeys = 1_000_000
	// zipfS is the Zipf exponent: P(rank k) is proportional to (1+k)^-s.
	zipfS = 1.01
	// zipfLocalEntries is the local tier's capacity: 1% of zipfKeys.
	zipfLocalEntries = zipfKeys / 100
	// zipfReadsPer10 is how many operations in 10 are reads; the others
	// are writes.
	zipfReadsPer10 = 9
	// zipfScramble maps a Zipf rank to an id (rank*zipfScramble mod
	// zipfKeys), so that the hot keys are not ids 0, 1, 2... It is odd and
	// does not end in 0 or 5, so it is coprime to 10^6 = 2^6*5^6 and the
	// map is a bijection on [0, zipfKeys).
	zipfScramble = 777_777
	// zipfWarmup is how many operations of the workload run, untimed,
	// before the first measurement of each library, so that the local tier
	// and Redis are in a steady state.
	zipfWarmup = 200_000
	// zipfParallelism is the RunParallel multiplier: 8 goroutines per
	// GOMAXPROCS (16 on 2 cores).
	zipfParallelism = 8
	// zipfGrain is how many operations a warm-up goroutine claims at once.
	zipfGrain = 100
)

// zipfID returns the id of a Zipf rank in [0, zipfKeys).
func zipfID(rank uint64) int64 { return int64(rank * zipfScramble % zipfKeys) }

// zipfWorker is one goroutine's share of the workload: its own generator
// and counters.
type zipfWorker struct {
	p     Peer
	src   *source
	r     *rand.Rand
	z     *rand.Zipf
	reads int64
}

func newZipfWorker(p Peer, src *source, seed1, seed2 uint64) *zipfWorker {
	r := rand.New(rand.NewPCG(seed1, seed2))
	return &zipfWorker{p: p, src: src, r: r, z: rand.NewZipf(r, zipfS, 1, zipfKeys-1)}
}

// op runs one operation: a read with probability 0.9, else a write of a
// new version to the source and then to the cache.
func (w *zipfWorker) op(ctx context.Context) error {
	id := zipfID(w.z.Uint64())
	if w.r.Uint32N(10) < zipfReadsPer10 {
		w.reads++
		_, err := w.p.Get(ctx, Key(id))
		return err
	}
	v := w.src.write(id)
	return w.p.Set(ctx, Key(id), v)
}

// zipfState is what a library's sub-benchmark keeps from one call to the
// next: the framework calls it with N = 1 and then with larger N, and only
// the first call builds and warms the instance.
type zipfState struct {
	p      Peer
	src    *source
	addr   string
	warmed bool
	calls  uint64 // seeds each call's generators differently
}

// BenchmarkMixed_Zipf runs a mixed workload against one instance of each
// library on a real redis-server: keys drawn from a Zipf distribution
// (s = 1.01) over 1,000,000 ids, whose ranks are scrambled so that the hot
// ids are spread out; 90% reads (Get, which loads from the source on a miss
// of every tier) and 10% writes (a new version to the source, then Set).
// The local tier holds 1% of the keys: 10,000 entries (rueidis sizes its
// cache in bytes, 10,000 times an estimate of one entry's footprint; see
// rueidis.go). Each library starts on an empty Redis, and 200,000
// operations of the same workload run untimed before the first measurement;
// the instance is then kept while the framework grows b.N. The timed
// operations run on 8 goroutines per GOMAXPROCS, each with its own seeded
// generator.
//
// Metrics, over the timed operations only:
//   - ns/op and ops/s: wall time per operation and operations per second
//     (b.N / elapsed seconds) of all goroutines together.
//   - l1-hit-%: the share of reads that the local tier served (left out
//     for go-redis+msgpack, which has no local tier).
//   - hit-%: the share of reads that did not call the loader (served by
//     the local tier or by Redis). For ristretto, which has no Redis, it is
//     its local hit ratio.
//   - redis-cpu-µs/op: the CPU time redis-server spent per operation
//     (INFO cpu), which bounds ops/s when Redis shares the machine's two
//     cores with the benchmark.
//   - B/op and allocs/op, of the benchmark's goroutines and the library's.
func BenchmarkMixed_Zipf(b *testing.B) {
	ctx := context.Background()
	states := make(map[string]*zipfState)
	for _, lib := range withVariants(Libraries(), WithoutLeases(), WithRistretto(), WithRueidisStore()) {
		b.Run(lib.Name, func(b *testing.B) {
			b.ReportAllocs()
			b.StopTimer()
			st := states[lib.Name]
			if st == nil {
				st = &zipfState{src: newSource(0), addr: redisAddr(b)}
				cfg := Config{
					Addr:           st.addr,
					Loader:         st.src.Load,
					LocalEntries:   zipfLocalEntries,
					CountLocalHits: true,
				}
				// Not newPeer: it would close the instance at the end of
				// this call, and the next, larger b.N reuses it. The
				// parent closes it once the sub-benchmark is over.
				p, err := lib.New(cfg)
				if isUnsupported(err) {
					b.Skipf("%s: %v", lib.Name, err)
				}
				if err != nil {
					b.Fatalf("%s: %v", lib.Name, err)
				}
				st.p = p
				states[lib.Name] = st
				ready(b, p)
			}
			if !st.warmed {
				zipfWarm(ctx, b, st)
				if b.Failed() {
					b.FailNow()
				}
				st.warmed = true
			}
			st.calls++

			var reads atomic.Int64
			var gid atomic.Uint64
			hits0, loads0 := st.p.LocalHits(), st.src.loads.Load()
			cpu0 := redisCPU(b, st.addr)
			b.SetParallelism(zipfParallelism)
			b.ResetTimer()
			b.StartTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := newZipfWorker(st.p, st.src, st.calls, gid.Add(1))
				defer func() { reads.Add(w.reads) }()
				for pb.Next() {
					if err := w.op(ctx); err != nil {
						b.Errorf("%s: %v", lib.Name, err)
						return
					}
				}
			})
			b.StopTimer()
			hits1, loads1 := st.p.LocalHits(), st.src.loads.Load()
			b.ReportMetric(float64((redisCPU(b, st.addr)-cpu0).Microseconds())/float64(b.N), "redis-cpu-µs/op")

			if s := b.Elapsed().Seconds(); s > 0 {
				b.ReportMetric(float64(b.N)/s, "ops/s")
			}
			if n := reads.Load(); n > 0 {
				if hits0 >= 0 && hits1 >= 0 {
					b.ReportMetric(100*float64(hits1-hits0)/float64(n), "l1-hit-%")
				}
				b.ReportMetric(100*float64(n-(loads1-loads0))/float64(n), "hit-%")
			}
		})
		if st := states[lib.Name]; st != nil {
			if err := st.p.Close(); err != nil {
				b.Errorf("%s: close: %v", lib.Name, err)
			}
			delete(states, lib.Name)
		}
	}
}

// zipfWarm runs zipfWarmup operations of the workload on as many
// goroutines as the timed part, then waits for asynchronous local stores
// (ristretto's buffers) to apply them.
func zipfWarm(ctx context.Context, b *testing.B, st *zipfState) {
	b.Helper()
	workers := zipfParallelism * runtime.GOMAXPROCS(0)
	var left atomic.Int64
	left.Store(zipfWarmup)
	var wg sync.WaitGroup
	for g := range workers {
		w := newZipfWorker(st.p, st.src, 1<<32, uint64(g))
		wg.Go(func() {
			for {
				n := min(left.Add(-zipfGrain)+zipfGrain, zipfGrain)
				if n <= 0 {
					return
				}
				for range n {
					if err := w.op(ctx); err != nil {
						b.Errorf("warm-up: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	waitLocal(st.p)
}
