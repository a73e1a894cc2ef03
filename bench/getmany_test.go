package bench

import (
	"context"
	"strconv"
	"testing"
)

// BenchmarkGetMany: one call that reads 10 or 100 keys, all in Redis, with
// the local tiers off (Config.LocalOff): tiercache's GetMany (one MGET),
// rueidis's MGet helper and one go-redis MGET with a msgpack decode of
// each value by hand (the baseline). go-redis/cache has no batch read.
func BenchmarkGetMany(b *testing.B) {
	for _, n := range []int{10, 100} {
		keys := benchKeys(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for _, lib := range Libraries() {
				if !lib.Remote {
					continue
				}
				b.Run(lib.Name, func(b *testing.B) {
					addr := redisAddr(b)
					p := newPeer(b, lib, Config{Addr: addr, Loader: newSource(0).Load, LocalOff: true})
					m, ok := p.(ManyGetter)
					if p == nil || !ok {
						b.Skip("no batch read with the local tier off")
					}
					warm(b, p, keys, 1)
					ctx := context.Background()
					before := commands(b, addr)
					b.ReportAllocs()
					for b.Loop() {
						got, err := m.GetMany(ctx, keys)
						if err != nil {
							b.Fatal(err)
						}
						if len(got) != n {
							b.Fatalf("GetMany returned %d of %d values", len(got), n)
						}
					}
					reportCommands(b, addr, before)
				})
			}
		})
	}
}
