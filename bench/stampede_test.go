package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	// stampedeGoroutines is how many goroutines read the cold key of one
	// stampede, split evenly over the instances.
	stampedeGoroutines = 1000
	// stampedeLoad is how long the source takes to load a key: long
	// enough that every goroutine's Get overlaps the first load.
	stampedeLoad = 50 * time.Millisecond
	// stampedeTimeout bounds one stampede, so that a library that hangs
	// fails the benchmark instead of blocking it.
	stampedeTimeout = 30 * time.Second
)

// BenchmarkStampede counts the loader calls of a stampede: stampedeGoroutines
// goroutines, released at once, each Get the same cold key (no tier of any
// instance holds it) while the loader takes stampedeLoad. Each op is one
// stampede on a key never read before, on 1 instance ("1-instance") or
// split evenly over 4 instances that share Redis ("4-instances"), and
// loads/op is the loader calls it made. ns/op is the time from the release
// to the return of the last Get; the goroutines' start is not timed.
//
// tiercache loads once per key at a time in an instance (its flight group)
// and, with its leases, across instances: 1 load in both. go-redis/cache's
// Once deduplicates within one process only: 1 load per instance.
// rueidis, go-redis-csc and go-redis+msgpack have no loader: their adapters
// GET, load and SET by hand, so every Get that misses loads (rueidis's
// rueidisaside module, which would lock a key across instances, is not
// available on this machine's module proxy). ristretto has neither a loader
// nor a shared tier: every Get that misses loads, and 4 instances are 4
// separate caches.
func BenchmarkStampede(b *testing.B) {
	var next atomic.Int64 // ids never read before, across the framework's runs
	for _, instances := range []int{1, 4} {
		name := fmt.Sprintf("%d-instances", instances)
		if instances == 1 {
			name = "1-instance"
		}
		b.Run(name, func(b *testing.B) {
			for _, lib := range Libraries() {
				b.Run(lib.Name, func(b *testing.B) { benchStampede(b, lib, instances, &next) })
			}
		})
	}
}

// benchStampede runs BenchmarkStampede for lib with the given number of
// instances, built once and shared by every op.
func benchStampede(b *testing.B, lib Library, instances int, next *atomic.Int64) {
	addr := redisAddr(b)
	src := newSource(stampedeLoad)
	peers := make([]Peer, instances)
	for i := range peers {
		peers[i] = newPeer(b, lib, Config{Addr: addr, Loader: src.Load})
		if peers[i] == nil {
			b.Skipf("%s: unsupported configuration", lib.Name)
		}
	}
	for _, p := range peers {
		ready(b, p)
	}
	got := make([]Value, stampedeGoroutines)
	errs := make([]error, stampedeGoroutines)
	loads := src.loads.Load()
	b.ReportAllocs()
	for b.Loop() {
		id := next.Add(1)
		stampede(b, peers, Key(id), got, errs)
		failed, wrong := 0, 0
		var firstErr error
		var firstWrong Value
		for g := range got {
			switch {
			case errs[g] != nil:
				if failed == 0 {
					firstErr = errs[g]
				}
				failed++
			case got[g].ID != id || got[g].Version != 1:
				if wrong == 0 {
					firstWrong = got[g]
				}
				wrong++
			}
		}
		if failed > 0 {
			b.Fatalf("stampede on %s: %d of %d Gets failed, the first with: %v", Key(id), failed, len(got), firstErr)
		}
		if wrong > 0 {
			b.Errorf("stampede on %s: %d of %d Gets returned another value, such as id %d version %d (want id %d version 1)",
				Key(id), wrong, len(got), firstWrong.ID, firstWrong.Version, id)
		}
	}
	b.ReportMetric(float64(src.loads.Load()-loads)/float64(b.N), "loads/op")
}

// stampede starts len(got) goroutines, spread evenly over peers, waits
// until all of them have started, then releases them at once to Get key;
// goroutine g stores its result in got[g] and errs[g]. It returns when
// every goroutine has ended. Only the time from the release on is timed.
func stampede(b *testing.B, peers []Peer, key string, got []Value, errs []error) {
	b.StopTimer()
	clear(got)
	clear(errs)
	ctx, cancel := context.WithTimeout(context.Background(), stampedeTimeout)
	defer cancel()
	release := make(chan struct{})
	var started, done sync.WaitGroup
	started.Add(len(got))
	for g := range got {
		p := peers[g%len(peers)]
		done.Go(func() {
			started.Done()
			<-release
			got[g], errs[g] = p.Get(ctx, key)
		})
	}
	started.Wait()
	b.StartTimer()
	close(release)
	done.Wait()
}
