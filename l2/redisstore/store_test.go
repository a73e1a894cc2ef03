package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/l2test"
	"github.com/tiercache/tiercache/l2/redisstore"
)

func TestConformance(t *testing.T) {
	t.Run("Miniredis", func(t *testing.T) {
		t.Parallel()
		l2test.Run(t, miniHarness(newMiniClient, 1))
	})
	// miniredis answers CLUSTER SLOTS with itself for every slot, which
	// exercises the per-slot batching on one node.
	t.Run("MiniredisCluster", func(t *testing.T) {
		t.Parallel()
		l2test.Run(t, miniHarness(newMiniClusterClient, 1))
	})
	t.Run("MiniredisRing", func(t *testing.T) {
		t.Parallel()
		l2test.Run(t, miniHarness(newMiniRing, 2))
	})
}

func TestKey(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr()}))
	tests := []struct {
		prefix, key, want string
	}{
		{"", "user:42", "{tc:user:42}"},
		{"", "", "{tc:}"},
		{"", "a}b", "{tc:a}b}"},
		{"app1:", "user:42", "{app1:user:42}"},
		{"app1", "user:42", "{app1:user:42}"}, // New appends the ':'
		{"{x", "k", "{{x:k}"},                 // a '{' in the prefix is harmless
	}
	for _, tc := range tests {
		s := redisstore.New(client, &redisstore.Options{Prefix: tc.prefix})
		if got := s.Key(tc.key); got != tc.want {
			t.Errorf("Key(%q) with prefix %q = %q, want %q", tc.key, tc.prefix, got, tc.want)
		}
	}

	// The value is where Key says.
	s := redisstore.New(client, nil)
	if err := s.Set(t.Context(), "user:42", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, err := m.Get("{tc:user:42}"); err != nil || got != "v" {
		t.Errorf("miniredis Get({tc:user:42}) = %q, %v; want v", got, err)
	}
}

func TestAbilities(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	clients := []redis.UniversalClient{
		redis.NewClient(&redis.Options{Addr: m.Addr()}),
		redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{m.Addr()}}),
		redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": m.Addr()}}),
	}
	for _, c := range clients {
		closeLater(t, c)
		s := redisstore.New(c, nil)
		for _, st := range []l2.Store{s, s.Namespace("ns"), s.Namespace("a").(l2.Namespacer).Namespace("b")} {
			if a, err := l2.Check(st); a != l2.All || err != nil {
				t.Errorf("l2.Check(%T over a %T) = %v, %v; want %v", st, c, a, err, l2.All)
			}
		}
	}
}

func TestKeyAllocs(t *testing.T) {
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr()}))
	s := redisstore.New(client, nil)
	key := strings.Repeat("k", 40)
	if n := testing.AllocsPerRun(100, func() { _ = s.Key(key) }); n != 1 {
		t.Errorf("Key allocates %v times, want 1", n)
	}
}

func TestNewPanics(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr()}))
	tests := []struct {
		name   string
		client redis.UniversalClient
		opts   *redisstore.Options
	}{
		{"NilClient", nil, nil},
		{"BraceInPrefix", client, &redisstore.Options{Prefix: "a}b:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil {
					t.Error("New did not panic")
				} else if !strings.HasPrefix(fmt.Sprint(r), "redisstore: ") {
					t.Errorf("panic value %q does not name the package", r)
				}
			}()
			redisstore.New(tc.client, tc.opts)
		})
	}
}

func TestTTLInMilliseconds(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr()}))
	s := redisstore.New(client, nil)
	tests := []struct {
		ttl, want time.Duration
	}{
		{1500 * time.Millisecond, 1500 * time.Millisecond},
		{10 * time.Second, 10 * time.Second},
		{1200 * time.Microsecond, 2 * time.Millisecond}, // rounded up
		{time.Nanosecond, time.Millisecond},
	}
	for i, tc := range tests {
		key := fmt.Sprint("k", i)
		if err := s.Set(t.Context(), key, []byte("v"), tc.ttl); err != nil {
			t.Fatalf("Set(ttl %v): %v", tc.ttl, err)
		}
		if got := m.TTL(s.Key(key)); got != tc.want {
			t.Errorf("Set(ttl %v): Redis TTL %v, want %v", tc.ttl, got, tc.want)
		}
		mkey := fmt.Sprint("m", i)
		if err := s.SetMany(t.Context(), []l2.Item{{Key: mkey, Value: []byte("v"), TTL: tc.ttl}}); err != nil {
			t.Fatalf("SetMany(ttl %v): %v", tc.ttl, err)
		}
		if got := m.TTL(s.Key(mkey)); got != tc.want {
			t.Errorf("SetMany(ttl %v): Redis TTL %v, want %v", tc.ttl, got, tc.want)
		}
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1}))
	s := redisstore.New(client, nil)
	ctx := t.Context()

	t.Run("TTLNotPositive", func(t *testing.T) {
		err := s.Set(ctx, "k", nil, 0)
		if err == nil || err.Error() != "redisstore: set: ttl must be positive, got 0s" {
			t.Errorf("Set(ttl 0) = %v", err)
		}
		err = s.SetMany(ctx, []l2.Item{{Key: "a", TTL: time.Second}, {Key: "b", TTL: -time.Second}})
		if err == nil || !strings.HasPrefix(err.Error(), "redisstore: setmany: item 1: ttl must be positive") {
			t.Errorf("SetMany(ttl -1s) = %v", err)
		}
		if m.Exists(s.Key("a")) {
			t.Error("SetMany wrote an item although another had a bad TTL")
		}
	})

	t.Run("WrongType", func(t *testing.T) {
		// A key of another type (not ours, but under our prefix) is a miss
		// for MGET, as Redis answers, and a key fault for GET, which
		// deletes it.
		if _, err := m.Lpush(s.Key("list"), "x"); err != nil {
			t.Fatal(err)
		}
		vals, err := s.GetMany(ctx, []string{"list"})
		if err != nil || vals[0] != nil {
			t.Errorf("GetMany(list) = %q, %v; want a miss", vals, err)
		}
		_, err = s.Get(ctx, "list")
		var reply redis.Error
		if !errors.Is(err, l2.ErrKeyFault) || errors.Is(err, l2.ErrMiss) || !errors.As(err, &reply) ||
			!strings.HasPrefix(err.Error(), "redisstore: get: l2: key fault: WRONGTYPE") {
			t.Errorf("Get(list) = %v, want a key fault wrapping the WRONGTYPE reply", err)
		}
		if _, err := s.Get(ctx, "list"); !errors.Is(err, l2.ErrMiss) {
			t.Errorf("Get(list) after the key fault = %v, want a miss", err)
		}
	})

	t.Run("ServerDown", func(t *testing.T) {
		m2 := miniredis.RunT(t)
		c2 := closeLater(t, redis.NewClient(&redis.Options{Addr: m2.Addr(), MaxRetries: -1, DialerRetries: 1}))
		s2 := redisstore.New(c2, nil)
		m2.Close()
		checkAll(ctx, t, s2, func(op string, err error) {
			if err == nil || errors.Is(err, l2.ErrMiss) || !strings.HasPrefix(err.Error(), "redisstore: "+op+": ") {
				t.Errorf("%s with the server down: %v, want a wrapped error", op, err)
			}
		})
	})

	t.Run("ClientClosed", func(t *testing.T) {
		c3 := redis.NewClient(&redis.Options{Addr: m.Addr()})
		s3 := redisstore.New(c3, nil)
		if err := c3.Close(); err != nil {
			t.Fatal(err)
		}
		checkAll(ctx, t, s3, func(op string, err error) {
			if !errors.Is(err, l2.ErrClosed) || !errors.Is(err, redis.ErrClosed) {
				t.Errorf("%s on a closed client: %v, want l2.ErrClosed and redis.ErrClosed", op, err)
			}
		})
	})
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	clients := []struct {
		name   string
		client redis.UniversalClient
	}{
		{"Client", redis.NewClient(&redis.Options{Addr: m.Addr()})},
		{"ClusterClient", redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{m.Addr()}})},
		{"Ring", redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": m.Addr()}})},
	}
	for _, c := range clients {
		closeLater(t, c.client)
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			checkAll(ctx, t, redisstore.New(c.client, nil), func(op string, err error) {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("%s: %v, want context.Canceled", op, err)
				}
			})
		})
	}
}

// TestReloadOnFailure checks that every operation of a Store over a
// ClusterClient asks the client to reload its slot map when it fails
// because its node is gone, and that no other error does.
func TestReloadOnFailure(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: []string{m.Addr()}, MaxRedirects: -1, MaxRetries: -1, DialerRetries: 1,
		// Fewer dial errors than PoolSize do not start go-redis's
		// background redialing, which outlives Close by up to a second
		// (goleak); pipelines use the main pool.
		PoolSize: 1000, PipelinePoolSize: -1,
	}))
	s := redisstore.New(client, nil)
	var reloads atomic.Int64
	redisstore.OnReload(s, func() { reloads.Add(1) })
	ctx := t.Context()
	if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}

	// A miss, a value of another type, a script that fails on it and a
	// canceled context say nothing of the node.
	if _, err := s.Get(ctx, "absent"); !errors.Is(err, l2.ErrMiss) {
		t.Fatalf("Get(absent) = %v, want a miss", err)
	}
	if _, err := m.Lpush(s.Key("list"), "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "list"); !errors.Is(err, l2.ErrKeyFault) {
		t.Errorf("Get(list) = %v, want a key fault", err)
	}
	if _, err := m.Lpush(s.Key("list"), "x"); err != nil { // Get deleted it
		t.Fatal(err)
	}
	if _, err := s.SetIf(ctx, l2.CondItem{Item: l2.Item{Key: "list", Value: []byte("v"), TTL: time.Minute}, Old: []byte("x")}); !errors.Is(err, l2.ErrKeyFault) {
		t.Errorf("SetIf(list) = %v, want a key fault", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	checkAll(canceled, t, s, func(op string, err error) {
		if err == nil {
			t.Errorf("%s with a canceled context: no error", op)
		}
	})
	if n := reloads.Load(); n != 0 {
		t.Errorf("%d reloads without a node failure, want none", n)
	}

	m.Close()
	view := s.Namespace("ns").(*redisstore.Store) // shares the hook
	for _, st := range []*redisstore.Store{s, view} {
		checkAll(ctx, t, st, func(op string, err error) {
			if n := reloads.Swap(0); err == nil || n == 0 {
				t.Errorf("%s with the server down = %v, and %d reloads; want an error and a reload", op, err, n)
			}
		})
	}
}

// checkAll runs every operation of s (with keys) and hands its error to
// check.
func checkAll(ctx context.Context, t *testing.T, s *redisstore.Store, check func(op string, err error)) {
	t.Helper()
	_, err := s.Get(ctx, "k")
	check("get", err)
	_, err = s.GetMany(ctx, []string{"k", "l"})
	check("getmany", err)
	check("set", s.Set(ctx, "k", []byte("v"), time.Minute))
	check("setmany", s.SetMany(ctx, []l2.Item{{Key: "k", TTL: time.Minute}, {Key: "l", TTL: time.Minute}}))
	check("delete", s.Delete(ctx, "k", "l"))
	_, err = s.SetIf(ctx, l2.CondItem{Item: l2.Item{Key: "k", Value: []byte("v"), TTL: time.Minute}})
	check("setif", err)
	_, err = s.SetIf(ctx, l2.CondItem{Item: l2.Item{Key: "k", Value: []byte("w"), TTL: time.Minute}, Old: []byte("v")})
	check("setif", err)
	_, err = s.SetManyIf(ctx, []l2.CondItem{
		{Item: l2.Item{Key: "k", Value: []byte("v"), TTL: time.Minute}},
		{Item: l2.Item{Key: "l", Value: []byte("w"), TTL: time.Minute}, Old: []byte("v")},
	})
	check("setmanyif", err)
	token := l2.NewToken()
	_, err = s.Lease(ctx, token, time.Minute, []l2.Expect{{Key: "k"}})
	check("lease", err)
	_, err = s.Lease(ctx, token, time.Minute, []l2.Expect{{Key: "k"}, {Key: "l", Old: []byte("v")}})
	check("lease", err)
	_, err = s.SetLeased(ctx, token, []l2.CondItem{{Item: l2.Item{Key: "k", Value: []byte("v"), TTL: time.Minute}}})
	check("setleased", err)
	_, err = s.SetLeased(ctx, token, []l2.CondItem{
		{Item: l2.Item{Key: "k", Value: []byte("v"), TTL: time.Minute}},
		{Item: l2.Item{Key: "l", Value: []byte("w"), TTL: time.Minute}, Old: []byte("v")},
	})
	check("setleased", err)
	_, err = s.Release(ctx, token, "k")
	check("release", err)
	_, err = s.Release(ctx, token, "k", "l")
	check("release", err)
	check("revoke", s.Revoke(ctx, []l2.Item{{Key: "k", TTL: time.Minute}}))
	check("tag", s.Tag(ctx, []string{"t"}, []string{"k"}, time.Minute))
	check("tag", s.Tag(ctx, []string{"t", "u"}, []string{"k"}, time.Minute))
	_, err = s.PopTagged(ctx, "t", 10)
	check("poptagged", err)
	check("deleteprefix", s.DeletePrefix(ctx, "", 10, nil))
}

// TestRoundTrips checks the commands each operation sends to one node.
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr()}))
	hook := &counter{}
	client.AddHook(hook)
	s := redisstore.New(client, nil)
	ctx := t.Context()
	keys := make([]string, 100)
	items := make([]l2.Item, len(keys))
	for i := range keys {
		keys[i] = fmt.Sprint("key:", i)
		items[i] = l2.Item{Key: keys[i], Value: []byte(keys[i]), TTL: time.Minute}
	}

	tests := []struct {
		name          string
		op            func() error
		wantSingle    []string
		wantPipelines int
	}{
		{"GetManyNone", func() error { _, err := s.GetMany(ctx, nil); return err }, nil, 0},
		{"DeleteNone", func() error { return s.Delete(ctx) }, nil, 0},
		{"SetManyNone", func() error { return s.SetMany(ctx, nil) }, nil, 0},
		{"SetMany", func() error { return s.SetMany(ctx, items) }, nil, 1},
		{"SetManyOne", func() error { return s.SetMany(ctx, items[:1]) }, []string{"set"}, 0},
		{"GetMany", func() error { _, err := s.GetMany(ctx, keys); return err }, []string{"mget"}, 0},
		{"Delete", func() error { return s.Delete(ctx, keys...) }, []string{"unlink"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hook.take()
			if err := tc.op(); err != nil {
				t.Fatal(err)
			}
			single, pipelines := hook.take()
			if fmt.Sprint(single) != fmt.Sprint(tc.wantSingle) || len(pipelines) != tc.wantPipelines {
				t.Errorf("sent %q alone and %d pipelines, want %q and %d", single, len(pipelines), tc.wantSingle, tc.wantPipelines)
			}
			for _, p := range pipelines {
				if len(p) != len(items) || count(p, "set") != len(items) {
					t.Errorf("pipeline %q, want %d SETs", distinct(p), len(items))
				}
			}
		})
	}
}

func BenchmarkStore_Get(b *testing.B) {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer func() { _ = client.Close() }()
	s := redisstore.New(client, nil)
	ctx := context.Background()
	if err := s.Set(ctx, "k", make([]byte, 128), time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Get(ctx, "k"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
