package promstats

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2/redisstore"
)

// DefaultRedisTimeout bounds the INFO calls of one scrape of the collector
// that NewRedisCollector returns, and of its first round.
const DefaultRedisTimeout = 2 * time.Second

// RedisOptions configures NewRedisCollector. The zero value is valid, and
// NewRedisCollector accepts nil.
type RedisOptions struct {
	// Timeout bounds the INFO calls of each scrape (sent to every node in
	// parallel), and those of NewRedisCollector's first round; a node that
	// has not answered by then is reported down. Zero or negative:
	// DefaultRedisTimeout.
	Timeout time.Duration
	// Logger receives, at Warn, the warnings of NewRedisCollector's first
	// round. Default: slog.Default().
	Logger *slog.Logger
}

// redisCollector exports what redisstore.Memory reads at each scrape.
type redisCollector struct {
	client  redis.UniversalClient
	timeout time.Duration

	up, used, peak, max, policy, evicted, expired *prometheus.Desc
}

var _ prometheus.Collector = (*redisCollector)(nil)

// NewRedisCollector returns a collector of the memory of the Redis servers
// behind client: the node of a *redis.Client (or of a Sentinel failover
// client), or every master and replica of a *redis.ClusterClient, or every
// live shard of a *redis.Ring, as [redisstore.Memory] finds them. At each
// scrape it calls redisstore.Memory, bounded by opts.Timeout, and exports
// (labels: node, the address the client dials, and role, master or
// replica):
//
//   - tiercache_redis_up{node}: 1 if the node answered this scrape, else 0;
//     node="" when the client could not list its nodes at all (a Cluster
//     client that cannot load its slot map). A node that answered exports:
//   - tiercache_redis_memory_used_bytes and
//     tiercache_redis_memory_peak_bytes: used_memory and used_memory_peak;
//   - tiercache_redis_memory_max_bytes: maxmemory, 0 when there is no limit;
//   - tiercache_redis_maxmemory_policy_info{node, role, policy}: 1;
//   - tiercache_redis_evicted_keys_total and
//     tiercache_redis_expired_keys_total: counters since the server started.
//
// It never exports a key. A node that the client no longer lists (a Ring's
// shard held for down, a Cluster node gone from the slot map) has no
// series at all.
//
// NewRedisCollector makes one round of INFO calls itself, with ctx bounded
// by opts.Timeout, and logs at Warn, once, each warning of
// [redisstore.NodeMemory.Warnings] (maxmemory not set, a noeviction or
// allkeys-* policy). When that round fails, wholly or for some nodes, the
// error is logged at Warn too and the collector is returned all the same:
// Redis may come up later, and the scrapes report it; the warnings of a
// node that did not answer then are not logged.
//
// The collector does not register itself: register it, as client_golang's
// own collectors, with reg.MustRegister(c). It describes every metric (a
// checked collector), and it is safe for concurrent scrapes. The Redis user
// needs the ACL rule +info.
func NewRedisCollector(ctx context.Context, client redis.UniversalClient, opts *RedisOptions) prometheus.Collector {
	var o RedisOptions
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultRedisTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	nodeRole := []string{"node", "role"}
	c := &redisCollector{
		client:  client,
		timeout: o.Timeout,
		up: prometheus.NewDesc("tiercache_redis_up",
			`1 if the Redis node answered INFO at this scrape, else 0 (node="" when the client could not list its nodes).`,
			[]string{"node"}, nil),
		used: prometheus.NewDesc("tiercache_redis_memory_used_bytes",
			"Bytes that the Redis node's allocator holds (used_memory).", nodeRole, nil),
		peak: prometheus.NewDesc("tiercache_redis_memory_peak_bytes",
			"The most bytes that the Redis node held since it started (used_memory_peak).", nodeRole, nil),
		max: prometheus.NewDesc("tiercache_redis_memory_max_bytes",
			"The Redis node's maxmemory, in bytes; 0 when there is no limit.", nodeRole, nil),
		policy: prometheus.NewDesc("tiercache_redis_maxmemory_policy_info",
			"The Redis node's maxmemory-policy, in the policy label (always 1).",
			[]string{"node", "role", "policy"}, nil),
		evicted: prometheus.NewDesc("tiercache_redis_evicted_keys_total",
			"Keys that the Redis node evicted to stay under maxmemory, since it started (evicted_keys).", nodeRole, nil),
		expired: prometheus.NewDesc("tiercache_redis_expired_keys_total",
			"Keys that the Redis node removed because they expired, since it started (expired_keys).", nodeRole, nil),
	}

	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	nodes, err := redisstore.Memory(ctx, client)
	if err != nil {
		o.Logger.WarnContext(ctx, "promstats: cannot read the memory of Redis", "error", err)
	}
	for _, n := range nodes {
		for _, w := range n.Warnings() {
			o.Logger.WarnContext(ctx, "promstats: Redis memory configuration", "node", n.Addr, "role", n.Role, "warning", w)
		}
	}
	return c
}

// Describe sends the descriptions of every metric of the collector.
func (c *redisCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.used, c.peak, c.max, c.policy, c.evicted, c.expired} {
		ch <- d
	}
}

// Collect reads the memory of every node, bounded by the timeout.
func (c *redisCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	nodes, err := redisstore.Memory(ctx, c.client)
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		if seen[n.Addr] { // two shards of a Ring on one address
			continue
		}
		seen[n.Addr] = true
		send(ch, c.up, prometheus.GaugeValue, 1, n.Addr)
		send(ch, c.used, prometheus.GaugeValue, float64(n.Used), n.Addr, n.Role)
		send(ch, c.peak, prometheus.GaugeValue, float64(n.Peak), n.Addr, n.Role)
		send(ch, c.max, prometheus.GaugeValue, float64(n.MaxMemory), n.Addr, n.Role)
		send(ch, c.policy, prometheus.GaugeValue, 1, n.Addr, n.Role, n.Policy)
		send(ch, c.evicted, prometheus.CounterValue, float64(n.EvictedKeys), n.Addr, n.Role)
		send(ch, c.expired, prometheus.CounterValue, float64(n.ExpiredKeys), n.Addr, n.Role)
	}
	failed := failedNodes(err)
	for _, addr := range failed {
		if !seen[addr] {
			seen[addr] = true
			send(ch, c.up, prometheus.GaugeValue, 0, addr)
		}
	}
	if err != nil && len(nodes) == 0 && len(failed) == 0 {
		send(ch, c.up, prometheus.GaugeValue, 0, "") // the nodes could not be listed
	}
}

// send sends one sample, or an invalid metric (which the registry reports
// as a gather error) when a label value is not valid UTF-8.
func send(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	ch <- m
}

// failedNodes returns the addresses of the [redisstore.NodeError]s that err
// holds, alone or joined.
func failedNodes(err error) []string {
	var addrs []string
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) { //nolint:errorlint // walks the whole tree: errors.As finds only the first NodeError
		case nil:
		case *redisstore.NodeError:
			addrs = append(addrs, e.Addr)
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return addrs
}
