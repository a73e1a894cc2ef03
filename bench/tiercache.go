package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/tiercache/tiercache/invalidate/redisbus"
	"github.com/tiercache/tiercache/l1"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/l2/rueidisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// tiercachePeer is a tiered.Cache with its default L1 (otter) of
// LocalEntries entries, Redis as L2 and invalidation over Redis pub/sub;
// everything else at its defaults (XFetch, leases, msgpack,
// auto-pipelining).
type tiercachePeer struct {
	c      *tiered.Cache[string, Value]
	bus    *redisbus.Bus
	rdb    *redis.Client
	events *events
	// closers run at Close, after the cache's (an L2 store's own client).
	closers []func()
}

var (
	_ Peer       = (*tiercachePeer)(nil)
	_ ManyGetter = (*tiercachePeer)(nil)
	_ Readier    = (*tiercachePeer)(nil)
)

// NewTiercache returns an instance of tiercache.
func NewTiercache(cfg Config) (Peer, error) { return newTiercache(cfg, nil, nil) }

// TiercacheVariant returns tiercache under another name, with tune
// applied to its Options: a row that shows what one option costs or buys.
func TiercacheVariant(name string, tune func(*tiered.Options[string, Value])) Library {
	return Library{Name: name, Remote: true, Local: true, New: func(cfg Config) (Peer, error) {
		return newTiercache(cfg, tune, nil)
	}}
}

// newTiercache returns tiercache with tune applied to its Options and an
// L1 made by newL1 (nil: the default store, otter) of the given entries.
func newTiercache(cfg Config, tune func(*tiered.Options[string, Value]), newL1 func(entries int64) (l1.Store, error)) (Peer, error) {
	cfg = cfg.withDefaults()
	rdb := redis.NewClient(&redis.Options{Addr: cfg.Addr})
	p := &tiercachePeer{rdb: rdb, events: &events{countHits: cfg.CountLocalHits, subscribed: make(chan struct{})}}
	var (
		store   l2.Store = redisstore.New(rdb, nil)
		busOpts *redisbus.Options
	)
	if cfg.rueidisL2 {
		rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{cfg.Addr}, DisableCache: true})
		if err != nil {
			_ = rdb.Close()
			return nil, err
		}
		p.closers = append(p.closers, rc.Close)
		rs := rueidisstore.New(rc, nil)
		// The bus publishes on the store's pipelined connection; it
		// subscribes with go-redis.
		store, busOpts = rs, &redisbus.Options{Publish: rs.Publish}
	}
	bus, err := redisbus.New(rdb, busOpts)
	if err != nil {
		_ = p.Close()
		return nil, err
	}
	p.bus = bus
	opts := &tiered.Options[string, Value]{
		Name:  "bench",
		L2:    store,
		Bus:   bus,
		TTL:   cfg.TTL,
		L1TTL: cfg.LocalTTL,
		// Entries count 1 each, as in the other libraries' local tiers.
		Cost:  func(Value) int64 { return 1 },
		Stats: p.events,
	}
	if cfg.Loader != nil {
		opts.Loader = loader.Func[string, Value](cfg.Loader)
	}
	if cfg.LocalOff {
		opts.L1 = noL1{}
	} else {
		if newL1 == nil {
			newL1 = func(entries int64) (l1.Store, error) { return l1.NewOtter(l1.Options{MaxCost: entries}) }
		}
		store, err := newL1(int64(cfg.LocalEntries))
		if err != nil {
			_ = p.Close()
			return nil, err
		}
		opts.L1 = store
	}
	if tune != nil {
		tune(opts)
	}
	c, err := tiered.New(opts)
	if err != nil {
		opts.L1.Close()
		_ = p.Close()
		return nil, err
	}
	p.c = c
	return p, nil
}

func (p *tiercachePeer) Get(ctx context.Context, key string) (Value, error) {
	return p.c.Get(ctx, key)
}

func (p *tiercachePeer) Set(ctx context.Context, key string, v Value) error {
	return p.c.Set(ctx, key, v)
}

func (p *tiercachePeer) GetMany(ctx context.Context, keys []string) (map[string]Value, error) {
	return p.c.GetMany(ctx, keys)
}

func (p *tiercachePeer) LocalHits() int64 { return p.events.hits.Load() }

// Ready waits for the instance's first subscription to the invalidation
// channel: until then it hears no other instance's writes.
func (p *tiercachePeer) Ready(ctx context.Context) error {
	select {
	case <-p.events.subscribed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Invalidations returns how many invalidation messages of other instances
// this instance applied to its L1 so far.
func (p *tiercachePeer) Invalidations() int64 { return p.events.received.Load() }

func (p *tiercachePeer) Close() error {
	if p.c != nil {
		_ = p.c.Close()
	}
	if p.bus != nil {
		_ = p.bus.Close()
	}
	for _, f := range p.closers {
		f()
	}
	return p.rdb.Close()
}

// events is the stats.Recorder of a tiercache instance: it watches the
// few events the scenarios need and ignores the rest, so that it costs a
// hit no more than the default no-op recorder (no shared counter is
// written unless Config.CountLocalHits).
type events struct {
	stats.Noop // the events it does not count
	countHits  bool
	hits       atomic.Int64
	received   atomic.Int64
	once       sync.Once
	subscribed chan struct{}
}

func (e *events) Add(ev stats.Event, n int) {
	switch ev {
	case stats.L1Hit:
		if e.countHits {
			e.hits.Add(int64(n))
		}
	case stats.Received:
		e.received.Add(int64(n))
	case stats.Subscribed:
		e.once.Do(func() { close(e.subscribed) })
	}
}

// noL1 is an L1 that keeps nothing (Config.LocalOff).
type noL1 struct{}

func (noL1) Get(string) (any, bool)                     { return nil, false }
func (noL1) Set(string, any, int64, time.Duration) bool { return false }
func (noL1) Wait()                                      {}
func (noL1) Delete(string)                              {}
func (noL1) Clear()                                     {}
func (noL1) Close()                                     {}
