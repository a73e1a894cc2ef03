package redisbus

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/invalidate"
)

var _ invalidate.Bus = (*Bus)(nil)

// Bus is an [invalidate.Bus] over Redis pub/sub. Create it with [New]; it
// is safe for concurrent use. Each namespace has its own channel, its own
// subscription connection and its own publishing goroutine.
type Bus struct {
	client  redis.UniversalClient
	cluster *redis.ClusterClient // non-nil: sharded pub/sub
	cfg     Options
	// channels starts every channel name: Prefix, Scope and the database
	// (see Channel).
	channels string
	// maxEncoded caps the encoding of a message: MaxMessageSize, less the
	// MAC when there are Keys.
	maxEncoded int

	// done is closed by Close; every goroutine of the bus watches it.
	done chan struct{}
	wg   sync.WaitGroup

	mu         sync.Mutex
	closed     bool
	subs       map[string]*subscription
	publishers map[string]*publisher
}

// New returns a bus over client. On a *redis.ClusterClient it uses sharded
// pub/sub (SPUBLISH, SSUBSCRIBE): a namespace's messages go to the shard
// that owns its channel instead of every node. The bus does not close
// client. opts may be nil.
func New(client redis.UniversalClient, opts *Options) (*Bus, error) {
	if client == nil {
		return nil, fmt.Errorf("redisbus: nil client")
	}
	cfg, err := opts.config()
	if err != nil {
		return nil, err
	}
	if cfg.ID == "" {
		cfg.ID = rand.Text()
	}
	b := &Bus{
		client:     client,
		cfg:        cfg,
		channels:   channels(&cfg, client),
		maxEncoded: cfg.MaxMessageSize,
		done:       make(chan struct{}),
		subs:       make(map[string]*subscription),
		publishers: make(map[string]*publisher),
	}
	if len(cfg.Keys) > 0 {
		b.maxEncoded -= macSize
	}
	b.cluster, _ = client.(*redis.ClusterClient)
	return b, nil
}

// ID returns the bus's ID (Options.ID, or the random one chosen by New).
func (b *Bus) ID() string { return b.cfg.ID }

// Channel returns the name of the channel of namespace ns:
//
//	Prefix [Scope ":"] ["db" N ":"] ns
//
// Prefix ends with ':' (DefaultPrefix is "tc:inv:"); Scope is
// Options.Scope, when set; N is the database number of the client's
// options (*redis.Client, including a Sentinel failover client, and
// *redis.Ring), when not 0. Redis pub/sub ignores database numbers: this
// is what keeps the caches of database 5 from hearing those of database 0.
// A Cluster has database 0 only. Namespaces are cache names, which hold
// no ':', and neither does Scope: the parts never run into each other.
//
// "users" is on "tc:inv:users"; with Scope "shop" on a client of database
// 5, on "tc:inv:shop:db5:users".
func (b *Bus) Channel(ns string) string { return b.channels + ns }

// channels returns the start of every channel name of a bus with cfg over
// client.
func channels(cfg *Options, client redis.UniversalClient) string {
	s := cfg.Prefix
	if cfg.Scope != "" {
		s += cfg.Scope + ":"
	}
	if db := database(client); db != 0 {
		s += "db" + strconv.Itoa(db) + ":"
	}
	return s
}

// database returns the database number that client selects, 0 for a
// Cluster and for a client of a type it does not know.
func database(client redis.UniversalClient) int {
	switch c := client.(type) {
	case *redis.Client: // also NewFailoverClient's
		return c.Options().DB
	case *redis.Ring:
		return c.Options().DB
	}
	return 0
}

// Close ends every subscription, makes one last attempt to send what is
// queued, and waits for the bus's goroutines. It is idempotent and returns
// nil.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	subs := b.subs
	b.subs = nil
	close(b.done)
	b.mu.Unlock()
	for _, s := range subs {
		s.stop()
	}
	b.wg.Wait()
	return nil
}

// observe reports ev to the handler of namespace ns, when it has one that
// is an [invalidate.Observer].
func (b *Bus) observe(ns string, ev invalidate.Event, keys int) {
	b.mu.Lock()
	s := b.subs[ns]
	b.mu.Unlock()
	if s == nil {
		return
	}
	if o, ok := s.h.(invalidate.Observer); ok {
		o.Observe(ev, keys)
	}
}

// publish sends one encoded message on channel, through Options.Publish
// when it is set.
func (b *Bus) publish(ctx context.Context, channel string, payload []byte) error {
	if b.cfg.Publish != nil {
		return b.cfg.Publish(ctx, channel, payload, b.cluster != nil)
	}
	if b.cluster != nil {
		return b.cluster.SPublish(ctx, channel, payload).Err()
	}
	return b.client.Publish(ctx, channel, payload).Err()
}

// newPubSub subscribes to channel on a new connection.
func (b *Bus) newPubSub(ctx context.Context, channel string) *redis.PubSub {
	if b.cluster != nil {
		return b.cluster.SSubscribe(ctx, channel)
	}
	return b.client.Subscribe(ctx, channel)
}

// reloadState refreshes a Cluster client's view of the slots after a
// failure: its own reload runs only every 60 s by default, and a dead
// master's shard channels stay unreachable until it does.
func (b *Bus) reloadState(ctx context.Context) {
	if b.cluster != nil {
		b.cluster.ReloadState(ctx)
	}
}

// sleep waits for d or Close; it reports false on Close.
func (b *Bus) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.done:
		return false
	}
}

// backoff returns the wait before retry number n (0-based): 10 ms doubling
// up to RetryBackoff.
func (b *Bus) backoff(n int) time.Duration {
	d := 10 * time.Millisecond << min(n, 16)
	return min(d, b.cfg.RetryBackoff)
}
