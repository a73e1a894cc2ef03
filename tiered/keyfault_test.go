package tiered_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Item 5: one bad key does not take L2 away from every key. A Redis hash
// under a value key, a lease key or a tag index (WRONGTYPE) is that key's
// miss, repaired (the bad key is deleted); the breaker stays closed, so
// the other keys are still read from L2, and GetMany serves the 99
// healthy keys of 100 from L2.
func TestHostile_WrongTypeIsTheKeysMiss(t *testing.T) {
	if testing.Short() || !redistest.Enabled() {
		t.Skip("needs redis-server")
	}
	ctx := context.Background()
	for _, rt := range redisTargets(t) {
		t.Run(rt.name, func(t *testing.T) {
			store, admin := redisstore.New(rt.client(t), nil), rt.admin(t)
			view := store.Namespace("users").(*redisstore.Store)
			plant := func(rkey string) {
				t.Helper()
				if err := admin.Del(ctx, rkey).Err(); err != nil {
					t.Fatal(err)
				}
				if err := admin.HSet(ctx, rkey, "planted", "by hand").Err(); err != nil {
					t.Fatal(err)
				}
			}
			writer := hostileCache(t, store, &recordingL1{}, &stats.Counter{}, nil, func(o *tiered.Options[int64, User]) {
				o.Tags = func(int64, User) []string { return []string{"team"} }
			})
			ids := make([]int64, 100)
			for i := range ids {
				ids[i] = int64(i + 1)
				if err := writer.Set(ctx, ids[i], user(ids[i])); err != nil {
					t.Fatal(err)
				}
			}
			plant(view.Key("7"))                                        // a value key
			if err := admin.Del(ctx, view.Key("8")).Err(); err != nil { // a miss, whose load takes a lease
				t.Fatal(err)
			}
			plant(view.LeaseKey("8"))  // a lease key
			plant(view.TagKey("team")) // a tag index

			st := &stats.Counter{}
			reader := hostileCache(t, store, &recordingL1{}, st, nil, func(o *tiered.Options[int64, User]) {
				o.Tags = func(int64, User) []string { return []string{"team"} }
			})
			for _, id := range []int64{7, 8} {
				if got, err := reader.Get(ctx, id); err != nil || got.ID != id {
					t.Fatalf("Get(%d) over a bad key: %+v, %v", id, got, err)
				}
			}
			if err := reader.Set(ctx, 9, user(9)); err != nil { // indexed under "team"
				t.Fatalf("Set with a bad tag index: %v", err)
			}
			plant(view.Key("7"))
			st2 := &stats.Counter{}
			reader2 := hostileCache(t, store, &recordingL1{}, st2, nil, nil)
			m, err := reader2.GetMany(ctx, ids)
			if err != nil || len(m) != len(ids) {
				t.Fatalf("GetMany over 100 keys, one bad: %d values, %v", len(m), err)
			}
			// Key 7 is bad again. Key 8 held no value: the read took its
			// lease in the value's key (l2.LeaseReader), never looked at
			// the bad lease key beside it, and stored its load: 99 hits.
			if hits := st2.Snapshot().Get(stats.L2Hit); hits != 99 {
				t.Errorf("GetMany over 100 keys, one bad: %d L2 hits, want the 99 healthy keys in L2", hits)
			}
			if e, s := st2.Snapshot().Get(stats.L2Error), st2.Snapshot().Get(stats.L2Skipped); e != 0 || s != 0 {
				t.Errorf("GetMany: L2 errors %d, reads skipped %d", e, s)
			}
			snap := st.Snapshot()
			t.Logf("L2 key faults %d, L2 errors %d, reads skipped %d, L2 hits %d",
				snap.Get(stats.L2KeyFault), snap.Get(stats.L2Error), snap.Get(stats.L2Skipped), snap.Get(stats.L2Hit))
			if snap.Get(stats.L2KeyFault) == 0 {
				t.Error("no key fault counted: the bad keys were not met")
			}
			if snap.Get(stats.L2Error) != 0 || snap.Get(stats.L2Skipped) != 0 {
				t.Errorf("L2 errors %d, reads skipped %d: a bad key was held against L2", snap.Get(stats.L2Error), snap.Get(stats.L2Skipped))
			}
			// The breaker is closed: another key is read from L2.
			if _, err := reader.Get(ctx, 50); err != nil || st.Snapshot().Get(stats.L2Hit) != snap.Get(stats.L2Hit)+1 {
				t.Errorf("Get(50) after the bad keys did not read L2 (%v)", err)
			}
			if err := reader.InvalidateTags(ctx, "team"); err != nil {
				t.Fatalf("InvalidateTags after the repair: %v", err)
			}
		})
	}
}

// Item 5 during a Cluster slot migration: half of a slot's keys have moved
// to another master. Commands over moved and unmoved keys of the slot
// answer TRYAGAIN, which is those keys' miss: every caller gets its value,
// the breaker stays closed, and once the migration ends L2 serves every key.
func TestHostile_SlotMigration(t *testing.T) {
	if testing.Short() || !redistest.Enabled() {
		t.Skip("needs redis-server")
	}
	ctx := context.Background()
	cl := redistest.NewCluster(t)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { _ = rdb.Close() })
	admin := redis.NewClusterClient(redistest.AdminClusterOptions(cl.Addrs()))
	t.Cleanup(func() { _ = admin.Close() })
	store := redisstore.New(rdb, nil)
	view := store.Namespace("mig").(*redisstore.Store)

	newCache := func(st *stats.Counter) *tiered.Cache[string, string] {
		c, err := tiered.New(&tiered.Options[string, string]{
			Name: "mig", L2: store, Stats: st, L1: &recordingL1{},
			Loader: loader.Func[string, string](func(_ context.Context, k string) (string, error) { return "v:" + k, nil }),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	// keys[:20] share one slot (a '}' ends the hash tag "tc:mig:slot");
	// the others spread over the slots.
	var keys []string
	for i := range 20 {
		keys = append(keys, "slot}"+strconv.Itoa(i))
	}
	for i := range 20 {
		keys = append(keys, fmt.Sprint("other:", i))
	}
	writer := newCache(&stats.Counter{})
	for _, k := range keys {
		if err := writer.Set(ctx, k, "v:"+k); err != nil {
			t.Fatal(err)
		}
	}
	slot, err := admin.ClusterKeySlot(ctx, view.Key(keys[0])).Result()
	if err != nil {
		t.Fatal(err)
	}
	m, err := cl.BeginMigration(ctx, int(slot))
	if err != nil {
		t.Fatal(err)
	}
	var moved []string
	for _, k := range keys[:10] {
		moved = append(moved, view.Key(k), view.LeaseKey(k))
	}
	if err := m.Move(ctx, moved...); err != nil {
		t.Fatal(err)
	}

	st := &stats.Counter{}
	reader := newCache(st)
	check := func(when string) {
		t.Helper()
		got, err := reader.GetMany(ctx, keys)
		if err != nil || len(got) != len(keys) {
			t.Fatalf("%s: GetMany: %d values, %v", when, len(got), err)
		}
		for _, k := range keys {
			if got[k] != "v:"+k {
				t.Fatalf("%s: GetMany[%q] = %q", when, k, got[k])
			}
			if v, err := reader.Get(ctx, k); err != nil || v != "v:"+k {
				t.Fatalf("%s: Get(%q) = %q, %v", when, k, v, err)
			}
		}
	}
	check("during the migration")
	if err := reader.Delete(ctx, keys[0], keys[15], keys[30]); err != nil {
		t.Logf("Delete during the migration: %v (retried as unsettled)", err)
	}
	snap := st.Snapshot()
	t.Logf("during the migration: L2 key faults %d, L2 errors %d, reads skipped %d", snap.Get(stats.L2KeyFault), snap.Get(stats.L2Error), snap.Get(stats.L2Skipped))
	if snap.Get(stats.L2KeyFault) == 0 {
		t.Error("no key fault during the migration: TRYAGAIN was not met")
	}
	if snap.Get(stats.L2Error) != 0 || snap.Get(stats.L2Skipped) != 0 {
		t.Errorf("L2 errors %d, reads skipped %d: the migration was held against L2", snap.Get(stats.L2Error), snap.Get(stats.L2Skipped))
	}

	if err := m.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deletes to settle", func() bool { return reader.Health().Unsettled == 0 })
	fresh := newCache(&stats.Counter{})
	reader = fresh
	check("after the migration")
}
