package tiered_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// cpuTime returns the CPU time this process has used.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Item 6, acceptance 2: anyone with PUBLISH on the channel floods it with
// 50,000 two-byte messages while 4 instances serve, and one real write
// happens in the middle of the flood.
//
// With a key, no garbage message flushes anything or moves a sequence
// number: each is counted as rejected, and L1 keeps serving. Without one,
// each is a reason to flush, and the flushes are coalesced (an epoch move
// each, at most one L1 Clear per 100 ms). Either way the real invalidation
// reaches every instance: its delay and the CPU that each garbage message
// cost a receiver are reported.
func TestHostile_Flood(t *testing.T) {
	if testing.Short() || !redistest.Enabled() {
		t.Skip("needs redis-server")
	}
	const (
		instances = 4
		garbage   = 50_000
		batch     = 1000
	)
	srv := redistest.NewServer(t)
	for _, keyed := range []bool{true, false} {
		name := "without key"
		if keyed {
			name = "with key"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			ns := "flood" + fmt.Sprint(keyed)
			type instance struct {
				cache *tiered.Cache[int64, User]
				l1    *clearCounter
				st    *stats.Counter
			}
			var in []instance
			var channel string
			for i := range instances {
				client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
				t.Cleanup(func() { _ = client.Close() })
				opts := &redisbus.Options{ID: fmt.Sprint("flood-", i)}
				if keyed {
					opts.Keys = testBusKeys
				}
				bus, err := redisbus.New(client, opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = bus.Close() })
				channel = bus.Channel(ns)
				st, l1 := &stats.Counter{}, &clearCounter{}
				c, err := tiered.New(&tiered.Options[int64, User]{
					Name: ns, L2: redisstore.New(client, nil), Bus: bus, L1: l1, Stats: st,
					Loader: loader.Func[int64, User](func(_ context.Context, id int64) (User, error) { return user(id), nil }),
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = c.Close() })
				waitFor(t, "the subscription", func() bool { return st.Snapshot().Get(stats.Subscribed) == 1 })
				in = append(in, instance{c, l1, st})
			}
			for _, x := range in {
				for id := int64(1); id <= 100; id++ {
					if _, err := x.cache.Get(ctx, id); err != nil {
						t.Fatal(err)
					}
				}
			}
			attacker := redis.NewClient(&redis.Options{Addr: srv.Addr()}) // the restricted user: it may PUBLISH
			t.Cleanup(func() { _ = attacker.Close() })
			flood := func(channel string, n int, half chan<- struct{}) {
				for sent := 0; sent < n; sent += batch {
					if sent == n/2 && half != nil {
						close(half)
					}
					pipe := attacker.Pipeline()
					for range batch {
						pipe.Publish(ctx, channel, "\x00\x01")
					}
					if _, err := pipe.Exec(ctx); err != nil {
						t.Error(err)
						return
					}
				}
			}
			// What publishing alone costs, on a channel nobody hears.
			cpu0 := cpuTime(t)
			flood(channel+"-nobody", garbage, nil)
			publishCPU := cpuTime(t) - cpu0

			before := make([]int64, instances)
			for i, x := range in {
				before[i] = x.l1.clears.Load()
			}
			cpu0 = cpuTime(t)
			start := time.Now()
			half, flooded := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(flooded)
				flood(channel, garbage, half)
			}()
			<-half
			changed := user(1)
			changed.Name = "written during the flood"
			written := time.Now()
			if err := in[0].cache.Set(ctx, 1, changed); err != nil {
				t.Fatal(err)
			}
			var delays []time.Duration
			for i, x := range in[1:] {
				waitFor(t, fmt.Sprint("instance ", i+1, " to see the write"), func() bool {
					u, err := x.cache.Get(ctx, 1)
					return err == nil && u.Name == changed.Name
				})
				delays = append(delays, time.Since(written).Round(time.Millisecond))
			}
			<-flooded
			for i, x := range in {
				waitFor(t, fmt.Sprint("instance ", i, " to read the flood"), func() bool {
					s := x.st.Snapshot()
					if keyed {
						return s.Get(stats.BusRejected) == garbage
					}
					return s.Get(stats.FlushGap) == garbage
				})
			}
			elapsed := time.Since(start)
			perMessage := (cpuTime(t) - cpu0 - publishCPU) / time.Duration(garbage*instances)
			for i, x := range in {
				s := x.st.Snapshot()
				clears := x.l1.clears.Load() - before[i]
				t.Logf("instance %d: %d L1 clears, %d flushes coalesced, %d rejected, %d flushes for gaps or garbage",
					i, clears, s.Get(stats.FlushCoalesced), s.Get(stats.BusRejected), s.Get(stats.FlushGap))
				if keyed && (clears != 0 || s.Get(stats.FlushGap) != 0 || s.Get(stats.FlushCoalesced) != 0) {
					t.Errorf("instance %d: the flood flushed L1 although messages are authenticated", i)
				}
				if limit := int64(elapsed/(100*time.Millisecond)) + 2; clears > limit {
					t.Errorf("instance %d: %d L1 clears in %v, want at most %d", i, clears, elapsed, limit)
				}
			}
			t.Logf("%d garbage messages to %d instances in %v; the real invalidation reached the others after %v; about %v of CPU per garbage message and receiver",
				garbage, instances, elapsed.Round(time.Millisecond), delays, perMessage)
			if keyed {
				// L1 kept serving: the keys other than 1 are still there.
				hits := in[2].st.Snapshot().Get(stats.L1Hit)
				if _, err := in[2].cache.Get(ctx, 50); err != nil || in[2].st.Snapshot().Get(stats.L1Hit) != hits+1 {
					t.Errorf("after the flood, key 50 was not an L1 hit (%v)", err)
				}
			}
		})
	}
}
