package writecheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/fencebus"
	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Value is the cached value: a key and the version a writer gave it
// (versions are unique across the run).
type Value struct {
	Key, Version int64
}

// Source is the source of truth under test.
type Source interface {
	tiered.Writer[int64, Value]
	loader.Loader[int64, Value]
	// Row returns the version the source holds for key k (0: no row).
	Row(ctx context.Context, k int64) (int64, error)
	// Refused reports whether the source refused a write of version v
	// (its Write returned an error without writing it).
	Refused(v int64) bool
}

// Config sizes a run. The zero value of each count takes its default.
type Config struct {
	// NewClient returns a client of the Redis under test; each instance
	// gets its own.
	NewClient func(t *testing.T) redis.UniversalClient
	Source    Source
	// BusKeys authenticate the bus messages (redisbus.Options.Keys).
	BusKeys [][]byte
	// Name is the cache's namespace. Default "wt".
	Name string

	Instances int // default 4
	Writers   int // per instance, default 2
	Readers   int // per instance, default 2
	Rounds    int // default 60
	Writes    int // per writer and round, default 5
	Reads     int // per reader and round, default 10
	Hot       int // keys written in a round, default 4
	Keys      int // default 64
	// DeleteOneIn: one write in DeleteOneIn is a DeleteThrough. Default 5.
	DeleteOneIn int
}

func (c *Config) defaults() {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.Instances, 4)
	def(&c.Writers, 2)
	def(&c.Readers, 2)
	def(&c.Rounds, 60)
	def(&c.Writes, 5)
	def(&c.Reads, 10)
	def(&c.Hot, 4)
	def(&c.Keys, 64)
	def(&c.DeleteOneIn, 5)
	if c.Name == "" {
		c.Name = "wt"
	}
}

// Report is what a run did and found.
type Report struct {
	Writes, Refused, Reads int64 // write-throughs, refused by the source, reads beside them
	Stored, Invalidated    int64 // stats.ThroughStored and stats.ThroughInvalidated of every instance
	Loads                  int64
	Checked, Stale         int // reads after quiet, and how many differed from the source
	Took                   time.Duration
}

func (r Report) String() string {
	return fmt.Sprintf("%d writes through, deletes included (%d refused by the source) beside %d reads in %v: %d values stored, %d keys invalidated instead, %d loads; %d stale of %d reads after quiet",
		r.Writes, r.Refused, r.Reads, r.Took.Round(time.Millisecond), r.Stored, r.Invalidated, r.Loads, r.Stale, r.Checked)
}

type instance struct {
	cache *tiered.Cache[int64, Value]
	bus   *fencebus.Bus
	stats *stats.Counter
}

// Run runs the check and fails t on an error, on a read of a refused
// value, and on every stale read after quiet.
func Run(t *testing.T, cfg Config) Report {
	t.Helper()
	cfg.defaults()
	ctx := context.Background()
	var instances []*instance
	for i := range cfg.Instances {
		client := cfg.NewClient(t)
		bus, err := redisbus.New(client, &redisbus.Options{Keys: cfg.BusKeys, ID: fmt.Sprint("instance-", i), RetryBackoff: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bus.Close() })
		in := &instance{bus: fencebus.New(bus), stats: &stats.Counter{}}
		in.cache, err = tiered.New(&tiered.Options[int64, Value]{
			Name:        cfg.Name,
			L2:          redisstore.New(client, nil),
			Bus:         in.bus,
			Loader:      cfg.Source,
			Writer:      cfg.Source,
			NotFoundTTL: time.Minute,
			Stats:       in.stats,
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

	var (
		rep  Report
		next atomic.Int64 // versions
	)
	for round := range cfg.Rounds {
		took, refused, err := runRound(ctx, cfg, instances, round, &next)
		rep.Took += took
		rep.Refused += refused
		if err != nil {
			t.Fatal(err)
		}
		buses := make([]*fencebus.Bus, len(instances))
		for i, in := range instances {
			buses[i] = in.bus
		}
		fencebus.Fence(t, cfg.Name, fmt.Sprint(round), buses...)
		for i, in := range instances {
			for k := range int64(cfg.Keys) {
				rep.Checked++
				v, err := in.cache.Get(ctx, k)
				want, rerr := cfg.Source.Row(ctx, k)
				switch {
				case rerr != nil:
					t.Fatal(rerr)
				case want == 0 && errors.Is(err, tiered.ErrNotFound):
				case want != 0 && err == nil && v.Version == want:
				default:
					rep.Stale++
					t.Errorf("round %d, instance %d, key %d: got version %d (%v), the source has %d", round, i, k, v.Version, err, want)
				}
			}
		}
		if t.Failed() {
			break
		}
		rep.Writes += int64(cfg.Instances * cfg.Writers * cfg.Writes)
		rep.Reads += int64(cfg.Instances * cfg.Readers * cfg.Reads)
	}
	for _, in := range instances {
		s := in.stats.Snapshot()
		rep.Stored += s.Get(stats.ThroughStored)
		rep.Invalidated += s.Get(stats.ThroughInvalidated)
		rep.Loads += s.Loads()
	}
	return rep
}

// runRound runs the writers and readers of one round on a few hot keys.
func runRound(ctx context.Context, cfg Config, instances []*instance, round int, next *atomic.Int64) (took time.Duration, refused int64, err error) {
	rnd := rand.New(rand.NewPCG(uint64(round), 0))
	hot := make([]int64, cfg.Hot)
	for j := range hot {
		hot[j] = rnd.Int64N(int64(cfg.Keys))
	}
	var (
		wg       sync.WaitGroup
		nRefused atomic.Int64
	)
	errs := make(chan error, cfg.Instances*(cfg.Writers+cfg.Readers))
	start := time.Now()
	for i, in := range instances {
		for w := range cfg.Writers {
			wg.Go(func() {
				rnd := rand.New(rand.NewPCG(uint64(round), uint64(1+i*cfg.Writers+w)))
				for range cfg.Writes {
					k := hot[rnd.IntN(cfg.Hot)]
					var err error
					if rnd.IntN(cfg.DeleteOneIn) == 0 {
						err = in.cache.DeleteThrough(ctx, k)
					} else {
						err = in.cache.WriteThrough(ctx, k, Value{Key: k, Version: next.Add(1)})
					}
					switch {
					case errors.Is(err, tiered.ErrWriteFailed):
						nRefused.Add(1)
					case err != nil:
						errs <- err
						return
					}
				}
			})
		}
		for r := range cfg.Readers {
			wg.Go(func() {
				rnd := rand.New(rand.NewPCG(uint64(round), uint64(1000+i*cfg.Readers+r)))
				for range cfg.Reads {
					k := hot[rnd.IntN(cfg.Hot)]
					v, err := in.cache.Get(ctx, k)
					switch {
					case err != nil && !errors.Is(err, tiered.ErrNotFound) || err == nil && v.Key != k:
						errs <- fmt.Errorf("Get(%d) = %+v, %v", k, v, err) //nolint:errorlint // err is nil when the value is wrong, and %w would print %!w(<nil>)
						return
					case err == nil && cfg.Source.Refused(v.Version):
						errs <- fmt.Errorf("Get(%d) served version %d, which the source refused", k, v.Version)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	return time.Since(start), nRefused.Load(), <-errs
}

// waitFor polls cond until it holds, or fails t after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // a poll interval, not a wait for an outcome
	}
}
