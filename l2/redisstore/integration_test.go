package redisstore_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/l2test"
	"github.com/tiercache/tiercache/l2/redisstore"
)

// The tests in this file need redis-server and TIERCACHE_INTEGRATION=1; they
// skip otherwise.

func TestRedisServer(t *testing.T) {
	srv := redistest.NewServer(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: srv.Addr()}))
	admin := closeLater(t, redis.NewClient(redistest.AdminOptions(srv.Addr())))
	t.Run("Conformance", func(t *testing.T) {
		l2test.Run(t, sharedHarness(client))
	})
	t.Run("TagIndex", func(t *testing.T) {
		t.Parallel()
		testTagIndex(t, client, admin, "tagindex:")
	})
	t.Run("DeletePrefixDerivedKeys", func(t *testing.T) {
		t.Parallel()
		testDeletePrefixDerivedKeys(t, client, admin, "derived:")
	})
	t.Run("LeaseKey", func(t *testing.T) {
		t.Parallel()
		testLeaseKey(t, client, admin, "leasekey:")
	})
	t.Run("DeletePrefixKeyLayout", func(t *testing.T) {
		t.Parallel()
		testDeletePrefixKeyLayout(t, client, admin, "layout:")
	})
	t.Run("KeyFaults", func(t *testing.T) {
		t.Parallel()
		testKeyFaults(t, client, admin, "keyfaults:")
	})
	t.Run("StageKeys", func(t *testing.T) {
		t.Parallel()
		testStageKeys(t, client, admin, "stagekeys:")
	})
	t.Run("StageKeyFaults", func(t *testing.T) {
		t.Parallel()
		testStageKeyFaults(t, client, admin, "stagefaults:")
	})
}

// TestRedisCluster starts one cluster (about 2.5 s) for all its subtests.
func TestRedisCluster(t *testing.T) {
	c := redistest.NewCluster(t)
	newClient := func(t *testing.T) *redis.ClusterClient {
		return closeLater(t, redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()}))
	}
	// The subtests' own inspection and administration of the cluster.
	admin := closeLater(t, redis.NewClusterClient(redistest.AdminClusterOptions(c.Addrs())))

	t.Run("Conformance", func(t *testing.T) {
		l2test.Run(t, sharedHarness(newClient(t)))
	})
	t.Run("KeySlotMatchesServer", func(t *testing.T) {
		t.Parallel()
		testKeySlotMatchesServer(t, admin)
	})
	t.Run("CompanionKeySameSlot", func(t *testing.T) {
		t.Parallel()
		testCompanionKeySameSlot(t, newClient(t))
	})
	t.Run("OneRoundTripPerNode", func(t *testing.T) {
		t.Parallel()
		testOneRoundTripPerNode(t, newClient(t), admin)
	})
	t.Run("SetManyIfRoundTrips", func(t *testing.T) {
		t.Parallel()
		testSetManyIfRoundTrips(t, newClient(t), admin)
	})
	t.Run("TagIndex", func(t *testing.T) {
		t.Parallel()
		testTagIndex(t, newClient(t), admin, "tagindex:")
	})
	t.Run("DeletePrefixDerivedKeys", func(t *testing.T) {
		t.Parallel()
		testDeletePrefixDerivedKeys(t, newClient(t), admin, "derived:")
	})
	t.Run("LeaseKey", func(t *testing.T) {
		t.Parallel()
		testLeaseKey(t, newClient(t), admin, "leasekey:")
	})
	t.Run("DeletePrefixKeyLayout", func(t *testing.T) {
		t.Parallel()
		testDeletePrefixKeyLayout(t, newClient(t), admin, "layout:")
	})
	t.Run("KeyFaults", func(t *testing.T) {
		t.Parallel()
		testKeyFaults(t, newClient(t), admin, "keyfaults:")
	})
	t.Run("StageKeys", func(t *testing.T) {
		t.Parallel()
		testStageKeys(t, newClient(t), admin, "stagekeys:")
	})
	t.Run("StageKeyFaults", func(t *testing.T) {
		t.Parallel()
		testStageKeyFaults(t, newClient(t), admin, "stagefaults:")
	})
	t.Run("TenThousandKeys", func(t *testing.T) {
		t.Parallel()
		testTenThousandKeys(t, newClient(t), admin)
	})
}

// TestRedisClusterFailover kills a master (SIGKILL) under a Store whose
// ClusterClient has go-redis's default options, and checks that the Store
// serves the master's slots again within seconds of its replica's
// promotion. go-redis alone would send their commands to the dead address
// until its next periodic reload (ClusterStateReloadInterval, 60 s); the
// Store asks for a reload on the first failures.
func TestRedisClusterFailover(t *testing.T) {
	c := redistest.NewCluster(t)
	client := closeLater(t, redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()}))
	s := redisstore.New(client, &redisstore.Options{Prefix: "failover:"})
	ctx := t.Context()
	victim := c.Addrs()[0]
	// The test's own view of the slots: a master that survives, as admin.
	survivor := closeLater(t, redis.NewClient(redistest.AdminOptions(c.Addrs()[1])))

	// A key in the slots of each master, the victim's first.
	slots := clusterSlots(ctx, t, survivor)
	var keys []string
	var victimSlot int
	for _, r := range slots {
		k := keyIn(s, r.Start, r.End)
		if r.Nodes[0].Addr == victim {
			keys = append([]string{k}, keys...)
			victimSlot = r.Start
		} else {
			keys = append(keys, k)
		}
	}
	if len(keys) != 3 || slotMaster(slots, victimSlot) != victim {
		t.Fatalf("want 3 masters, %s first; CLUSTER SLOTS: %+v", victim, slots)
	}
	items := make([]l2.Item, len(keys))
	for i, k := range keys {
		items[i] = l2.Item{Key: k, Value: []byte("before " + k), TTL: time.Hour}
	}
	if err := s.SetMany(ctx, items); err != nil {
		t.Fatal(err)
	}

	killed := time.Now()
	if err := c.Nodes()[0].Stop(); err != nil {
		t.Fatal(err)
	}

	// The survivor's view: wait until another node serves the victim's
	// slots.
	var promotedTo string
	poll(t, 15*time.Second, "the replica's promotion", func() error {
		slots := clusterSlots(ctx, t, survivor)
		if promotedTo = slotMaster(slots, victimSlot); promotedTo == victim {
			return fmt.Errorf("%s still serves slot %d", victim, victimSlot)
		}
		return nil
	})
	promoted := time.Now()
	t.Logf("%s took over the slots of %s %v after the kill", promotedTo, victim, promoted.Sub(killed).Round(time.Millisecond))

	// The same Store, with no help: the first operations fail against the
	// dead address, and ask for the reload.
	key, v := keys[0], []byte("after")
	var failures []error
	poll(t, 10*time.Second, "Set and Get of "+key, func() error {
		err := s.Set(ctx, key, v, time.Hour)
		if err == nil {
			var got []byte
			if got, err = s.Get(ctx, key); err == nil && !bytes.Equal(got, v) {
				t.Fatalf("Get(%s) = %q, want %q", key, got, v)
			}
		}
		if err != nil {
			failures = append(failures, err)
		}
		return err
	})
	served := time.Now()
	t.Logf("Set and Get served %v after the promotion (%v after the kill), after %d failed attempts",
		served.Sub(promoted).Round(time.Millisecond), served.Sub(killed).Round(time.Millisecond), len(failures))
	if len(failures) > 0 {
		t.Logf("first failure: %v", failures[0])
	}

	// The scripts, which the promoted replica has never run (NOSCRIPT),
	// and the other masters.
	token := l2.NewToken()
	a, err := s.Lease(ctx, token, time.Minute, []l2.Expect{{Key: key, Old: v}})
	if err != nil || len(a) != 1 || a[0].State != l2.LeaseGranted {
		t.Fatalf("Lease(%s) after the failover = %+v, %v; want granted", key, a, err)
	}
	res, err := s.SetLeased(ctx, token, []l2.CondItem{{Item: l2.Item{Key: key, Value: []byte("leased"), TTL: time.Hour}, Old: v}})
	if err != nil || len(res) != 1 || !res[0].Stored {
		t.Fatalf("SetLeased(%s) after the failover = %+v, %v; want stored", key, res, err)
	}
	vals, err := s.GetMany(ctx, keys[1:])
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys[1:] {
		if want := "before " + k; string(vals[i]) != want {
			t.Errorf("GetMany: %s = %q, want %q", k, vals[i], want)
		}
	}
}

// clusterSlots returns the CLUSTER SLOTS of the node (or a node) behind
// client, failing t on an error. CLUSTER SLOTS (deprecated since Redis 7
// for CLUSTER SHARDS) is what go-redis loads its slot map from.
func clusterSlots(ctx context.Context, t *testing.T, client redis.UniversalClient) []redis.ClusterSlot {
	t.Helper()
	res, err := client.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatalf("CLUSTER SLOTS: %v", err)
	}
	return res
}

// slotMaster returns the address of the master of slot in slots, or "".
func slotMaster(slots []redis.ClusterSlot, slot int) string {
	for _, r := range slots {
		if r.Start <= slot && slot <= r.End && len(r.Nodes) > 0 {
			return r.Nodes[0].Addr
		}
	}
	return ""
}

// keyIn returns a logical key of s whose Redis key is in a slot of [start,
// end].
func keyIn(s *redisstore.Store, start, end int) string {
	for i := 0; ; i++ {
		k := fmt.Sprint("k", i)
		if slot := int(redisstore.KeySlot(s.Key(k))); start <= slot && slot <= end {
			return k
		}
	}
}

// poll calls try every 20 ms until it returns nil, and fails t with its
// last error when that takes longer than timeout.
func poll(t *testing.T, timeout time.Duration, what string, try func() error) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := try()
		if err == nil {
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("waiting for %s: still failing after %v: %v", what, timeout, err)
		}
	}
}

// testTenThousandKeys tags 10,000 keys spread over every master under one
// tag, pops them back in batches of 1000, and deletes them with
// DeletePrefix, which must walk every master. It counts the keys of each
// master through admin.
func testTenThousandKeys(t *testing.T, client, admin *redis.ClusterClient) {
	ctx := t.Context()
	const n = 10_000
	s := redisstore.New(client, &redisstore.Options{Prefix: "10k:"})
	view := s.Namespace("big").(*redisstore.Store)
	keys := make([]string, n)
	items := make([]l2.Item, n)
	slots := make(map[uint16]bool)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
		items[i] = l2.Item{Key: keys[i], Value: []byte(keys[i]), TTL: time.Hour}
		slots[redisstore.KeySlot(view.Key(keys[i]))] = true
	}
	t.Logf("%d keys in %d slots", n, len(slots))
	if err := view.SetMany(ctx, items); err != nil {
		t.Fatal(err)
	}
	// Neighbours that DeletePrefix of the view must spare.
	others := []string{"big", "bigx", "big2:k1", "other:k1"}
	for _, k := range others {
		if err := s.Set(ctx, k, []byte(k), time.Hour); err != nil {
			t.Fatal(err)
		}
	}

	// countPerMaster counts the keys of the view on each master.
	countPerMaster := func() map[string]int {
		t.Helper()
		var mu sync.Mutex
		counts := make(map[string]int)
		err := admin.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			iter := node.Scan(ctx, 0, "{10k:big:*", 1000).Iterator()
			c := 0
			for iter.Next(ctx) {
				c++
			}
			mu.Lock()
			counts[node.Options().Addr] = c
			mu.Unlock()
			return iter.Err()
		})
		if err != nil {
			t.Fatalf("counting keys per master: %v", err)
		}
		return counts
	}
	before := countPerMaster()
	total := 0
	for addr, c := range before {
		if c == 0 {
			t.Errorf("master %s holds none of the keys", addr)
		}
		total += c
	}
	if len(before) < 3 || total != n {
		t.Fatalf("%d masters hold %d keys, want 3 or more holding %d: %v", len(before), total, n, before)
	}

	if err := view.Tag(ctx, []string{"all"}, keys, time.Hour); err != nil {
		t.Fatal(err)
	}
	popped := make(map[string]bool, n)
	batches := 0
	for {
		got, err := view.PopTagged(ctx, "all", 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		batches++
		if len(got) > 1000 {
			t.Fatalf("PopTagged(1000) returned %d keys", len(got))
		}
		for _, k := range got {
			if popped[k] {
				t.Fatalf("PopTagged returned %q twice", k)
			}
			popped[k] = true
		}
	}
	if len(popped) != n || batches != n/1000 {
		t.Errorf("popped %d keys in %d batches, want %d in %d", len(popped), batches, n, n/1000)
	}

	reported := make(map[string]bool, n)
	err := view.DeletePrefix(ctx, "", 1000, func(keys []string) error {
		if len(keys) > 1000 {
			t.Errorf("DeletePrefix(count 1000) reported a batch of %d", len(keys))
		}
		for _, k := range keys {
			if reported[k] {
				t.Errorf("DeletePrefix reported %q twice", k)
			}
			reported[k] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(reported) != n {
		t.Errorf("DeletePrefix reported %d keys, want %d", len(reported), n)
	}
	for _, k := range keys {
		if !reported[k] {
			t.Errorf("DeletePrefix did not report %q", k)
			break
		}
	}
	for addr, c := range countPerMaster() {
		if c != 0 {
			t.Errorf("master %s still holds %d keys of the view", addr, c)
		}
	}
	vals, err := s.GetMany(ctx, others)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range others {
		if string(vals[i]) != k {
			t.Errorf("neighbour %q holds %q after DeletePrefix of the view", k, vals[i])
		}
	}
}

// testKeySlotMatchesServer compares keySlot with CLUSTER KEYSLOT for random
// keys full of braces; admin asks the server.
func testKeySlotMatchesServer(t *testing.T, admin *redis.ClusterClient) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "{}{}ab:\x00\xff"
	for range 300 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		key := string(b)
		want, err := admin.ClusterKeySlot(t.Context(), key).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %q: %v", key, err)
		}
		if got := redisstore.KeySlot(key); int64(got) != want {
			t.Errorf("KeySlot(%q) = %d, server says %d", key, got, want)
		}
	}
}

// testCompanionKeySameSlot checks the promise of the package documentation:
// a key derived from Store.Key by appending a suffix lives in the same slot,
// so one script may touch both, even when the logical key holds braces.
func testCompanionKeySameSlot(t *testing.T, client *redis.ClusterClient) {
	s := redisstore.New(client, &redisstore.Options{Prefix: "companion:"})
	script := redis.NewScript(`
redis.call("SET", KEYS[2], "lease", "PX", 60000)
return redis.call("GET", KEYS[1])`)
	for _, key := range []string{"user:42", "a}b", "{a}", "}", "", "x{y}z"} {
		if err := s.Set(t.Context(), key, []byte("v:"+key), time.Minute); err != nil {
			t.Fatal(err)
		}
		rk := s.Key(key)
		got, err := script.Run(t.Context(), client, []string{rk, rk + ":lease"}).Text()
		if err != nil || got != "v:"+key {
			t.Errorf("script on %q and its lease = %q, %v; want %q", rk, got, err, "v:"+key)
		}
	}
}

// testOneRoundTripPerNode checks that GetMany, SetMany and Delete of keys in
// many slots make one cluster pipeline, which reaches each node once, with
// one MGET (or UNLINK) per slot. It checks Redis's side through admin.
func testOneRoundTripPerNode(t *testing.T, client, admin *redis.ClusterClient) {
	nodes := &nodeRecorder{}
	client.OnNewNode(func(rdb *redis.Client) { rdb.AddHook(nodes.hook(rdb.Options().Addr)) })
	hook := &counter{}
	client.AddHook(hook)
	s := redisstore.New(client, &redisstore.Options{Prefix: "rt:"})
	ctx := t.Context()

	const n = 100
	keys := make([]string, n)
	items := make([]l2.Item, 0, n)
	want := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Sprint("user:", i)
		if i%2 == 0 {
			// A '}' ends the hash tag: these keys share 10 slots, so some
			// commands carry several keys.
			keys[i] = fmt.Sprintf("group%d}%d", i%20, i)
		}
		if i%4 != 0 {
			want[i] = []byte(fmt.Sprint("value ", i))
			items = append(items, l2.Item{Key: keys[i], Value: want[i], TTL: time.Minute})
		}
	}
	slotsOf := func(keys []string) map[uint16]bool {
		m := make(map[uint16]bool)
		for _, k := range keys {
			m[redisstore.KeySlot(s.Key(k))] = true
		}
		return m
	}

	// The first command loads the cluster state and the command table.
	if _, err := s.Get(ctx, "warm-up"); err == nil {
		t.Fatal("warm-up key exists")
	}
	hook.take()
	nodes.take()

	// check verifies the pipelines of one operation: one at the cluster
	// level, at most one per node, and one command named cmd per slot.
	check := func(t *testing.T, cmd string, keys []string) {
		t.Helper()
		single, pipelines := hook.take()
		if len(single) != 0 || len(pipelines) != 1 {
			t.Errorf("sent %q alone and %d cluster pipelines, want one pipeline", single, len(pipelines))
		}
		perNode := nodes.take()
		if len(perNode) < 2 {
			t.Errorf("reached %d nodes, want the keys spread over several", len(perNode))
		}
		seen := make(map[uint16]bool)
		maxKeys := 0
		for addr, pipes := range perNode {
			if len(pipes) != 1 {
				t.Errorf("node %s got %d pipelines, want 1", addr, len(pipes))
			}
			for _, p := range pipes {
				for _, args := range p {
					if args[0] != cmd {
						t.Errorf("node %s got %q, want only %s", addr, args[0], cmd)
						continue
					}
					slot := redisstore.KeySlot(args[1])
					if seen[slot] && cmd != "set" {
						t.Errorf("slot %d has more than one %s", slot, cmd)
					}
					seen[slot] = true
					maxKeys = max(maxKeys, len(args)-1)
					for _, k := range args[2:] {
						if cmd != "set" && redisstore.KeySlot(k) != slot {
							t.Errorf("%s mixes slots %d and %d", cmd, slot, redisstore.KeySlot(k))
						}
					}
				}
			}
		}
		if wantSlots := slotsOf(keys); len(seen) != len(wantSlots) {
			t.Errorf("%s reached %d slots, want %d", cmd, len(seen), len(wantSlots))
		}
		if cmd != "set" && maxKeys < 2 {
			t.Errorf("no %s carried several keys of one slot", cmd)
		}
	}

	var setKeys []string
	for _, it := range items {
		setKeys = append(setKeys, it.Key)
	}
	if err := s.SetMany(ctx, items); err != nil {
		t.Fatal(err)
	}
	check(t, "set", setKeys)

	got, err := s.GetMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "mget", keys)
	for i := range keys {
		if (got[i] == nil) != (want[i] == nil) || !bytes.Equal(got[i], want[i]) {
			t.Errorf("GetMany slot %d (%q) = %q, want %q", i, keys[i], got[i], want[i])
		}
	}
	t.Logf("GetMany of %d keys in %d slots", n, len(slotsOf(keys)))

	deleted := keys[:n/2]
	if err := s.Delete(ctx, deleted...); err != nil {
		t.Fatal(err)
	}
	check(t, "unlink", deleted)
	got, err = s.GetMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	nodes.take()
	hook.take()
	for i := range keys {
		w := want[i]
		if i < n/2 {
			w = nil
		}
		if (got[i] == nil) != (w == nil) || !bytes.Equal(got[i], w) {
			t.Errorf("after Delete, GetMany slot %d (%q) = %q, want %q", i, keys[i], got[i], w)
		}
	}
	// Redis agrees: no key of the deleted half is left.
	for _, k := range deleted {
		if n, err := admin.Exists(ctx, s.Key(k)).Result(); err != nil || n != 0 {
			t.Errorf("EXISTS %s = %d, %v after Delete", s.Key(k), n, err)
		}
	}
}

// testSetManyIfRoundTrips checks that SetManyIf of keys on every master
// makes one cluster pipeline, which reaches each node once, and a second one
// with EVAL only after the masters lost their scripts (SCRIPT FLUSH, sent
// through admin).
func testSetManyIfRoundTrips(t *testing.T, client, admin *redis.ClusterClient) {
	nodes := &nodeRecorder{}
	client.OnNewNode(func(rdb *redis.Client) { rdb.AddHook(nodes.hook(rdb.Options().Addr)) })
	hook := &counter{}
	client.AddHook(hook)
	s := redisstore.New(client, &redisstore.Options{Prefix: "cas:"})
	ctx := t.Context()

	// Keys k0, k2, ... hold "v0" and get a compare-and-set; k1, k3, ...
	// are absent and get SET NX.
	const n = 100
	var present []l2.Item
	for i := 0; i < n; i += 2 {
		present = append(present, l2.Item{Key: fmt.Sprint("k", i), Value: []byte("v0"), TTL: time.Minute})
	}
	if err := s.SetMany(ctx, present); err != nil {
		t.Fatal(err)
	}
	batch := func(old, value string) []l2.CondItem {
		items := make([]l2.CondItem, n)
		for i := range items {
			items[i] = l2.CondItem{Item: l2.Item{Key: fmt.Sprint("k", i), Value: []byte(value), TTL: time.Minute}}
			if i%2 == 0 {
				items[i].Old = []byte(old)
			}
		}
		return items
	}
	err := admin.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		return node.ScriptFlush(ctx).Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	hook.take()
	nodes.take()

	// run writes items, which must all store, and checks that it made
	// the cluster pipelines want (command names, in any order) and at
	// most as many pipelines per node.
	run := func(name string, items []l2.CondItem, want [][]string) {
		t.Helper()
		stored, err := s.SetManyIf(ctx, items)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, ok := range stored {
			if !ok {
				t.Errorf("%s: item %d (%q) not stored", name, i, items[i].Key)
			}
		}
		single, pipelines := hook.take()
		for _, p := range pipelines {
			slices.Sort(p)
		}
		if len(single) != 0 || fmt.Sprint(pipelines) != fmt.Sprint(want) {
			t.Errorf("%s: sent %q alone and cluster pipelines %q, want %q", name, single, pipelines, want)
		}
		perNode := nodes.take()
		if len(perNode) < 3 {
			t.Errorf("%s: reached %d nodes, want every master", name, len(perNode))
		}
		for addr, pipes := range perNode {
			if len(pipes) > len(want) {
				t.Errorf("%s: node %s got %d pipelines, want at most %d", name, addr, len(pipes), len(want))
			}
		}
	}
	repeat := func(name string, k int) []string {
		ss := make([]string, k)
		for i := range ss {
			ss[i] = name
		}
		return ss
	}
	run("after SCRIPT FLUSH", batch("v0", "v1"), [][]string{
		append(repeat("evalsha", n/2), repeat("set", n/2)...),
		repeat("eval", n/2),
	})
	// The absent keys hold "v1" now: SET NX of them cannot store, so they
	// all take the compare-and-set.
	items := batch("v1", "v2")
	for i := range items {
		items[i].Old = []byte("v1")
	}
	run("scripts loaded", items, [][]string{repeat("evalsha", n)})

	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
	}
	vals, err := s.GetMany(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if string(v) != "v2" {
			t.Errorf("GetMany slot %d (%q) = %q, want v2", i, keys[i], v)
		}
	}
}

// nodeRecorder records the pipelines each node client of a ClusterClient
// sends: for each node address, the pipelines, as the string arguments of
// each command.
type nodeRecorder struct {
	mu    sync.Mutex
	pipes map[string][][][]string
}

func (r *nodeRecorder) hook(addr string) redis.Hook { return nodeHook{r: r, addr: addr} }

func (r *nodeRecorder) take() map[string][][][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pipes
	r.pipes = nil
	return p
}

type nodeHook struct {
	r    *nodeRecorder
	addr string
}

func (h nodeHook) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h nodeHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h nodeHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var pipe [][]string
		for _, cmd := range cmds {
			if connSetup(cmd) {
				continue
			}
			args := make([]string, len(cmd.Args()))
			for i, a := range cmd.Args() {
				args[i] = fmt.Sprint(a)
			}
			pipe = append(pipe, args)
		}
		if pipe != nil {
			h.r.mu.Lock()
			if h.r.pipes == nil {
				h.r.pipes = make(map[string][][][]string)
			}
			h.r.pipes[h.addr] = append(h.r.pipes[h.addr], pipe)
			h.r.mu.Unlock()
		}
		return next(ctx, cmds)
	}
}
