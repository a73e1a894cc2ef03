package redisstore_test

import (
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/l2/l2test"
	"github.com/tiercache/tiercache/l2/redisstore"
)

// The tests in this file need redis-server and TIERCACHE_INTEGRATION=1; they
// skip otherwise. Their queues connect as the admin user: the stream
// commands of the queue are not among the rules that the rest of the suite
// runs tiercache under (redistest.ACL).

// queueTests are the tests of the Redis queue that run on every server.
var queueTests = []struct {
	name string
	fn   func(t *testing.T, client, admin redis.UniversalClient, prefix string)
}{
	{"KeyLayout", testQueueKeyLayout},
	{"DeletedEntry", testQueueDeletedEntry},
	{"JunkEntry", testQueueJunkEntry},
	{"GroupRecreated", testQueueGroupRecreated},
}

func TestQueueRedisServer(t *testing.T) {
	srv := redistest.NewServer(t)
	client := closeLater(t, redis.NewClient(redistest.AdminOptions(srv.Addr())))
	t.Run("Conformance", func(t *testing.T) {
		l2test.RunQueue(t, queueHarness(func(*testing.T) redis.UniversalClient { return client }))
	})
	for _, tc := range queueTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, client, client, tc.name+":")
		})
	}
}

// TestQueueRedisCluster starts one cluster (about 2.5 s) for all its
// subtests.
func TestQueueRedisCluster(t *testing.T) {
	c := redistest.NewCluster(t)
	newClient := func(t *testing.T) *redis.ClusterClient {
		return closeLater(t, redis.NewClusterClient(redistest.AdminClusterOptions(c.Addrs())))
	}
	client := newClient(t)
	t.Run("Conformance", func(t *testing.T) {
		l2test.RunQueue(t, queueHarness(func(*testing.T) redis.UniversalClient { return client }))
	})
	for _, tc := range queueTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, client, client, tc.name+":")
		})
	}
	t.Run("SpreadOverMasters", func(t *testing.T) {
		t.Parallel()
		testQueueSpreadOverMasters(t, newClient(t), client)
	})
}

// testQueueSpreadOverMasters checks that the streams of a namespace spread
// over the three masters, and that Add, Read, Ack and Depth send one
// pipeline to each.
func testQueueSpreadOverMasters(t *testing.T, client, admin *redis.ClusterClient) {
	nodes := &nodeRecorder{}
	client.OnNewNode(func(rdb *redis.Client) { rdb.AddHook(nodes.hook(rdb.Options().Addr)) })
	hook := &counter{}
	client.AddHook(hook)
	ctx := t.Context()
	q := newQueue(t, client, &redisstore.QueueOptions{Namespace: "spread", Consumer: "a", Prefix: "spread:"})

	slots := clusterSlots(ctx, t, admin)
	masters := make(map[string]int) // streams per master
	for _, k := range q.Keys() {
		masters[slotMaster(slots, int(redisstore.KeySlot(k)))]++
	}
	if len(masters) != 3 {
		t.Fatalf("the %d streams live on %d masters, want 3: %v", len(q.Keys()), len(masters), masters)
	}
	t.Logf("streams per master: %v", masters)

	// The first command loads the cluster state and the command table.
	if _, _, err := q.Depth(ctx); err != nil {
		t.Fatal(err)
	}
	hook.take()
	nodes.take()

	// check verifies the pipelines of one operation: one at the cluster
	// level, and one to each master.
	check := func(t *testing.T, op string) {
		t.Helper()
		single, pipelines := hook.take()
		if len(single) != 0 || len(pipelines) != 1 {
			t.Errorf("%s sent %q alone and %d cluster pipelines, want one pipeline", op, single, len(pipelines))
		}
		perNode := nodes.take()
		if len(perNode) != len(masters) {
			t.Errorf("%s reached %d nodes, want %d", op, len(perNode), len(masters))
		}
		for addr, pipes := range perNode {
			if len(pipes) != 1 {
				t.Errorf("%s sent %d pipelines to %s, want 1", op, len(pipes), addr)
			}
		}
	}

	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprint("user:", i)
	}
	if _, err := q.Add(ctx, keys); err != nil {
		t.Fatal(err)
	}
	check(t, "Add")
	for _, k := range q.Keys() {
		if n, err := admin.XLen(ctx, k).Result(); err != nil || n == 0 {
			t.Errorf("XLEN %s = %d, %v; want entries in every stream", k, n, err)
		}
	}
	if n, _, err := q.Depth(ctx); err != nil || n != int64(len(keys)) {
		t.Fatalf("Depth = %d, %v; want %d", n, err, len(keys))
	}
	check(t, "Depth")

	got, err := q.Read(ctx, 2*len(keys))
	if err != nil || len(got) != len(keys) {
		t.Fatalf("Read = %d entries, %v; want %d", len(got), err, len(keys))
	}
	hook.take() // the groups, the look for stale entries and the reads: one pipeline each
	nodes.take()
	if _, err := q.Ack(ctx, got); err != nil {
		t.Fatal(err)
	}
	check(t, "Ack")
	if n, _, err := q.Depth(ctx); err != nil || n != 0 {
		t.Fatalf("Depth = %d, %v; want 0", n, err)
	}
}
