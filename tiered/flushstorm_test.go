package tiered_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/fencebus"
	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// The flush-storm test (issue 17, point 3): instances with 10,000 keys
// each in L1 whose subscriptions are killed every 200 ms while two writers
// change 100 of the keys. With the bus's log, an instance that comes back
// drops only what was invalidated while it was away; at the end no entry
// is stale, and each instance has dropped about as many entries as keys
// were invalidated, not its whole L1.
const (
	stormInstances = 4
	stormKeys      = 10_000
	stormWritten   = 100 // the keys the writers change: 0..99
	stormWriters   = 2   // on instances 0 and 1
	stormWrites    = 300 // per writer, one every 5 ms
	stormKillEvery = 200 * time.Millisecond
)

type stormRun struct {
	newClient func(t *testing.T) redis.UniversalClient
	// kill ends every pub/sub connection of the servers.
	kill func(t *testing.T)
	// during, when set, runs once a third of the writes are done.
	during func(t *testing.T)
}

func (r stormRun) run(t *testing.T) {
	ctx := context.Background()
	var versions [stormKeys]atomic.Int64
	var locks [stormWritten]sync.Mutex
	load := loader.Func[int64, versioned](func(_ context.Context, k int64) (versioned, error) {
		return versioned{Key: k, Version: versions[k].Load()}, nil
	})
	type instance struct {
		cache *tiered.Cache[int64, versioned]
		bus   *fencebus.Bus
		stats *stats.Counter
	}
	var instances []*instance
	for i := range stormInstances {
		client := r.newClient(t)
		bus, err := redisbus.New(client, &redisbus.Options{Keys: testBusKeys, ID: fmt.Sprint("instance-", i),
			LogLength: 10_000, RetryBackoff: 50 * time.Millisecond, Logger: slog.New(&testLog{t: t, level: slog.LevelWarn})})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bus.Close() })
		in := &instance{bus: fencebus.New(bus), stats: &stats.Counter{}}
		in.cache, err = tiered.New(&tiered.Options[int64, versioned]{
			Name:   "storm",
			L2:     redisstore.New(client, nil),
			Bus:    in.bus,
			Loader: load,
			Stats:  in.stats,
			TTL:    10 * time.Minute,
			L1TTL:  10 * time.Minute,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = in.cache.Close() })
		instances = append(instances, in)
	}
	for _, in := range instances {
		waitFor(t, "the subscriptions", func() bool { return in.stats.Snapshot().Get(stats.Subscribed) == 1 })
	}

	// Every instance reads every key: 10,000 entries in each L1.
	for _, in := range instances {
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for k := int64(g); k < stormKeys; k += 8 {
					if _, err := in.cache.Get(ctx, k); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	if t.Failed() {
		return
	}
	// misses counts the keys that an instance no longer has in L1 (each
	// read of them misses L1); each read also checks the value.
	stale := 0
	misses := func(i int, in *instance, check bool) int {
		before := in.stats.Snapshot().Get(stats.L1Miss)
		for k := range int64(stormKeys) {
			v, err := in.cache.Get(ctx, k)
			if want := versions[k].Load(); check && (err != nil || v.Version != want) {
				stale++
				if stale <= 10 {
					t.Errorf("instance %d, key %d: got version %d (%v), the source has %d", i, k, v.Version, err, want)
				}
			}
		}
		return int(in.stats.Snapshot().Get(stats.L1Miss) - before)
	}
	for i, in := range instances {
		if n := misses(i, in, false); n != 0 {
			t.Fatalf("instance %d: %d of %d keys missed L1 after the warm-up", i, n, stormKeys)
		}
	}

	var written [stormWritten]atomic.Bool
	var done atomic.Int64 // writes done
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range stormWriters {
		c := instances[w].cache
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(7, uint64(w)))
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for range stormWrites {
				<-tick.C
				k := rnd.Int64N(stormWritten)
				locks[k].Lock() // as a database would lock the row
				v := versions[k].Add(1)
				var err error
				for try := 0; try < 1000; try++ { // retried while Redis fails over
					if rnd.IntN(4) == 0 {
						err = c.Delete(ctx, k)
					} else {
						err = c.Set(ctx, k, versioned{Key: k, Version: v})
					}
					if err == nil {
						break
					}
					time.Sleep(10 * time.Millisecond) // a retry pause, not a wait for an outcome
				}
				locks[k].Unlock()
				if err != nil {
					t.Errorf("write of key %d: %v", k, err)
					return
				}
				written[k].Store(true)
				done.Add(1)
			}
		})
	}
	// Readers of the keys nobody writes: while a subscription is away they
	// read L2, and must not put anything into L1 then.
	for _, in := range instances {
		wg.Go(func() {
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			rnd := rand.New(rand.NewPCG(11, 0))
			for range 10_000 {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				k := stormWritten + rnd.Int64N(stormKeys-stormWritten)
				if _, err := in.cache.Get(ctx, k); err != nil {
					t.Errorf("Get(%d): %v", k, err)
					return
				}
			}
		})
	}
	kills := 0
	during := r.during
	killer := time.NewTicker(stormKillEvery)
	for done.Load() < stormWriters*stormWrites && !t.Failed() {
		<-killer.C
		r.kill(t)
		kills++
		if during != nil && done.Load() > stormWriters*stormWrites/3 {
			during(t)
			during = nil
		}
	}
	killer.Stop()
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}

	buses := make([]*fencebus.Bus, len(instances))
	for i, in := range instances {
		buses[i] = in.bus
	}
	fencebus.Fence(t, "storm", "end", buses...)
	invalidated := 0
	for k := range written {
		if written[k].Load() {
			invalidated++
		}
	}
	for i, in := range instances {
		dropped := misses(i, in, true)
		s := in.stats.Snapshot()
		t.Logf("instance %d: %d entries dropped, %d keys invalidated (%d keys in %d messages received); %d kills: %d interruptions, %d replays, %d resubscription flushes, %d gap flushes",
			i, dropped, invalidated, s.Get(stats.ReceivedKeys), s.Get(stats.Received), kills,
			s.Get(stats.Interrupted), s.Get(stats.Resumed), s.Get(stats.FlushResubscribed), s.Get(stats.FlushGap))
		if dropped > 2*invalidated {
			t.Errorf("instance %d dropped %d entries for %d keys invalidated: more than twice as many", i, dropped, invalidated)
		}
		if s.Get(stats.Resumed) == 0 {
			t.Errorf("instance %d never replayed from the log (%d interruptions)", i, s.Get(stats.Interrupted))
		}
	}
	t.Logf("%d writes, %d kills; %d stale entries", done.Load(), kills, stale)
}

// killPubSub ends every pub/sub connection of the servers at addrs.
func killPubSub(t *testing.T, addrs ...string) {
	t.Helper()
	for _, addr := range addrs {
		admin := redis.NewClient(redistest.AdminOptions(addr))
		err := admin.Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err()
		_ = admin.Close()
		if err != nil && err.Error() != "ERR No such client" {
			t.Errorf("CLIENT KILL on %s: %v", addr, err)
		}
	}
}

func TestNoFlushStorm(t *testing.T) {
	srv := redistest.NewServer(t)
	stormRun{
		newClient: func(t *testing.T) redis.UniversalClient {
			c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			t.Cleanup(func() { _ = c.Close() })
			return c
		},
		kill: func(t *testing.T) { killPubSub(t, srv.Addr()) },
	}.run(t)
}

// TestNoFlushStorm_ClusterFailover runs the flush-storm test on a Cluster
// and, a third into the writes, fails over the master that holds the
// channel and its log (CLUSTER FAILOVER on its replica).
func TestNoFlushStorm_ClusterFailover(t *testing.T) {
	cl := redistest.NewCluster(t)
	stormRun{
		newClient: func(t *testing.T) redis.UniversalClient {
			c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
			t.Cleanup(func() { _ = c.Close() })
			return c
		},
		kill:   func(t *testing.T) { killPubSub(t, cl.Addrs()...) },
		during: func(t *testing.T) { failOverChannel(t, cl, "storm") },
	}.run(t)
}

// testLog is a slog.Handler that writes the records at or above level to
// the test's log.
type testLog struct {
	t     *testing.T
	level slog.Level
}

func (h *testLog) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *testLog) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	h.t.Log(line)
	return nil
}
func (h *testLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *testLog) WithGroup(string) slog.Handler      { return h }
