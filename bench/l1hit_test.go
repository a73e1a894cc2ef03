package bench

import (
	"context"
	"testing"
)

// l1Keys is the key space of the local-hit benchmarks: every key fits in
// every local tier.
const l1Keys = 1024

// BenchmarkGet_L1Hit: a read served by the local tier, one goroutine. Every
// key is in the local tier (redis-cmds/op shows that reads stay off Redis).
// tiercache and ristretto hand out the decoded value; go-redis/cache,
// rueidis and go-redis's client-side cache keep bytes and decode them on
// every hit. The values were loaded through each library's read path, so
// tiercache's hits include its early-refresh draw (XFetch).
func BenchmarkGet_L1Hit(b *testing.B) {
	benchL1Hit(b, false)
}

// BenchmarkGet_L1HitParallel: BenchmarkGet_L1Hit from every core at once
// (RunParallel).
func BenchmarkGet_L1HitParallel(b *testing.B) {
	benchL1Hit(b, true)
}

func benchL1Hit(b *testing.B, parallel bool) {
	keys := benchKeys(l1Keys)
	for _, lib := range withVariants(Libraries(), WithRistretto()) {
		if !lib.Local {
			continue
		}
		b.Run(lib.Name, func(b *testing.B) {
			addr := redisAddr(b)
			p := newPeer(b, lib, Config{Addr: addr, Loader: newSource(0).Load})
			ready(b, p)
			warm(b, p, keys, 4)
			ctx := context.Background()
			before := commands(b, addr)
			b.ReportAllocs()
			b.ResetTimer()
			if parallel {
				b.RunParallel(func(pb *testing.PB) {
					for i := 0; pb.Next(); i++ {
						if _, err := p.Get(ctx, keys[i%l1Keys]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for i := 0; b.Loop(); i++ {
					if _, err := p.Get(ctx, keys[i%l1Keys]); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			reportCommands(b, addr, before)
		})
	}
}
