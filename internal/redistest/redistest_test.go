package redistest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/tiercache/tiercache/internal/redistest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRequire_SkipsWithoutEnv(t *testing.T) {
	t.Setenv(redistest.EnvVar, "")
	ran := false
	t.Run("inner", func(t *testing.T) {
		redistest.Require(t)
		ran = true
	})
	if ran {
		t.Fatalf("Require did not skip with %s unset", redistest.EnvVar)
	}
}

func TestServer_StopRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.NewServer(t)
	ctx := t.Context()

	// One dial per attempt: fail fast while the server is down.
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialerRetries: 1})
	defer func() { _ = client.Close() }()
	if err := client.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := client.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v; want v", got, err)
	}

	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := client.Get(ctx, "k").Err(); err == nil || errors.Is(err, redis.Nil) {
		t.Fatalf("GET while stopped: err = %v, want a connection error", err)
	}

	if err := srv.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	// The server answers again; its data is gone (no persistence).
	if err := client.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET after Restart: err = %v, want redis.Nil", err)
	}
	fresh := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer func() { _ = fresh.Close() }()
	if err := fresh.Set(ctx, "k2", "v2", 0).Err(); err != nil {
		t.Fatalf("SET on a new client: %v", err)
	}
	if got, err := client.Get(ctx, "k2").Result(); err != nil || got != "v2" {
		t.Fatalf("GET = %q, %v; want v2", got, err)
	}
}

func TestServer_Close(t *testing.T) {
	t.Parallel()
	redistest.Require(t)
	srv, err := redistest.StartServer()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		_ = conn.Close()
		t.Fatalf("%s still accepts connections after Close", srv.Addr())
	}
	if err := srv.Restart(); err == nil {
		t.Fatal("Restart after Close succeeded")
	}
}

func TestCluster(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := redistest.NewCluster(t)
	t.Logf("cluster started in %v", time.Since(start).Round(time.Millisecond))
	ctx := t.Context()

	addrs := c.Addrs()
	if len(addrs) != 6 {
		t.Fatalf("Addrs() = %v, want 6 addresses", addrs)
	}
	roles := map[string]int{}
	for i, addr := range addrs {
		client := redis.NewClient(redistest.AdminOptions(addr))
		info, err := client.ClusterInfo(ctx).Result()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			t.Errorf("%s: CLUSTER INFO = %q, %v; want cluster_state:ok", addr, info, err)
		}
		role, err := client.Do(ctx, "ROLE").Slice()
		if err != nil || len(role) == 0 {
			t.Errorf("%s: ROLE = %v, %v", addr, role, err)
		} else {
			roles[fmt.Sprint(role[0])]++
			if want := map[bool]string{true: "master", false: "slave"}[i < 3]; role[0] != want {
				t.Errorf("%s (Addrs()[%d]) is a %v, want a %s", addr, i, role[0], want)
			}
		}
		_ = client.Close()
	}
	if roles["master"] != 3 || roles["slave"] != 3 {
		t.Errorf("roles = %v, want 3 masters and 3 slaves", roles)
	}

	cc := redis.NewClusterClient(redistest.AdminClusterOptions(addrs))
	defer func() { _ = cc.Close() }()
	for i := range 100 {
		if err := cc.Set(ctx, fmt.Sprintf("key:%d", i), i, 0).Err(); err != nil {
			t.Fatalf("SET key:%d: %v", i, err)
		}
	}
	for i := range 100 {
		if got, err := cc.Get(ctx, fmt.Sprintf("key:%d", i)).Int(); err != nil || got != i {
			t.Fatalf("GET key:%d = %d, %v", i, got, err)
		}
	}
	var masters, keys atomic.Int64
	err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("master %s holds no key", m.Options().Addr)
		}
		masters.Add(1)
		keys.Add(n)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if masters.Load() != 3 || keys.Load() != 100 {
		t.Errorf("%d masters hold %d keys, want 3 masters holding 100", masters.Load(), keys.Load())
	}

	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestCluster_MigrateSlot moves a slot with half its keys, checks what
// clients see in between (ASK, TRYAGAIN), finishes, and moves the slot
// once more with MigrateSlot.
func TestCluster_MigrateSlot(t *testing.T) {
	t.Parallel()
	c := redistest.NewCluster(t)
	ctx := t.Context()
	cc := redis.NewClusterClient(redistest.AdminClusterOptions(c.Addrs()))
	defer func() { _ = cc.Close() }()

	keys := make([]string, 10) // one slot: the hash tag is "mig"
	for i := range keys {
		keys[i] = fmt.Sprintf("{mig}%d", i)
		if err := cc.Set(ctx, keys[i], i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	slot, err := cc.ClusterKeySlot(ctx, keys[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	// readAll reads every key through the cluster client.
	readAll := func(when string) {
		t.Helper()
		for i, k := range keys {
			if got, err := cc.Get(ctx, k).Int(); err != nil || got != i {
				t.Errorf("%s: GET %s = %d, %v; want %d", when, k, got, err, i)
			}
		}
	}

	start := time.Now()
	m, err := c.BeginMigration(ctx, int(slot))
	if err != nil {
		t.Fatal(err)
	}
	if m.Slot() != int(slot) || m.Source() == m.Target() {
		t.Fatalf("migration of slot %d from %s to %s", m.Slot(), m.Source(), m.Target())
	}
	if err := m.Move(ctx, keys[:5]...); err != nil {
		t.Fatal(err)
	}
	src := redis.NewClient(redistest.AdminOptions(m.Source()))
	defer func() { _ = src.Close() }()
	if _, ok := redis.IsAskError(src.Get(ctx, keys[0]).Err()); !ok {
		t.Errorf("GET of a moved key on the source = %v, want ASK", src.Get(ctx, keys[0]).Err())
	}
	if got, err := src.Get(ctx, keys[9]).Int(); err != nil || got != 9 {
		t.Errorf("GET of a key left on the source = %d, %v; want 9", got, err)
	}
	if err := src.MGet(ctx, keys[0], keys[9]).Err(); !redis.IsTryAgainError(err) {
		t.Errorf("MGET of a moved key and a key left on the source = %v, want TRYAGAIN", err)
	}
	readAll("half moved") // go-redis follows ASK

	if err := m.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("slot %d moved from %s to %s in %v", slot, m.Source(), m.Target(), time.Since(start).Round(time.Millisecond))
	for addr, want := range map[string]int64{m.Source(): 0, m.Target(): int64(len(keys))} {
		node := redis.NewClient(redistest.AdminOptions(addr))
		if n, err := node.ClusterCountKeysInSlot(ctx, int(slot)).Result(); err != nil || n != want {
			t.Errorf("CLUSTER COUNTKEYSINSLOT %d on %s = %d, %v; want %d", slot, addr, n, err, want)
		}
		_ = node.Close()
	}
	readAll("after Finish")

	to, err := c.MigrateSlot(ctx, int(slot))
	if err != nil {
		t.Fatal(err)
	}
	if to == m.Target() {
		t.Errorf("MigrateSlot moved slot %d to %s, which served it", slot, to)
	}
	readAll("after MigrateSlot")
	fresh := redis.NewClusterClient(redistest.AdminClusterOptions(c.Addrs()))
	defer func() { _ = fresh.Close() }()
	if addr, err := fresh.MasterForKey(ctx, keys[0]); err != nil || addr.Options().Addr != to {
		t.Errorf("a new client sends slot %d to %v, %v; want %s", slot, addr, err, to)
	}
}
