package redisbus_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/invalidate/redisbus"
)

// BenchmarkBus_Publish publishes one-key messages, one at a time, to 4
// subscribing buses on a real server, without and with the log
// (Options.LogLength): ns/op is the publisher's round trip, redis-µs/msg
// the server's CPU per message (INFO cpu, the subscribers' reads
// included).
//
//	TIERCACHE_INTEGRATION=1 go test -run XXX -bench Bus_Publish ./invalidate/redisbus/
func BenchmarkBus_Publish(b *testing.B) {
	srv := redistest.NewServer(b)
	admin := redis.NewClient(redistest.AdminOptions(srv.Addr()))
	b.Cleanup(func() { _ = admin.Close() })
	for _, logLength := range []int{0, 10_000} {
		name := "pubsub"
		if logLength > 0 {
			name = "log"
		}
		b.Run(name, func(b *testing.B) {
			client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			b.Cleanup(func() { _ = client.Close() })
			ns := fmt.Sprint("bench-", name)
			for i := range 4 {
				sub := newBus(b, client, &redisbus.Options{ID: fmt.Sprint("sub-", i), LogLength: logLength})
				r := newRecorder()
				if _, err := sub.Subscribe(ns, r); err != nil {
					b.Fatal(err)
				}
				r.subscribed(b)
			}
			pub := newBus(b, client, &redisbus.Options{ID: "pub", LogLength: logLength})
			ctx := context.Background()
			m := &invalidate.Message{Namespace: ns, Keys: []string{"user:12345"}}
			if err := pub.Publish(ctx, m); err != nil { // loads the script
				b.Fatal(err)
			}
			cpu := redisCPU(b, admin)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := pub.Publish(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric((redisCPU(b, admin)-cpu)*1e6/float64(b.N), "redis-µs/msg")
		})
	}
}

// redisCPU returns the CPU seconds the server has used (INFO cpu).
func redisCPU(tb testing.TB, admin *redis.Client) float64 {
	tb.Helper()
	text, err := admin.Info(context.Background(), "cpu").Result()
	if err != nil {
		tb.Fatal(err)
	}
	total := 0.0
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatal(err)
			}
			total += f
		}
	}
	return total
}
