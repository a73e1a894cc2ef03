package rueidisstore_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/l2test"
	"github.com/tiercache/tiercache/l2/rueidisstore"
)

// newClient returns a rueidis client on addrs, closed with t.
func newClient(t *testing.T, addrs ...string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestConformance runs the l2 conformance suite on miniredis, one server
// per subtest, whose clock the suite advances.
func TestConformance(t *testing.T) {
	var mu sync.Mutex
	servers := make(map[*testing.T]*miniredis.Miniredis)
	l2test.Run(t, l2test.Harness{
		New: func(t *testing.T) l2.Store {
			m := miniredis.RunT(t)
			mu.Lock()
			servers[t] = m
			mu.Unlock()
			t.Cleanup(func() {
				mu.Lock()
				delete(servers, t)
				mu.Unlock()
			})
			return rueidisstore.New(newClient(t, m.Addr()), nil)
		},
		Advance: func(t *testing.T, d time.Duration) {
			mu.Lock()
			m := servers[t]
			mu.Unlock()
			if m == nil {
				t.Fatal("Advance for a test that made no store")
			}
			m.FastForward(d)
		},
	})
}

// TestRedis runs the conformance suite on a real redis-server, one node
// and a Cluster of 3 masters and 3 replicas, under the ACL that tiercache
// documents, checks the keys of queued values and their faults there (see
// testStageKeys, testStageKeyFaults; the admin user inspects Redis), and
// checks Store.Publish as an invalidation bus's publisher on both (see
// testPublish).
func TestRedis(t *testing.T) {
	redistest.Require(t)
	srv := redistest.NewServer(t)
	cluster := redistest.NewCluster(t)
	for _, c := range []struct {
		name  string
		addrs []string
		admin func() redis.UniversalClient
	}{
		{"standalone", []string{srv.Addr()}, func() redis.UniversalClient { return redis.NewClient(redistest.AdminOptions(srv.Addr())) }},
		{"cluster", cluster.Addrs(), func() redis.UniversalClient {
			return redis.NewClusterClient(redistest.AdminClusterOptions(cluster.Addrs()))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			client := newClient(t, c.addrs...)
			var n atomic.Int64
			l2test.Run(t, l2test.Harness{New: func(t *testing.T) l2.Store {
				return rueidisstore.New(client, &rueidisstore.Options{Prefix: fmt.Sprintf("t%d:", n.Add(1))})
			}})
			admin := c.admin()
			t.Cleanup(func() { _ = admin.Close() })
			t.Run("stage keys", func(t *testing.T) { testStageKeys(t, client, admin, "stagekeys:") })
			t.Run("stage key faults", func(t *testing.T) { testStageKeyFaults(t, client, admin, "stagefaults:") })
			t.Run("publish", func(t *testing.T) { testPublish(t, c.addrs, c.name == "cluster") })
		})
	}
}

func TestNew_Panics(t *testing.T) {
	for _, c := range []struct {
		name string
		fn   func()
	}{
		{"nil client", func() { rueidisstore.New(nil, nil) }},
		{"brace in prefix", func() { rueidisstore.New(newClient(t, miniredis.RunT(t).Addr()), &rueidisstore.Options{Prefix: "a}"}) }},
		{"brace in namespace", func() { rueidisstore.New(newClient(t, miniredis.RunT(t).Addr()), nil).Namespace("a{") }},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			c.fn()
		})
	}
}

// The keys are l2/redisstore's: Key, LeaseKey and the namespace framing.
func TestKey(t *testing.T) {
	s := rueidisstore.New(newClient(t, miniredis.RunT(t).Addr()), &rueidisstore.Options{Prefix: "app"})
	if got, want := s.Key("user:42"), "{app:user:42}"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
	view := s.Namespace("user").(*rueidisstore.Store)
	if got, want := view.LeaseKey("42"), "{app:user:42}:lease"; got != want {
		t.Errorf("LeaseKey of the view = %q, want %q", got, want)
	}
	if got := rueidisstore.New(newClient(t, miniredis.RunT(t).Addr()), nil).Key("k"); got != "{"+rueidisstore.DefaultPrefix+"k}" {
		t.Errorf("default Key = %q", got)
	}
}

// Capacity answers PipelinedCapacity, which a tiered cache over the store
// takes for its MaxL2Calls by default (instead of 10 per CPU, which held
// 64 concurrent readers to 20 calls in flight).
func TestCapacity(t *testing.T) {
	var s l2.Store = rueidisstore.New(newClient(t, miniredis.RunT(t).Addr()), nil)
	c, ok := s.(l2.Capacity)
	if !ok || c.Capacity() != rueidisstore.PipelinedCapacity || rueidisstore.PipelinedCapacity != 256 {
		t.Fatalf("Capacity: %v, ok %v; want %d", c, ok, 256)
	}
}
