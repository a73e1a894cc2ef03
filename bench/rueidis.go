package bench

import (
	"context"
	"sync/atomic"

	"github.com/redis/rueidis"
	"github.com/vmihailenco/msgpack/v5"
)

// rueidisEntryOverhead approximates what rueidis's client-side cache
// charges per entry besides the value's bytes (its LRU element, key copies
// and message struct), so that CacheSizeEachConn holds about
// Config.LocalEntries values.
const rueidisEntryOverhead = 384

// rueidisPeer is github.com/redis/rueidis with server-assisted client-side
// caching: reads go through DoCache, which keeps the reply (msgpack bytes)
// in the connection's cache until Redis reports the key changed or the TTL
// passes; every read decodes. rueidis has no loader: a miss is GET, load,
// SET by hand, as its README's cache-aside example does without the
// rueidisaside module.
type rueidisPeer struct {
	cfg   Config
	c     rueidis.Client
	hits  atomic.Int64
	count bool
}

var (
	_ Peer       = (*rueidisPeer)(nil)
	_ ManyGetter = (*rueidisPeer)(nil)
)

// NewRueidis returns an instance of rueidis.
func NewRueidis(cfg Config) (Peer, error) {
	cfg = cfg.withDefaults()
	sample, err := msgpack.Marshal(NewValue(1_000_000, 1))
	if err != nil {
		return nil, err
	}
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{cfg.Addr},
		// Standalone DoCache uses one connection, so its cache is the
		// whole local tier.
		CacheSizeEachConn: cfg.LocalEntries * (rueidisEntryOverhead + len(sample)),
		DisableCache:      cfg.LocalOff,
	})
	if err != nil {
		return nil, err
	}
	return &rueidisPeer{cfg: cfg, c: c, count: cfg.CountLocalHits}, nil
}

func (p *rueidisPeer) get(ctx context.Context, key string) rueidis.RedisResult {
	if p.cfg.LocalOff {
		return p.c.Do(ctx, p.c.B().Get().Key("rue:"+key).Build())
	}
	return p.c.DoCache(ctx, p.c.B().Get().Key("rue:"+key).Cache(), p.cfg.LocalTTL)
}

func (p *rueidisPeer) Get(ctx context.Context, key string) (Value, error) {
	res := p.get(ctx, key)
	b, err := res.AsBytes()
	if rueidis.IsRedisNil(err) {
		v, err := p.cfg.load(ctx, key)
		if err != nil {
			return Value{}, err
		}
		return v, p.Set(ctx, key, v)
	}
	if err != nil {
		return Value{}, err
	}
	if p.count && res.IsCacheHit() {
		p.hits.Add(1)
	}
	var v Value
	err = msgpack.Unmarshal(b, &v)
	return v, err
}

func (p *rueidisPeer) Set(ctx context.Context, key string, v Value) error {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return err
	}
	return p.c.Do(ctx, p.c.B().Set().Key("rue:"+key).Value(rueidis.BinaryString(b)).Px(p.cfg.TTL).Build()).Error()
}

func (p *rueidisPeer) GetMany(ctx context.Context, keys []string) (map[string]Value, error) {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = "rue:" + k
	}
	var (
		msgs map[string]rueidis.RedisMessage
		err  error
	)
	if p.cfg.LocalOff {
		msgs, err = rueidis.MGet(p.c, ctx, full)
	} else {
		msgs, err = rueidis.MGetCache(p.c, ctx, p.cfg.LocalTTL, full)
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]Value, len(keys))
	for i, k := range full {
		m := msgs[k]
		b, err := m.AsBytes()
		if rueidis.IsRedisNil(err) {
			continue
		}
		if err != nil {
			return out, err
		}
		var v Value
		if err := msgpack.Unmarshal(b, &v); err != nil {
			return out, err
		}
		out[keys[i]] = v
	}
	return out, nil
}

func (p *rueidisPeer) LocalHits() int64 { return p.hits.Load() }

func (p *rueidisPeer) Close() error {
	p.c.Close()
	return nil
}
