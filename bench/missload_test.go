package bench

import (
	"context"
	"sync/atomic"
	"testing"
)

// BenchmarkGet_MissLoad: a read of a key that no tier holds: the library
// looks, calls the loader (which answers at once) and stores the value as
// it does (tiercache: GET, a lease script that looks again and takes the
// key, the conditional write of the value; go-redis/cache: Once, GET then
// SET; the others: GET, load, SET by hand). Every op reads a new key.
// (Redis's command count is not reported here: it counts the commands
// inside tiercache's scripts as well.)
func BenchmarkGet_MissLoad(b *testing.B) {
	var next atomic.Int64 // ids never read before, across the framework's runs
	for _, lib := range withNoLeases(Libraries()) {
		b.Run(lib.Name, func(b *testing.B) {
			addr := redisAddr(b)
			src := newSource(0)
			p := newPeer(b, lib, Config{Addr: addr, Loader: src.Load})
			ready(b, p)
			ctx := context.Background()
			loads := src.loads.Load()
			b.ReportAllocs()
			for b.Loop() {
				id := next.Add(1)
				v, err := p.Get(ctx, Key(id))
				if err != nil {
					b.Fatal(err)
				}
				if v.ID != id {
					b.Fatalf("Get(%d) returned id %d", id, v.ID)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(src.loads.Load()-loads)/float64(b.N), "loads/op")
		})
	}
}
