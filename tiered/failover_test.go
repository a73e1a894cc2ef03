package tiered_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
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

// The failover test (issue 11, A and B): 4 instances on a 3+3 Cluster,
// each with readers and writers that change the source and then Delete the
// key once, whatever Delete returns (cache-aside, no retry by the caller).
// A master is killed with SIGKILL mid-run: one that holds keys only, or
// the one that holds the invalidation channel (and keys). The clients keep
// go-redis's defaults (a slot map reloaded every 60 s).
//
// No read may return a version older than a write that finished 500 ms
// before the read began; once the writers stop and the Cluster has failed
// over, every instance reads the latest version of every key, right away
// and again after go-redis's 60 s reload interval.
const (
	foInstances   = 4
	foReaders     = 4 // per instance
	foWriters     = 2 // per instance
	foKeys        = 64
	foMaxReads    = 400_000 // per reader: a bound, the run ends on stop
	foMaxWrites   = 20_000  // per writer
	foStaleBound  = 500 * time.Millisecond
	foReloadAfter = 61 * time.Second // go-redis's ClusterStateReloadInterval, and a second
)

// foSource is the source of truth of the failover test: a version per key
// and the history of finished writes.
type foSource struct {
	locks    [foKeys]sync.Mutex
	versions [foKeys]atomic.Int64
	mu       [foKeys]sync.Mutex
	finished [foKeys][]foWrite // in the order of versions
}

type foWrite struct {
	at      time.Time // when the writer's Delete returned
	version int64
}

// required returns the version a read of k that began at start must see at
// least: that of the last write that finished foStaleBound before it.
func (s *foSource) required(k int64, start time.Time) (int64, time.Time) {
	s.mu[k].Lock()
	defer s.mu[k].Unlock()
	w := s.finished[k]
	i := sort.Search(len(w), func(i int) bool { return !w[i].at.Before(start.Add(-foStaleBound)) })
	if i == 0 {
		return 0, time.Time{}
	}
	return w[i-1].version, w[i-1].at
}

// write changes k in the source and deletes it from the cache once.
func (s *foSource) write(ctx context.Context, c *tiered.Cache[int64, versioned], k int64) error {
	s.locks[k].Lock()
	defer s.locks[k].Unlock()
	v := s.versions[k].Add(1)
	err := c.Delete(ctx, k)
	s.mu[k].Lock()
	s.finished[k] = append(s.finished[k], foWrite{at: time.Now(), version: v})
	s.mu[k].Unlock()
	return err
}

type foInstance struct {
	client *redis.ClusterClient
	cache  *tiered.Cache[int64, versioned]
	bus    *fencebus.Bus
	stats  *stats.Counter
}

func TestFailover_MasterKilled(t *testing.T) {
	redistest.Require(t)
	for _, victim := range []string{"key master", "channel master"} {
		t.Run(victim, func(t *testing.T) {
			t.Parallel()
			failoverRun(t, victim == "channel master")
		})
	}
}

func failoverRun(t *testing.T, channelMaster bool) {
	ctx := context.Background()
	cl := redistest.NewCluster(t)
	src := &foSource{}
	load := loader.Func[int64, versioned](func(_ context.Context, k int64) (versioned, error) {
		v := versioned{Key: k, Version: src.versions[k].Load()}
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond) // the answer travels back
		return v, nil
	})
	var instances []*foInstance
	for i := range foInstances {
		client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
		t.Cleanup(func() { _ = client.Close() })
		bus, err := redisbus.New(client, &redisbus.Options{Keys: testBusKeys, ID: fmt.Sprint("instance-", i)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bus.Close() })
		in := &foInstance{client: client, bus: fencebus.New(bus), stats: &stats.Counter{}}
		in.cache, err = tiered.New(&tiered.Options[int64, versioned]{
			Name: "fo", L2: redisstore.New(client, nil), Bus: in.bus, Loader: load, Stats: in.stats,
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

	// The victim: the master of the channel's slot, or another master that
	// holds some of the keys.
	admin := redis.NewClusterClient(redistest.AdminClusterOptions(cl.Addrs()))
	defer func() { _ = admin.Close() }()
	channelSlot := admin.ClusterKeySlot(ctx, redisbus.DefaultPrefix+"fo").Val()
	victim, victimKeys := -1, 0
	for i, node := range cl.Nodes()[:3] {
		slots := masterSlotRange(t, admin, node.Addr())
		owns := func(slot int64) bool { return slots[0] <= slot && slot <= slots[1] }
		if owns(channelSlot) != channelMaster {
			continue
		}
		n := 0
		for k := range int64(foKeys) {
			if owns(admin.ClusterKeySlot(ctx, "{tc:fo:"+strconv.FormatInt(k, 10)+"}").Val()) {
				n++
			}
		}
		if n > 0 {
			victim, victimKeys = i, n
			break
		}
	}
	if victim < 0 {
		t.Fatal("no master fits")
	}
	victimAddr := cl.Nodes()[victim].Addr()
	t.Logf("killing master %s, which holds %d of the %d keys (channel slot %d: %v)", victimAddr, victimKeys, foKeys, channelSlot, channelMaster)

	var (
		stop       = make(chan struct{})
		progress   atomic.Int64
		wg         sync.WaitGroup
		mu         sync.Mutex
		violations []string
		nStale     atomic.Int64
		delErrs    atomic.Int64
		reads      atomic.Int64
	)
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	var killedAt atomic.Int64
	for i, in := range instances {
		for w := range foWriters {
			wg.Go(func() {
				rnd := rand.New(rand.NewPCG(uint64(i), uint64(w)))
				for range foMaxWrites {
					if stopped() {
						return
					}
					if err := src.write(ctx, in.cache, rnd.Int64N(foKeys)); err != nil {
						delErrs.Add(1)
					}
					progress.Add(1)
					time.Sleep(time.Millisecond) // a write rate a source could take, not a wait for an outcome
				}
			})
		}
		for r := range foReaders {
			wg.Go(func() {
				rnd := rand.New(rand.NewPCG(uint64(i), uint64(100+r)))
				for range foMaxReads {
					if stopped() {
						return
					}
					k := rnd.Int64N(foKeys)
					start := time.Now()
					v, err := in.cache.Get(ctx, k)
					reads.Add(1)
					progress.Add(1)
					if err != nil || v.Key != k {
						t.Errorf("instance %d: Get(%d) = %+v, %v", i, k, v, err)
						return
					}
					if want, at := src.required(k, start); v.Version < want {
						nStale.Add(1)
						mu.Lock()
						if len(violations) < 20 {
							violations = append(violations, fmt.Sprintf("instance %d read key %d at %v after the kill: version %d, but version %d was written %v before the read began",
								i, k, start.Sub(time.Unix(0, killedAt.Load())), v.Version, want, start.Sub(at)))
						}
						mu.Unlock()
					}
				}
			})
		}
	}

	waitFor(t, "some operations before the kill", func() bool { return progress.Load() > 20_000 })
	killedAt.Store(time.Now().UnixNano())
	if err := cl.Nodes()[victim].Stop(); err != nil {
		t.Fatal(err)
	}
	waitForFailover(t, admin, cl, victimAddr)
	t.Logf("failed over %v after the kill", time.Since(time.Unix(0, killedAt.Load())).Round(time.Millisecond))
	at := progress.Load()
	waitFor(t, "operations after the failover", func() bool { return progress.Load() > at+20_000 })
	close(stop)
	wg.Wait()
	t.Logf("%d reads, %d delete errors, %d stale reads", reads.Load(), delErrs.Load(), nStale.Load())
	for _, v := range violations {
		t.Error(v)
	}

	// Every instance's messages have arrived once every instance saw
	// every instance's fence.
	buses := make([]*fencebus.Bus, len(instances))
	for i, in := range instances {
		buses[i] = in.bus
	}
	fencebus.Fence(t, "fo", "end", buses...)
	check := func(when string) {
		for i, in := range instances {
			for k := range int64(foKeys) {
				v, err := in.cache.Get(ctx, k)
				if want := src.versions[k].Load(); err != nil || v.Version != want {
					t.Errorf("%s: instance %d, key %d: version %d (%v), the source has %d", when, i, k, v.Version, err, want)
				}
			}
		}
	}
	check("right after the failover")
	for i, in := range instances {
		s := in.stats.Snapshot()
		t.Logf("instance %d: L2 errors %d, skipped %d, resubscription flushes %d, gap flushes %d, publish errors %d",
			i, s.Get(stats.L2Error), s.Get(stats.L2Skipped), s.Get(stats.FlushResubscribed), s.Get(stats.FlushGap), s.Get(stats.PublishError))
	}
	// go-redis reloads its slot map on its own after 60 s: a client that
	// failed until then reads the promoted replica's data from then on.
	timer := time.NewTimer(foReloadAfter)
	<-timer.C
	check("after go-redis's reload interval")
}

// masterSlotRange returns the slot range that the master at addr serves.
func masterSlotRange(t *testing.T, admin *redis.ClusterClient, addr string) [2]int64 {
	t.Helper()
	//nolint:staticcheck // SA1019: the slot map is what go-redis itself reads
	slots, err := admin.ClusterSlots(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if len(s.Nodes) > 0 && s.Nodes[0].Addr == addr {
			return [2]int64{int64(s.Start), int64(s.End)}
		}
	}
	t.Fatalf("%s serves no slots", addr)
	return [2]int64{}
}

// waitForFailover waits until a live node reports a cluster in which no
// slot is served by the dead master at addr, and the state is ok.
func waitForFailover(t *testing.T, admin *redis.ClusterClient, cl *redistest.Cluster, dead string) {
	t.Helper()
	var live []string
	for _, a := range cl.Addrs() {
		if a != dead {
			live = append(live, a)
		}
	}
	node := redis.NewClient(redistest.AdminOptions(live[0]))
	defer func() { _ = node.Close() }()
	waitFor(t, "the replica's promotion", func() bool {
		info, err := node.ClusterInfo(context.Background()).Result()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return false
		}
		//nolint:staticcheck // SA1019: the slot map is what go-redis itself reads
		slots, err := node.ClusterSlots(context.Background()).Result()
		if err != nil {
			return false
		}
		return !slices.ContainsFunc(slots, func(s redis.ClusterSlot) bool { return len(s.Nodes) > 0 && s.Nodes[0].Addr == dead })
	})
}
