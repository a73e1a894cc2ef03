package promstats_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/tiered/stats/promstats"
)

// logBuffer is a slog handler's output, safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the lines logged so far.
func (b *logBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

// newRedisCollector returns a collector of client's nodes, registered on a
// pedantic registry, and what it logged.
func newRedisCollector(t *testing.T, client redis.UniversalClient, timeout time.Duration) (*prometheus.Registry, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	c := promstats.NewRedisCollector(t.Context(), client, &promstats.RedisOptions{Timeout: timeout, Logger: logger})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	return reg, logs
}

// lint fails t when client_golang's linter finds a problem in reg's metrics.
func lint(t *testing.T, reg prometheus.Gatherer) {
	t.Helper()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// redisSeries returns the series of reg whose name starts with
// "tiercache_redis_".
func redisSeries(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for name, v := range series(t, reg) {
		if strings.HasPrefix(name, "tiercache_redis_") {
			out[name] = v
		}
	}
	return out
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func closeClient(t *testing.T, c redis.UniversalClient) {
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close the client: %v", err)
		}
	})
}

// A node that does not answer is up 0 and has no other series; the failed
// first round is logged, and the collector still works.
func TestRedisCollector_Unreachable(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	closeClient(t, client)
	reg, logs := newRedisCollector(t, client, 0)
	if l := logs.lines(); len(l) != 1 || !strings.Contains(l[0], "level=WARN") ||
		!strings.Contains(l[0], "cannot read the memory of Redis") || !strings.Contains(l[0], addr) {
		t.Errorf("logged %q, want one warning naming %s", l, addr)
	}
	want := map[string]float64{"tiercache_redis_up{node=" + addr + "}": 0}
	if got := redisSeries(t, reg); !maps.Equal(got, want) {
		t.Errorf("series %v, want %v", got, want)
	}
	lint(t, reg)
}

// A Cluster client that cannot list its nodes is up 0 with node="".
func TestRedisCollector_ClusterUnreachable(t *testing.T) {
	t.Parallel()
	client := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: []string{closedAddr(t)}, MaxRetries: -1, DialerRetries: 1,
	})
	closeClient(t, client)
	reg, logs := newRedisCollector(t, client, time.Second)
	if l := logs.lines(); len(l) != 1 || !strings.Contains(l[0], "cannot read the memory of Redis") {
		t.Errorf("logged %q, want one warning", l)
	}
	want := map[string]float64{"tiercache_redis_up{node=}": 0}
	if got := redisSeries(t, reg); !maps.Equal(got, want) {
		t.Errorf("series %v, want %v", got, want)
	}
	lint(t, reg)
}

// The tests below need redis-server and TIERCACHE_INTEGRATION=1; they skip
// otherwise. Each starts its own servers.

func TestRedisCollector_Server(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	ctx := t.Context()
	admin := redis.NewClient(redistest.AdminOptions(srv.Addr()))
	closeClient(t, admin)
	if err := admin.Do(ctx, "CONFIG", "SET", "maxmemory", "64mb", "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	// One dial per attempt: the scrape after Stop fails fast.
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialerRetries: 1})
	closeClient(t, client)
	for i := range 100 {
		if err := client.Set(ctx, fmt.Sprint("k", i), strings.Repeat("x", 1000), time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}

	reg, logs := newRedisCollector(t, client, 0)
	l := logs.lines()
	if len(l) != 1 || !strings.Contains(l[0], "level=WARN") || !strings.Contains(l[0], "node="+srv.Addr()) ||
		!strings.Contains(l[0], "role=master") || !strings.Contains(l[0], "allkeys-lru") {
		t.Errorf("logged %q, want one warning about allkeys-lru on %s", l, srv.Addr())
	}

	got := redisSeries(t, reg)
	node := "node=" + srv.Addr()
	if got["tiercache_redis_up{"+node+"}"] != 1 {
		t.Errorf("up = %v, want 1", got["tiercache_redis_up{"+node+"}"])
	}
	if v := got["tiercache_redis_memory_used_bytes{"+node+",role=master}"]; v < 100_000 {
		t.Errorf("used bytes = %v, want over 100 kB (100 values of 1 kB)", v)
	}
	if v := got["tiercache_redis_memory_peak_bytes{"+node+",role=master}"]; v < got["tiercache_redis_memory_used_bytes{"+node+",role=master}"] {
		t.Errorf("peak bytes = %v, below the used bytes", v)
	}
	for name, want := range map[string]float64{
		"tiercache_redis_memory_max_bytes{" + node + ",role=master}":                         64 << 20,
		"tiercache_redis_maxmemory_policy_info{" + node + ",policy=allkeys-lru,role=master}": 1,
		"tiercache_redis_evicted_keys_total{" + node + ",role=master}":                       0,
		"tiercache_redis_expired_keys_total{" + node + ",role=master}":                       0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present: %v), want %v", name, v, ok, want)
		}
	}
	if len(got) != 7 {
		t.Errorf("%d series, want 7: %v", len(got), got)
	}
	lint(t, reg)

	// A server that stops is down; the next scrape neither panics nor
	// reports memory.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"tiercache_redis_up{" + node + "}": 0}
	if got := redisSeries(t, reg); !maps.Equal(got, want) {
		t.Errorf("series after Stop %v, want %v", got, want)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := redisSeries(t, reg); got["tiercache_redis_up{"+node+"}"] != 1 {
		t.Errorf("up after Restart = %v, want 1", got["tiercache_redis_up{"+node+"}"])
	}
}

func TestRedisCollector_Cluster(t *testing.T) {
	t.Parallel()
	c := redistest.NewCluster(t)
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	closeClient(t, client)
	reg, logs := newRedisCollector(t, client, 0)

	// Redis's defaults on every node: no maxmemory, noeviction.
	if l := logs.lines(); len(l) != 12 {
		t.Errorf("logged %d lines, want 12 (2 warnings for each of 6 nodes): %q", len(l), l)
	}
	got := redisSeries(t, reg)
	for i, addr := range c.Addrs() {
		node := "node=" + addr
		if got["tiercache_redis_up{"+node+"}"] != 1 {
			t.Errorf("up{%s} = %v, want 1", node, got["tiercache_redis_up{"+node+"}"])
		}
		role := "master"
		if i >= 3 {
			role = "replica"
		}
		if got["tiercache_redis_memory_used_bytes{"+node+",role="+role+"}"] <= 0 {
			t.Errorf("no used bytes for %s, %s: %v", node, role, got)
		}
		if got["tiercache_redis_maxmemory_policy_info{"+node+",policy=noeviction,role="+role+"}"] != 1 {
			t.Errorf("no policy info for %s, %s", node, role)
		}
	}
	if len(got) != 6*7 {
		t.Errorf("%d series, want 42 (7 for each of 6 nodes)", len(got))
	}
	lint(t, reg)
}

// NewRedisCollector exports the memory of the L2 Redis servers beside the
// caches' metrics, and logs what the production checklist asks to fix.
func ExampleNewRedisCollector() {
	ctx := context.Background()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"redis-0:6379", "redis-1:6379"}})
	defer func() { _ = rdb.Close() }()

	reg := prometheus.NewRegistry()
	reg.MustRegister(promstats.NewRedisCollector(ctx, rdb, nil))
	// Serve reg with promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).
}
