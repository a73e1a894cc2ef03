package bench

import (
	"context"
	"testing"
)

// BenchmarkGet_L2Hit: a read the local tier cannot serve, answered by
// Redis: each library with its local tier turned off (Config.LocalOff), so
// that every read is one Redis round trip and a decode. go-redis's
// client-side cache without its cache is plain go-redis, and ristretto has
// no Redis: neither runs here. The baseline is go-redis+msgpack: GET and
// msgpack decode by hand.
func BenchmarkGet_L2Hit(b *testing.B) {
	keys := benchKeys(l1Keys)
	for _, lib := range Libraries() {
		if !lib.Remote {
			continue
		}
		b.Run(lib.Name, func(b *testing.B) {
			addr := redisAddr(b)
			p := newPeer(b, lib, Config{Addr: addr, Loader: newSource(0).Load, LocalOff: true})
			if p == nil {
				b.Skip("no way to turn its local tier off")
			}
			warm(b, p, keys, 1) // loads every key into Redis
			ctx := context.Background()
			before := commands(b, addr)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := p.Get(ctx, keys[i%l1Keys]); err != nil {
					b.Fatal(err)
				}
			}
			reportCommands(b, addr, before)
		})
	}
}
