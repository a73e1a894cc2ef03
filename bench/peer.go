package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tiercache/tiercache/l1"
	"github.com/tiercache/tiercache/tiered"
)

// Defaults of [Config].
const (
	// DefaultTTL is how long a value lives in Redis.
	DefaultTTL = time.Hour
	// DefaultLocalTTL is how long a value lives in a local tier that takes
	// a TTL; go-redis/cache's README uses one minute.
	DefaultLocalTTL = time.Minute
	// DefaultLocalEntries is the capacity of a local tier, in entries.
	DefaultLocalEntries = 10_000
)

// ErrNoLoader is returned by Get on a miss when Config.Loader is nil.
var ErrNoLoader = errors.New("bench: miss and no loader")

// A LoadFunc reads a value from the source of truth (a database in
// production).
type LoadFunc func(ctx context.Context, key string) (Value, error)

// Config is what a scenario asks of a library's instance. The zero value
// of each field means its default.
type Config struct {
	// Addr is the address of the standalone Redis every instance shares.
	Addr string
	// Loader loads a missing key. Nil makes Get return ErrNoLoader on a
	// miss.
	Loader LoadFunc
	// TTL is the lifetime of a value in Redis. Default DefaultTTL.
	TTL time.Duration
	// LocalTTL is the lifetime in the local tier where the library takes
	// one. Default DefaultLocalTTL.
	LocalTTL time.Duration
	// LocalEntries is the local tier's capacity in entries. Default
	// DefaultLocalEntries. Libraries that size it in bytes get the
	// equivalent for Value.
	LocalEntries int
	// LocalOff turns the local tier off, so that every read reaches Redis.
	// A library without a way to do so returns errors.ErrUnsupported.
	LocalOff bool
	// CountLocalHits makes LocalHits count (it costs an atomic add on each
	// hit in libraries that do not count by themselves).
	CountLocalHits bool
	// rueidisL2: tiercache's L2 is l2/rueidisstore (WithRueidisStore).
	rueidisL2 bool
}

func (c Config) withDefaults() Config {
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.LocalTTL == 0 {
		c.LocalTTL = DefaultLocalTTL
	}
	if c.LocalEntries == 0 {
		c.LocalEntries = DefaultLocalEntries
	}
	return c
}

// A Peer is one instance of a caching library: its local tier, its Redis
// connections. Its methods are safe for concurrent use.
type Peer interface {
	// Get returns the value of key. On a miss of every tier it calls the
	// Config's Loader and stores what it returned, the way the library
	// does (its own read-through, or GET, load, SET by hand).
	Get(ctx context.Context, key string) (Value, error)
	// Set writes value as the library's writers do after changing the
	// source.
	Set(ctx context.Context, key string, value Value) error
	// LocalHits returns how many reads the local tier served so far
	// (Config.CountLocalHits), or -1 when the library has no local tier.
	LocalHits() int64
	// Close releases the instance.
	Close() error
}

// A ManyGetter reads many keys in one call (no loads: keys absent from
// every tier are left out of the result).
type ManyGetter interface {
	GetMany(ctx context.Context, keys []string) (map[string]Value, error)
}

// A Readier is an instance that needs a moment after it is built before it
// hears other instances' writes (tiercache subscribes to its invalidation
// channel in the background). Scenarios call Ready before they measure.
type Readier interface {
	Ready(ctx context.Context) error
}

// A Library is a name and the constructor of its instances.
type Library struct {
	Name string
	// Remote tells whether the library has a shared (Redis) tier.
	Remote bool
	// Local tells whether the library has an in-process tier.
	Local bool
	New   func(Config) (Peer, error)
}

// Libraries returns tiercache and the libraries it is measured beside, in
// the order the results list them.
func Libraries() []Library {
	return []Library{
		{Name: "tiercache", Remote: true, Local: true, New: NewTiercache},
		{Name: "go-redis-cache", Remote: true, Local: true, New: NewGoRedisCache},
		{Name: "rueidis", Remote: true, Local: true, New: NewRueidis},
		{Name: "go-redis-csc", Remote: true, Local: true, New: NewGoRedisCSC},
		{Name: "ristretto", Local: true, New: NewRistretto},
		{Name: "otter", Local: true, New: NewOtter},
		{Name: "go-redis+msgpack", Remote: true, New: NewGoRedis},
		{Name: "go-redis-autopipe", Remote: true, New: NewGoRedisAutoPipe},
	}
}

// WithRistretto is tiercache over a ristretto L1 of the same size instead
// of its default (otter).
func WithRistretto() Library {
	return Library{Name: "tiercache-ristretto", Remote: true, Local: true, New: func(cfg Config) (Peer, error) {
		return newTiercache(cfg, nil, func(entries int64) (l1.Store, error) {
			return l1.NewRistretto(l1.Options{MaxCost: entries, AverageCost: 1})
		})
	}}
}

// WithRueidisStore is tiercache over l2/rueidisstore (a rueidis client)
// instead of l2/redisstore (go-redis). Its bus publishes through the
// store (redisbus Options.Publish = Store.Publish), on the same pipelined
// connection, and subscribes with go-redis.
func WithRueidisStore() Library {
	return Library{Name: "tiercache-rueidisstore", Remote: true, Local: true, New: func(cfg Config) (Peer, error) {
		cfg.rueidisL2 = true
		return newTiercache(cfg, nil, nil)
	}}
}

// WithoutLeases is tiercache with its L2 leases off (LeaseTTL -1): the
// row beside tiercache that shows what the leases cost where they do not
// help (one round trip and two Lua scripts per load).
func WithoutLeases() Library {
	return TiercacheVariant("tiercache-noleases", func(o *tiered.Options[string, Value]) { o.LeaseTTL = -1 })
}

// load calls cfg.Loader, or fails when there is none.
func (c Config) load(ctx context.Context, key string) (Value, error) {
	if c.Loader == nil {
		return Value{}, fmt.Errorf("%w: %s", ErrNoLoader, key)
	}
	return c.Loader(ctx, key)
}
