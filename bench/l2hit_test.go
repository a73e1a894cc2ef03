package bench

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
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

// l2Readers is how many goroutines read at once in
// BenchmarkGet_L2HitConcurrent.
const l2Readers = 64

// BenchmarkGet_L2HitConcurrent: 64 goroutines read distinct warm keys from
// Redis at once, with each library's local tier off: where a client that
// pipelines concurrent commands (rueidis) shines. Beside ns/op (one read's
// share of the wall time) it reports what each read cost Redis: its
// commands' own time (INFO commandstats) and its whole CPU, I/O included
// (INFO cpu).
func BenchmarkGet_L2HitConcurrent(b *testing.B) {
	keys := benchKeys(l1Keys)
	for _, lib := range withVariants(Libraries(), WithRueidisStore()) {
		if !lib.Remote {
			continue
		}
		b.Run(lib.Name, func(b *testing.B) {
			addr := redisAddr(b)
			p := newPeer(b, lib, Config{Addr: addr, Loader: newSource(0).Load, LocalOff: true})
			if p == nil {
				b.Skip("no way to turn its local tier off")
			}
			warm(b, p, keys, 1)
			ctx := context.Background()
			before := redisUsage(b, addr)
			var next atomic.Int64 // each goroutine takes its own stripe of keys
			b.SetParallelism((l2Readers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				g := int(next.Add(1) - 1)
				for i := g; pb.Next(); i += l2Readers {
					if _, err := p.Get(ctx, keys[i%l1Keys]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			redisUsage(b, addr).since(b, before)
		})
	}
}

// cpuSample is what INFO says Redis spent so far: its commands' time and
// calls (commandstats) and its process's CPU (cpu, user + sys).
type cpuSample struct {
	calls, cmdUsec int64
	cpuUsec        float64
}

// redisUsage reads INFO commandstats and INFO cpu of the server at addr.
func redisUsage(tb testing.TB, addr string) cpuSample {
	tb.Helper()
	rdb := redis.NewClient(redistest.AdminOptions(addr))
	defer func() { _ = rdb.Close() }()
	info, err := rdb.Info(context.Background(), "commandstats", "cpu").Result()
	if err != nil {
		tb.Fatalf("INFO: %v", err)
	}
	var s cpuSample
	for _, line := range strings.Split(info, "\r\n") {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"); ok {
			_, fields, _ := strings.Cut(rest, ":")
			for _, f := range strings.Split(fields, ",") {
				k, v, _ := strings.Cut(f, "=")
				n, _ := strconv.ParseInt(v, 10, 64)
				switch k {
				case "calls":
					s.calls += n
				case "usec":
					s.cmdUsec += n
				}
			}
		}
		for _, p := range []string{"used_cpu_user:", "used_cpu_sys:"} {
			if v, ok := strings.CutPrefix(line, p); ok {
				f, _ := strconv.ParseFloat(v, 64)
				s.cpuUsec += f * 1e6
			}
		}
	}
	return s
}

// since reports, per op, the Redis commands and CPU spent since before
// (the INFO calls that measure are a rounding error over b.N reads).
func (s cpuSample) since(b *testing.B, before cpuSample) {
	b.Helper()
	n := float64(b.N)
	b.ReportMetric(float64(s.calls-before.calls)/n, "redis-cmds/op")
	b.ReportMetric(float64(s.cmdUsec-before.cmdUsec)/n, "redis-cmd-us/op")
	b.ReportMetric((s.cpuUsec-before.cpuUsec)/n, "redis-cpu-us/op")
	b.ReportMetric(n/b.Elapsed().Seconds(), "ops/s")
}
