package redisbus

import (
	"context"
	"crypto/rand"
	"fmt"
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
		done:       make(chan struct{}),
		subs:       make(map[string]*subscription),
		publishers: make(map[string]*publisher),
	}
	b.cluster, _ = client.(*redis.ClusterClient)
	return b, nil
}

// ID returns the bus's ID (Options.ID, or the random one chosen by New).
func (b *Bus) ID() string { return b.cfg.ID }

// Channel returns the name of the channel of namespace ns.
func (b *Bus) Channel(ns string) string { return b.cfg.Prefix + ns }

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

// publish sends one encoded message on channel.
func (b *Bus) publish(ctx context.Context, channel string, payload []byte) error {
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
