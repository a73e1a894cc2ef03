package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l1"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// cacheTTL and staleWindow are the products' lifetime in the cache and how
// long an expired one may be served while it is refreshed.
const (
	cacheTTL    = 20 * time.Second
	staleWindow = 10 * time.Second
)

// cacheName is the namespace of the products' caches: L2 keys are
// {tc:product:<id>}, and the CDC rule evicts keys of this namespace.
const cacheName = "product"

// replica is one instance of the service, as one pod would be: its own
// Redis client, invalidation bus, L1 and write-behind queue reader, over
// the Redis (L2) that every replica shares.
type replica struct {
	name  string
	rdb   redis.UniversalClient
	bus   *redisbus.Bus
	cache *tiered.Cache[int64, Product]
}

// replicaDeps is what every replica shares: the database, the metrics and
// the tracer (one each for the whole process), the logger.
type replicaDeps struct {
	db     *DB
	stats  stats.Recorder
	tracer stats.Tracer
	logger *slog.Logger
}

// newReplica starts replica name on a client of its own.
func newReplica(name string, rdb redis.UniversalClient, deps replicaDeps) (_ *replica, err error) {
	r := &replica{name: name, rdb: rdb}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	r.bus, err = redisbus.New(rdb, &redisbus.Options{Logger: deps.logger})
	if err != nil {
		return nil, fmt.Errorf("replica %s: %w", name, err)
	}
	// Durable write-behind: accepted writes wait in Redis Streams, and
	// whichever replica is alive writes them to the database. An entry
	// that a flusher took and could not finish (Redis went away in the
	// middle of its round) comes back after ClaimAfter: 2 s rather than
	// the default 30 s, since this database answers in a millisecond.
	queue, err := redisstore.NewQueue(rdb, &redisstore.QueueOptions{
		Namespace: cacheName, Consumer: "httpservice-" + name, ClaimAfter: 2 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("replica %s: %w", name, err)
	}
	// Metrics on, so that tiercache_l1_entries is exported (an atomic add
	// per L1 read). 512 KiB holds about 3,500 products: the hottest, and
	// evictions show on the dashboard.
	l1store, err := l1.NewRistretto(l1.Options{MaxCost: 512 << 10, Metrics: true})
	if err != nil {
		return nil, fmt.Errorf("replica %s: %w", name, err)
	}
	db := deps.db
	r.cache, err = tiered.New(&tiered.Options[int64, Product]{
		Name: cacheName,
		L1:   l1store, // closed by the cache's Close
		L2:   redisstore.New(rdb, nil),
		Bus:  r.bus,
		// Short, so that a run of 30 s sees values expire: early
		// refreshes of hot values, and stale values served while they
		// are refreshed.
		TTL:                  cacheTTL,
		StaleWhileRevalidate: staleWindow,
		// The most a read waits for Redis before it goes on without it
		// (the production checklist): without it, reads wait out
		// go-redis's retries and timeouts (seconds) while Redis is down.
		L2Timeout: 100 * time.Millisecond,
		// Beta: 0 is the default, 1: hot values are refreshed before they
		// expire.
		HotKeys:     1000,
		Loader:      loader.Func[int64, Product](db.Product),
		BatchLoader: loader.BatchFunc[int64, Product](db.Products),
		Writer:      tiered.WriterFunc[int64, Product](db.Write),
		BatchWriter: tiered.BatchWriterFunc[int64, Product](db.WriteMany),
		WriteBehind: &tiered.WriteBehindOptions[int64, Product]{Queue: queue},
		Stats:       deps.stats,
		Tracer:      deps.tracer,
		Logger:      deps.logger,
	})
	if err != nil {
		l1store.Close() // New closes only the L1 it made itself
		return nil, fmt.Errorf("replica %s: %w", name, err)
	}
	return r, nil
}

// closeCache closes the cache: it writes what its write-behind queue
// holds (within its DrainTimeout), makes a last attempt to settle its
// keys and saves its hot keys, through the bus and the client, which are
// closed after it.
func (r *replica) closeCache() {
	if r.cache != nil {
		_ = r.cache.Close()
	}
}

// closeConns closes the bus (which sends what it holds) and the client.
func (r *replica) closeConns() error {
	var errs []error
	if r.bus != nil {
		errs = append(errs, r.bus.Close())
	}
	errs = append(errs, r.rdb.Close())
	return errors.Join(errs...)
}

// close closes everything in order, for a replica that failed to start.
func (r *replica) close() {
	r.closeCache()
	_ = r.closeConns()
}
