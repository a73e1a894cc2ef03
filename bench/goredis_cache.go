package bench

import (
	"context"
	"sync/atomic"

	"github.com/go-redis/cache/v9"
	"github.com/redis/go-redis/v9"
)

// goRedisCachePeer is github.com/go-redis/cache/v9 as its README sets it
// up: a TinyLFU local cache in front of Redis, reads through Once (which
// deduplicates concurrent loads of a key in this process). Both tiers
// hold msgpack bytes, compressed with s2 above 64 bytes, and every read
// decodes them.
type goRedisCachePeer struct {
	cfg   Config
	rdb   *redis.Client
	c     *cache.Cache
	local *countingLocal // nil unless Config.CountLocalHits
}

var _ Peer = (*goRedisCachePeer)(nil)

// NewGoRedisCache returns an instance of go-redis/cache.
func NewGoRedisCache(cfg Config) (Peer, error) {
	cfg = cfg.withDefaults()
	rdb := redis.NewClient(&redis.Options{Addr: cfg.Addr})
	p := &goRedisCachePeer{cfg: cfg, rdb: rdb}
	opts := &cache.Options{Redis: rdb}
	if !cfg.LocalOff {
		var local cache.LocalCache = cache.NewTinyLFU(cfg.LocalEntries, cfg.LocalTTL)
		if cfg.CountLocalHits {
			p.local = &countingLocal{LocalCache: local}
			local = p.local
		}
		opts.LocalCache = local
	}
	p.c = cache.New(opts)
	return p, nil
}

func (p *goRedisCachePeer) Get(ctx context.Context, key string) (Value, error) {
	var v Value
	err := p.c.Once(&cache.Item{
		Ctx:   ctx,
		Key:   "grc:" + key,
		Value: &v,
		TTL:   p.cfg.TTL,
		Do: func(it *cache.Item) (any, error) {
			return p.cfg.load(it.Ctx, key)
		},
	})
	return v, err
}

func (p *goRedisCachePeer) Set(ctx context.Context, key string, v Value) error {
	return p.c.Set(&cache.Item{Ctx: ctx, Key: "grc:" + key, Value: v, TTL: p.cfg.TTL})
}

func (p *goRedisCachePeer) LocalHits() int64 {
	if p.local == nil {
		return 0
	}
	return p.local.hits.Load()
}

func (p *goRedisCachePeer) Close() error { return p.rdb.Close() }

// countingLocal counts the hits of a go-redis/cache local cache, which
// counts only Redis hits by itself.
type countingLocal struct {
	cache.LocalCache
	hits atomic.Int64
}

func (c *countingLocal) Get(key string) ([]byte, bool) {
	b, ok := c.LocalCache.Get(key)
	if ok {
		c.hits.Add(1)
	}
	return b, ok
}
