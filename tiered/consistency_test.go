package tiered_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/tiercache/tiercache/internal/fencebus"
	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l1"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/internal/envelope"
	"github.com/tiercache/tiercache/tiered/stats"
)

// The consistency test: instances with their own L1, connections and bus
// share a Redis and a versioned source of truth; readers read through,
// writers change the source and then Set or Delete. Once the writers have
// stopped and every message has arrived, every instance must read the
// source's latest version of every key.
const (
	consInstances = 4
	consReaders   = 8    // per instance
	consWriters   = 2    // per instance
	consReads     = 1500 // per reader
	consWrites    = 250  // per writer
	consKeys      = 64
)

// versioned is the value type of the consistency test.
type versioned struct {
	Key, Version int64
}

// source is the source of truth: a version per key. Writers of one key are
// serialized across instances (as a database row lock would), so that the
// order of their cache writes is the order of their versions.
type source struct {
	versions [consKeys]atomic.Int64
	locks    [consKeys]sync.Mutex
	written  [consKeys]atomic.Int64 // when the last write finished, Unix ns (for failure reports)
	writer   [consKeys]atomic.Pointer[tiered.Cache[int64, versioned]]
}

type consInstance struct {
	cache *tiered.Cache[int64, versioned]
	bus   *fencebus.Bus
	stats *stats.Counter
}

// consistencyRun is one run of the test; outage, when set, runs beside the
// load and returns once it is over.
type consistencyRun struct {
	newClient func(t *testing.T) redis.UniversalClient
	outage    func(t *testing.T, progress *atomic.Int64)
	opts      func(*tiered.Options[int64, versioned]) // changes the defaults; nil: none
	l1        func(t *testing.T) l1.Store             // each instance's L1; nil: the default
	prefix    string                                  // redisstore's key prefix; "": the default
	log       bool                                    // the buses keep a log (redisbus.Options.LogLength)
}

func (r consistencyRun) run(t *testing.T) (instances []*consInstance) {
	ctx := context.Background()
	src := &source{}
	load := loader.Func[int64, versioned](func(_ context.Context, k int64) (versioned, error) {
		v := versioned{Key: k, Version: src.versions[k].Load()}
		// The answer of a query travels back while writers go on: this
		// is the window in which a load can hold an old version.
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
		return v, nil
	})
	for i := range consInstances {
		client := r.newClient(t)
		busOpts := &redisbus.Options{Keys: testBusKeys, ID: fmt.Sprint("instance-", i), RetryBackoff: 100 * time.Millisecond, Logger: slog.New(&testLog{t: t, level: slog.LevelWarn})}
		if r.log {
			busOpts.LogLength = 10_000
		}
		bus, err := redisbus.New(client, busOpts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bus.Close() })
		in := &consInstance{bus: fencebus.New(bus), stats: &stats.Counter{}}
		opts := &tiered.Options[int64, versioned]{
			Name:       "cons",
			L2:         redisstore.New(client, &redisstore.Options{Prefix: r.prefix}),
			Bus:        in.bus,
			Loader:     load,
			Stats:      in.stats,
			L2Cooldown: 50 * time.Millisecond,
		}
		if r.l1 != nil {
			opts.L1 = r.l1(t)
		}
		if r.opts != nil {
			r.opts(opts)
		}
		in.cache, err = tiered.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = in.cache.Close() })
		instances = append(instances, in)
	}
	for _, in := range instances {
		waitFor(t, "the subscriptions", func() bool { return in.stats.Snapshot().Get(stats.Subscribed) == 1 })
	}

	var progress atomic.Int64 // operations done
	// outageOver: the outage, if any, has ended. Readers go on until then
	// (up to 20 times their reads): on a loaded machine the run could
	// otherwise end while the outage was being set up, and test nothing.
	var outageOver atomic.Bool
	outageOver.Store(r.outage == nil)
	var wg sync.WaitGroup
	errs := make(chan error, consInstances*(consReaders+consWriters))
	for i, in := range instances {
		for w := range consWriters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rnd := rand.New(rand.NewPCG(uint64(i), uint64(w)))
				for range consWrites {
					k := rnd.Int64N(consKeys)
					if err := write(ctx, src, in.cache, k, rnd.IntN(2) == 0); err != nil {
						errs <- err
						return
					}
					progress.Add(1)
				}
			}()
		}
		for r := range consReaders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rnd := rand.New(rand.NewPCG(uint64(i), uint64(100+r)))
				for n := 0; n < consReads || (!outageOver.Load() && n < 20*consReads); n++ {
					k := rnd.Int64N(consKeys)
					v, err := in.cache.Get(ctx, k)
					if err != nil || v.Key != k {
						errs <- fmt.Errorf("Get(%d) = %+v, %v", k, v, err) //nolint:errorlint // err is nil when the value is wrong, and %w would print %!w(<nil>)
						return
					}
					progress.Add(1)
				}
			}()
		}
	}
	var outageStart, outageEnd time.Time
	if r.outage != nil {
		outageStart = time.Now()
		r.outage(t, &progress)
		outageOver.Store(true)
		outageEnd = time.Now()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Drain: every instance publishes a fence; once every instance saw
	// every fence, every invalidation published before has arrived.
	buses := make([]*fencebus.Bus, len(instances))
	for i, in := range instances {
		buses[i] = in.bus
	}
	fencebus.Fence(t, "cons", "end", buses...)

	stale := 0
	for i, in := range instances {
		for k := range int64(consKeys) {
			v, err := in.cache.Get(ctx, k)
			if want := src.versions[k].Load(); err != nil || v.Version != want {
				stale++
				writer := -1
				for j, x := range instances {
					if x.cache == src.writer[k].Load() {
						writer = j
					}
				}
				t.Errorf("instance %d, key %d: got version %d (%v), the source has %d; L2 holds %s; last write by instance %d %v after the outage began, which lasted %v; %s",
					i, k, v.Version, err, want, r.describeL2(t, k), writer,
					time.Unix(0, src.written[k].Load()).Sub(outageStart), outageEnd.Sub(outageStart),
					in.bus.History(strconv.FormatInt(k, 10), outageStart))
			}
		}
	}
	t.Logf("%d operations; %d stale entries", progress.Load(), stale)
	return instances
}

// describeL2 says what L2 holds for key k of the test's cache.
func (r consistencyRun) describeL2(t *testing.T, k int64) string {
	b, err := redisstore.New(r.newClient(t), nil).Namespace("cons").Get(context.Background(), strconv.FormatInt(k, 10))
	if err != nil {
		return err.Error()
	}
	h, payload, err := envelope.Decode(b)
	switch {
	case err != nil:
		return err.Error()
	case h.Flags&envelope.FlagTombstone != 0:
		return "a tombstone"
	}
	var v versioned
	if err := msgpack.Unmarshal(payload, &v); err != nil {
		return err.Error()
	}
	return fmt.Sprintf("version %d", v.Version)
}

// write changes key k in the source, then in the cache, and retries the
// cache write until it succeeds (while Redis is down, for example), holding
// the key's lock as a database transaction would hold the row.
func write(ctx context.Context, src *source, c *tiered.Cache[int64, versioned], k int64, del bool) error {
	src.locks[k].Lock()
	defer src.locks[k].Unlock()
	v := src.versions[k].Add(1)
	defer func() { src.written[k].Store(time.Now().UnixNano()); src.writer[k].Store(c) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if del {
			err = c.Delete(ctx, k)
		} else {
			err = c.Set(ctx, k, versioned{Key: k, Version: v})
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("write of key %d kept failing: %w", k, err)
		}
		time.Sleep(10 * time.Millisecond) // a retry pause, not a wait for an outcome
	}
}

// TestConsistency also runs the consistency observer on a tenth of the L1
// hits: it must report no disagreement.
func TestConsistency(t *testing.T) {
	redistest.Require(t)
	for _, target := range withL1Backends(redisTargets(t)) {
		t.Run(target.name, func(t *testing.T) {
			instances := consistencyRun{newClient: target.client, l1: target.l1, prefix: target.prefix,
				opts: func(o *tiered.Options[int64, versioned]) {
					o.Observer = &tiered.ObserverOptions{Sample: 0.1, Grace: time.Second}
				},
			}.run(t)
			counters := make([]*stats.Counter, len(instances))
			for i, in := range instances {
				counters[i] = in.stats
			}
			waitObserved(t, counters...)
			for i, in := range instances {
				s := in.stats.Snapshot()
				t.Logf("instance %d: published %d, received %d (%d keys), skipped %d, flushes %d/%d, lag mean %v; observer: %d hits checked, %d disagreements",
					i, s.Get(stats.Published), s.Get(stats.Received), s.Get(stats.ReceivedKeys), s.Get(stats.Skipped),
					s.Get(stats.FlushResubscribed), s.Get(stats.FlushGap), meanLag(s), s.Get(stats.ObserveChecked), s.Get(stats.Disagreed))
				if s.Get(stats.ObserveChecked) == 0 || s.Get(stats.Disagreed) != 0 {
					t.Errorf("instance %d: the observer checked %d hits and reported %d disagreements; want some checks and none",
						i, s.Get(stats.ObserveChecked), s.Get(stats.Disagreed))
				}
			}
		})
	}
}

// TestConsistency_Refreshes runs the consistency test with values that
// live 400 ms and a Beta that draws early refreshes tens of milliseconds
// before the expiry, so that refreshes and expiries race with the writes
// all along: a refresh must never put back a value that a write replaced.
// (With 1 s, a run that took 1.05 s saw no refresh at all.)
func TestConsistency_Refreshes(t *testing.T) {
	srv := redistest.NewServer(t)
	run := consistencyRun{
		newClient: func(t *testing.T) redis.UniversalClient {
			c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			t.Cleanup(func() { _ = c.Close() })
			return c
		},
		opts: func(o *tiered.Options[int64, versioned]) { o.TTL, o.Beta = 400*time.Millisecond, 50 },
	}
	instances := run.run(t)
	var refreshes, granted, waited, lost int64
	for _, in := range instances {
		s := in.stats.Snapshot()
		refreshes += s.Get(stats.EarlyRefresh)
		granted += s.Get(stats.LeaseGranted)
		waited += s.Get(stats.LeaseWaited)
		lost += s.Get(stats.LeaseLost)
	}
	t.Logf("early refreshes %d, leases granted %d, waited %d, lost %d", refreshes, granted, waited, lost)
	if refreshes == 0 {
		t.Error("no early refresh ran: the test tests nothing")
	}
}

// TestConsistency_RedisRestart kills redis-server in the middle of the run
// and starts it again: subscribers come back by themselves, each L1 is
// flushed once, and no entry is stale at the end. With the buses' log too:
// a restarted server may have lost its last entries, so they flush.
func TestConsistency_RedisRestart(t *testing.T) {
	for _, log := range []bool{false, true} {
		t.Run(fmt.Sprint("log=", log), func(t *testing.T) { consistencyRedisRestart(t, log) })
	}
}

func consistencyRedisRestart(t *testing.T, log bool) {
	srv := redistest.NewServer(t)
	run := consistencyRun{
		newClient: func(t *testing.T) redis.UniversalClient {
			c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
			t.Cleanup(func() { _ = c.Close() })
			return c
		},
		outage: func(t *testing.T, progress *atomic.Int64) {
			total := int64(consInstances * (consReaders*consReads + consWriters*consWrites))
			waitFor(t, "a third of the run", func() bool { return progress.Load() > total/3 })
			if err := srv.Stop(); err != nil {
				t.Error(err)
				return
			}
			at := progress.Load()
			waitFor(t, "some operations during the outage", func() bool { return progress.Load() > at+500 })
			if err := srv.Restart(); err != nil {
				t.Error(err)
			}
		},
		log: log,
	}
	instances := run.run(t)
	for i, in := range instances {
		s := in.stats.Snapshot()
		if got := s.Get(stats.FlushResubscribed); got != 1 {
			t.Errorf("instance %d flushed L1 %d times for resubscriptions, want 1", i, got)
		}
		t.Logf("instance %d: resubscription flushes %d, gap flushes %d, publish errors %d, L2 errors %d",
			i, s.Get(stats.FlushResubscribed), s.Get(stats.FlushGap), s.Get(stats.PublishError), s.Get(stats.L2Error))
	}
}

func meanLag(s stats.Snapshot) time.Duration {
	n := s.Get(stats.InvalidationLag)
	if n == 0 {
		return 0
	}
	return s.Duration(stats.InvalidationLag) / time.Duration(n)
}

// TestConsistency_ClusterFailover fails over the master that holds the
// invalidation channel in the middle of the run (CLUSTER FAILOVER on its
// replica): the sharded subscriptions end, the bus subscribes again on the
// new master, each L1 is flushed, and no entry is stale at the end. With
// the buses' log, the subscriptions replay what they missed from the new
// master instead of flushing.
func TestConsistency_ClusterFailover(t *testing.T) {
	for _, log := range []bool{false, true} {
		t.Run(fmt.Sprint("log=", log), func(t *testing.T) { consistencyClusterFailover(t, log) })
	}
}

func consistencyClusterFailover(t *testing.T, log bool) {
	cl := redistest.NewCluster(t)
	run := consistencyRun{
		newClient: func(t *testing.T) redis.UniversalClient {
			c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
			t.Cleanup(func() { _ = c.Close() })
			return c
		},
		outage: func(t *testing.T, progress *atomic.Int64) {
			total := int64(consInstances * (consReaders*consReads + consWriters*consWrites))
			waitFor(t, "a third of the run", func() bool { return progress.Load() > total/3 })
			failOverChannel(t, cl, "cons")
		},
		log: log,
	}
	instances := run.run(t)
	for i, in := range instances {
		s := in.stats.Snapshot()
		if got := s.Get(stats.FlushResubscribed); !log && got < 1 {
			t.Errorf("instance %d flushed L1 %d times for resubscriptions, want at least 1", i, got)
		}
		if got := s.Get(stats.Resumed); log && got < 1 {
			t.Errorf("instance %d replayed from the log %d times, want at least 1 (the failover)", i, got)
		}
		t.Logf("instance %d: resubscription flushes %d, replays %d, gap flushes %d, publish errors %d, L2 errors %d",
			i, s.Get(stats.FlushResubscribed), s.Get(stats.Resumed), s.Get(stats.FlushGap), s.Get(stats.PublishError), s.Get(stats.L2Error))
	}
}

// failOverChannel fails over the Cluster master that serves the channel of
// namespace ns (and its log): CLUSTER FAILOVER on its replica, which waits
// for the replica to catch up. It returns when the command was accepted.
func failOverChannel(t *testing.T, cl *redistest.Cluster, ns string) {
	t.Helper()
	ctx := context.Background()
	admin := redis.NewClusterClient(redistest.AdminClusterOptions(cl.Addrs()))
	defer func() { _ = admin.Close() }()
	slot := admin.ClusterKeySlot(ctx, redisbus.DefaultPrefix+ns).Val()
	//nolint:staticcheck // SA1019: the slot map is what go-redis itself reads
	slots, err := admin.ClusterSlots(ctx).Result()
	if err != nil {
		t.Error(err)
		return
	}
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 1 {
			replica := redis.NewClient(redistest.AdminOptions(s.Nodes[1].Addr))
			defer func() { _ = replica.Close() }()
			if err := replica.ClusterFailover(ctx).Err(); err != nil {
				t.Error(err)
			}
			t.Logf("failed over %s to %s", s.Nodes[0].Addr, s.Nodes[1].Addr)
			return
		}
	}
	t.Errorf("no replica serves slot %d", slot)
}
