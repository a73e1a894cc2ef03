package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/maypok86/otter/v2"
	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"
)

// goRedisPeer is raw go-redis v9 and msgpack: no local tier, a miss is
// GET, load, SET. It is the floor of every Redis-backed figure.
type goRedisPeer struct {
	cfg Config
	rdb *redis.Client
	// cmd sends the single commands: rdb, or its AutoPipeliner.
	cmd    redis.Cmdable
	prefix string // of its Redis keys
}

var (
	_ Peer       = (*goRedisPeer)(nil)
	_ ManyGetter = (*goRedisPeer)(nil)
)

// NewGoRedis returns a raw go-redis client with msgpack.
func NewGoRedis(cfg Config) (Peer, error) {
	cfg = cfg.withDefaults()
	rdb := redis.NewClient(&redis.Options{Addr: cfg.Addr})
	return &goRedisPeer{cfg: cfg, rdb: rdb, cmd: rdb, prefix: "raw:"}, nil
}

// NewGoRedisAutoPipe returns raw go-redis with msgpack whose GETs and SETs
// go through the client's AutoPipeliner (go-redis v9.23, experimental):
// what a user who pipelines by hand gets.
func NewGoRedisAutoPipe(cfg Config) (Peer, error) {
	cfg = cfg.withDefaults()
	rdb := redis.NewClient(&redis.Options{Addr: cfg.Addr})
	ap, err := rdb.AutoPipeline()
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return &goRedisPeer{cfg: cfg, rdb: rdb, cmd: ap, prefix: "rawap:"}, nil
}

func (p *goRedisPeer) Get(ctx context.Context, key string) (Value, error) {
	return getThrough(ctx, p.cmd, p.cfg, p.prefix, key)
}

func (p *goRedisPeer) Set(ctx context.Context, key string, v Value) error {
	return setMsgpack(ctx, p.cmd, p.cfg, p.prefix, key, v)
}

func (p *goRedisPeer) GetMany(ctx context.Context, keys []string) (map[string]Value, error) {
	return mgetMsgpack(ctx, p.rdb, p.prefix, keys)
}

func (p *goRedisPeer) LocalHits() int64 { return -1 }

func (p *goRedisPeer) Close() error { return p.rdb.Close() }

// getThrough is cache-aside by hand on go-redis: GET and decode; on
// redis.Nil, load and SET.
func getThrough(ctx context.Context, rdb redis.Cmdable, cfg Config, prefix, key string) (Value, error) {
	b, err := rdb.Get(ctx, prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		v, err := cfg.load(ctx, key)
		if err != nil {
			return Value{}, err
		}
		return v, setMsgpack(ctx, rdb, cfg, prefix, key, v)
	}
	if err != nil {
		return Value{}, err
	}
	var v Value
	err = msgpack.Unmarshal(b, &v)
	return v, err
}

func setMsgpack(ctx context.Context, rdb redis.Cmdable, cfg Config, prefix, key string, v Value) error {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return err
	}
	return rdb.Set(ctx, prefix+key, b, cfg.TTL).Err()
}

// mgetMsgpack is one MGET and a decode of each value found.
func mgetMsgpack(ctx context.Context, rdb redis.Cmdable, prefix string, keys []string) (map[string]Value, error) {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = prefix + k
	}
	vals, err := rdb.MGet(ctx, full...).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]Value, len(keys))
	for i, raw := range vals {
		s, ok := raw.(string)
		if !ok {
			continue // nil: absent
		}
		var v Value
		if err := msgpack.Unmarshal([]byte(s), &v); err != nil {
			return out, err
		}
		out[keys[i]] = v
	}
	return out, nil
}

// ristrettoPeer is a raw ristretto v2 cache of decoded values: no Redis,
// so nothing is shared between instances. A miss loads and stores with
// SetWithTTL, without Wait, as most users do. It is the floor of every
// local-hit figure.
type ristrettoPeer struct {
	cfg  Config
	c    *ristretto.Cache[string, Value]
	hits atomic.Int64
}

var _ Peer = (*ristrettoPeer)(nil)

// NewRistretto returns a raw ristretto cache of Config.LocalEntries
// entries (cost 1 each). Config.LocalOff is errors.ErrUnsupported.
func NewRistretto(cfg Config) (Peer, error) {
	if cfg.LocalOff {
		return nil, errors.ErrUnsupported
	}
	cfg = cfg.withDefaults()
	c, err := ristretto.NewCache(&ristretto.Config[string, Value]{
		NumCounters:        int64(10 * cfg.LocalEntries),
		MaxCost:            int64(cfg.LocalEntries),
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("bench: ristretto: %w", err)
	}
	return &ristrettoPeer{cfg: cfg, c: c}, nil
}

func (p *ristrettoPeer) Get(ctx context.Context, key string) (Value, error) {
	if v, ok := p.c.Get(key); ok {
		if p.cfg.CountLocalHits {
			p.hits.Add(1)
		}
		return v, nil
	}
	v, err := p.cfg.load(ctx, key)
	if err != nil {
		return Value{}, err
	}
	p.c.SetWithTTL(key, v, 1, p.cfg.LocalTTL)
	return v, nil
}

func (p *ristrettoPeer) Set(_ context.Context, key string, v Value) error {
	p.c.SetWithTTL(key, v, 1, p.cfg.LocalTTL)
	return nil
}

// Wait waits for buffered Sets to apply (benchmarks fill, then Wait).
func (p *ristrettoPeer) Wait() { p.c.Wait() }

func (p *ristrettoPeer) LocalHits() int64 { return p.hits.Load() }

func (p *ristrettoPeer) Close() error {
	p.c.Close()
	return nil
}

// otterPeer is raw otter v2: a local cache of Config.LocalEntries entries
// with Config.LocalTTL, nothing shared; a miss loads and sets.
type otterPeer struct {
	cfg  Config
	c    *otter.Cache[string, Value]
	hits atomic.Int64
}

var _ Peer = (*otterPeer)(nil)

// NewOtter returns a raw otter cache of Config.LocalEntries entries, each
// expiring Config.LocalTTL after its write, as otter's README configures
// it. Config.LocalOff is errors.ErrUnsupported.
func NewOtter(cfg Config) (Peer, error) {
	if cfg.LocalOff {
		return nil, errors.ErrUnsupported
	}
	cfg = cfg.withDefaults()
	c, err := otter.New(&otter.Options[string, Value]{
		MaximumSize:      cfg.LocalEntries,
		ExpiryCalculator: otter.ExpiryWriting[string, Value](cfg.LocalTTL),
	})
	if err != nil {
		return nil, fmt.Errorf("bench: otter: %w", err)
	}
	return &otterPeer{cfg: cfg, c: c}, nil
}

func (p *otterPeer) Get(ctx context.Context, key string) (Value, error) {
	if v, ok := p.c.GetIfPresent(key); ok {
		if p.cfg.CountLocalHits {
			p.hits.Add(1)
		}
		return v, nil
	}
	v, err := p.cfg.load(ctx, key)
	if err != nil {
		return Value{}, err
	}
	p.c.Set(key, v)
	return v, nil
}

func (p *otterPeer) Set(_ context.Context, key string, v Value) error {
	p.c.Set(key, v)
	return nil
}

func (p *otterPeer) LocalHits() int64 { return p.hits.Load() }

func (p *otterPeer) Close() error {
	p.c.StopAllGoroutines()
	return nil
}
