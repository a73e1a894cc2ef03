package redisstore_test

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/l2/redisstore"
)

func TestMemory_Warnings(t *testing.T) {
	t.Parallel()
	const addr = "10.0.0.7:6379"
	tests := []struct {
		name string
		m    redisstore.NodeMemory
		want []string // substrings of each warning, in order
	}{
		{"volatile-lru with a limit", redisstore.NodeMemory{Role: "master", MaxMemory: 1 << 30, Policy: "volatile-lru"}, nil},
		{"volatile-ttl with a limit", redisstore.NodeMemory{Role: "master", MaxMemory: 1 << 30, Policy: "volatile-ttl"}, nil},
		{"the defaults", redisstore.NodeMemory{Role: "master", Policy: "noeviction"},
			[]string{"maxmemory is not set", "noeviction"}},
		{"no limit", redisstore.NodeMemory{Role: "master", Policy: "volatile-lfu"}, []string{"maxmemory is not set"}},
		{"noeviction", redisstore.NodeMemory{Role: "master", MaxMemory: 1, Policy: "noeviction"}, []string{"refuses writes"}},
		{"allkeys-lru", redisstore.NodeMemory{Role: "master", MaxMemory: 1, Policy: "allkeys-lru"},
			[]string{"allkeys-lru: Redis may evict write-behind's queued values"}},
		{"allkeys-random", redisstore.NodeMemory{Role: "master", MaxMemory: 1, Policy: "allkeys-random"},
			[]string{"allkeys-random"}},
		{"replica", redisstore.NodeMemory{Role: "replica", Policy: "allkeys-lfu"},
			[]string{"maxmemory is not set", "allkeys-lfu"}},
		{"unknown policy", redisstore.NodeMemory{MaxMemory: 1, Policy: "some-new-policy"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.m.Addr = addr
			got := tc.m.Warnings()
			if len(got) != len(tc.want) {
				t.Fatalf("Warnings = %q, want %d warnings", got, len(tc.want))
			}
			for i, w := range got {
				node := "redis " + addr
				if tc.m.Role != "" {
					node += " (" + tc.m.Role + ")"
				}
				if !strings.HasPrefix(w, node+": ") || !strings.Contains(w, tc.want[i]) {
					t.Errorf("warning %d = %q, want it to start with %q and contain %q", i, w, node, tc.want[i])
				}
			}
		})
	}
}

// A node that cannot be reached is an error that names it, and no data.
func TestMemory_Unreachable(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1}))
	nodes, err := redisstore.Memory(t.Context(), client)
	if len(nodes) != 0 {
		t.Errorf("Memory = %+v, want no node", nodes)
	}
	var nerr *redisstore.NodeError
	if !errors.As(err, &nerr) || nerr.Addr != addr || !strings.Contains(err.Error(), "redisstore: memory of "+addr) {
		t.Fatalf("Memory error = %v, want a *NodeError of %s", err, addr)
	}
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

// The tests below need redis-server and TIERCACHE_INTEGRATION=1; they skip
// otherwise. Each starts its own servers, so the configuration they change
// needs no restoring.

func TestMemory_Server(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	ctx := t.Context()
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: srv.Addr()}))
	admin := closeLater(t, redis.NewClient(redistest.AdminOptions(srv.Addr())))
	configSet(t, admin, "maxmemory", "64mb", "maxmemory-policy", "volatile-lru")

	store := redisstore.New(client, nil)
	value := []byte(strings.Repeat("x", 1000))
	for i := range 1000 {
		if err := store.Set(ctx, fmt.Sprintf("k%d", i), value, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	m := memoryOf(t, client)
	if m.Addr != srv.Addr() || m.Role != redisstore.RoleMaster {
		t.Errorf("node %q, role %q; want %s, master", m.Addr, m.Role, srv.Addr())
	}
	if m.Used < 1_000_000 || m.Peak < m.Used {
		t.Errorf("Used %d, Peak %d; want Used > 1 MB (1000 values of 1 KB) and Peak >= Used", m.Used, m.Peak)
	}
	if m.MaxMemory != 64<<20 || m.Policy != "volatile-lru" {
		t.Errorf("MaxMemory %d, Policy %q; want %d, volatile-lru", m.MaxMemory, m.Policy, 64<<20)
	}
	if w := m.Warnings(); len(w) != 0 {
		t.Errorf("Warnings = %q, want none", w)
	}

	// A key set with an expiry in the past expires when it is next read, if
	// Redis's active expiry did not remove it first. A limit 1 MB above what
	// Redis uses, and 2 MB more of values, make it evict.
	if err := admin.Do(ctx, "SET", "gone", "v", "PXAT", 1).Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Get(ctx, "gone").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET of a key set with an expiry in the past: %v, want redis.Nil", err)
	}
	configSet(t, admin, "maxmemory", fmt.Sprint(m.Used+1<<20))
	for i := range 2000 {
		if err := store.Set(ctx, fmt.Sprintf("more%d", i), value, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	after := memoryOf(t, client)
	if after.ExpiredKeys < m.ExpiredKeys+1 || after.EvictedKeys == 0 {
		t.Errorf("ExpiredKeys %d -> %d, EvictedKeys %d -> %d; want one more expired and some evicted",
			m.ExpiredKeys, after.ExpiredKeys, m.EvictedKeys, after.EvictedKeys)
	}

	configSet(t, admin, "maxmemory", "0", "maxmemory-policy", "noeviction")
	w := memoryOf(t, client).Warnings()
	if len(w) != 2 || !strings.Contains(w[0], "maxmemory is not set") || !strings.Contains(w[1], "noeviction") {
		t.Errorf("Warnings = %q, want maxmemory not set and noeviction", w)
	}
	for _, s := range w {
		if !strings.Contains(s, srv.Addr()) {
			t.Errorf("warning %q does not name the node %s", s, srv.Addr())
		}
	}

	configSet(t, admin, "maxmemory", "64mb", "maxmemory-policy", "allkeys-lru")
	if w := memoryOf(t, client).Warnings(); len(w) != 1 || !strings.Contains(w[0], "allkeys-lru") {
		t.Errorf("Warnings = %q, want one about allkeys-lru", w)
	}
}

func TestMemory_Cluster(t *testing.T) {
	t.Parallel()
	c := redistest.NewCluster(t)
	client := closeLater(t, redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()}))
	nodes, err := redisstore.Memory(t.Context(), client)
	if err != nil {
		t.Fatal(err)
	}
	var addrs, roles []string
	for _, n := range nodes {
		addrs = append(addrs, n.Addr)
		roles = append(roles, n.Role)
		if n.Used <= 0 || n.Policy == "" {
			t.Errorf("node %s: Used %d, Policy %q; want Used > 0 and a policy", n.Addr, n.Used, n.Policy)
		}
		// The test servers run with Redis's defaults: no limit, noeviction.
		if w := n.Warnings(); len(w) != 2 {
			t.Errorf("node %s: Warnings = %q, want 2", n.Addr, w)
		}
	}
	wantRoles := []string{"master", "master", "master", "replica", "replica", "replica"}
	if !slices.Equal(roles, wantRoles) {
		t.Errorf("roles %q, want %q", roles, wantRoles)
	}
	masters, replicas := slices.Clone(addrs[:3]), slices.Clone(addrs[3:])
	slices.Sort(masters)
	slices.Sort(replicas)
	want := c.Addrs()
	wantMasters, wantReplicas := slices.Clone(want[:3]), slices.Clone(want[3:])
	slices.Sort(wantMasters)
	slices.Sort(wantReplicas)
	if !slices.Equal(masters, wantMasters) || !slices.Equal(replicas, wantReplicas) {
		t.Errorf("masters %q and replicas %q, want %q and %q", masters, replicas, wantMasters, wantReplicas)
	}
}

// configSet sets Redis configuration parameters (name, value pairs).
func configSet(t *testing.T, admin *redis.Client, pairs ...string) {
	t.Helper()
	args := []any{"CONFIG", "SET"}
	for _, p := range pairs {
		args = append(args, p)
	}
	if err := admin.Do(t.Context(), args...).Err(); err != nil {
		t.Fatalf("CONFIG SET %q: %v", pairs, err)
	}
}

// memoryOf returns the memory of the one node behind client.
func memoryOf(t *testing.T, client redis.UniversalClient) redisstore.NodeMemory {
	t.Helper()
	nodes, err := redisstore.Memory(t.Context(), client)
	if err != nil || len(nodes) != 1 {
		t.Fatalf("Memory = %+v, %v; want one node", nodes, err)
	}
	return nodes[0]
}
