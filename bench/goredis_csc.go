package bench

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// goRedisCSCPeer is go-redis v9's experimental client-side cache: RESP3,
// Options.ClientSideCacheConfig with MaxEntries, every other knob at its
// default. GET and MGET replies (msgpack bytes) are kept in the client
// until Redis reports the key changed; every read decodes. go-redis has no
// loader: a miss is GET, load, SET by hand. Standalone only.
type goRedisCSCPeer struct {
	cfg Config
	rdb *redis.Client
}

var (
	_ Peer       = (*goRedisCSCPeer)(nil)
	_ ManyGetter = (*goRedisCSCPeer)(nil)
)

// NewGoRedisCSC returns an instance of go-redis with its client-side
// cache. Config.LocalOff is errors.ErrUnsupported: that is plain go-redis.
func NewGoRedisCSC(cfg Config) (Peer, error) {
	if cfg.LocalOff {
		return nil, errors.ErrUnsupported
	}
	cfg = cfg.withDefaults()
	rdb := redis.NewClient(&redis.Options{
		Addr:                  cfg.Addr,
		Protocol:              3,
		ClientSideCacheConfig: &redis.ClientSideCacheConfig{MaxEntries: cfg.LocalEntries},
	})
	return &goRedisCSCPeer{cfg: cfg, rdb: rdb}, nil
}

func (p *goRedisCSCPeer) Get(ctx context.Context, key string) (Value, error) {
	return getThrough(ctx, p.rdb, p.cfg, "csc:", key)
}

func (p *goRedisCSCPeer) Set(ctx context.Context, key string, v Value) error {
	return setMsgpack(ctx, p.rdb, p.cfg, "csc:", key, v)
}

func (p *goRedisCSCPeer) GetMany(ctx context.Context, keys []string) (map[string]Value, error) {
	return mgetMsgpack(ctx, p.rdb, "csc:", keys)
}

func (p *goRedisCSCPeer) LocalHits() int64 { return int64(p.rdb.CSCStats().Hits) }

func (p *goRedisCSCPeer) Close() error { return p.rdb.Close() }
