package redisstore_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/redisstore"
)

// TestRedisClusterSlotMigration moves a slot that holds half of a batch's
// keys from one master to another, and stops halfway: half of the slot's
// keys have moved. Every operation on the batch must then either succeed
// (go-redis follows ASK) or fail with key faults of the slot's keys only
// (TRYAGAIN for a command on moved and unmoved keys), with the results of
// the other keys valid; never with another error. Once the migration is
// over, everything works again.
func TestRedisClusterSlotMigration(t *testing.T) {
	t.Parallel()
	c := redistest.NewCluster(t)
	client := closeLater(t, redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()}))
	s := redisstore.New(client, &redisstore.Options{Prefix: "mig:"})
	ctx := t.Context()

	// keys[:n] share the slot of the hash tag "mig:slot" (a '}' ends the
	// tag); keys[n:] are spread over the other slots.
	const n = 20
	var keys []string
	for i := range n {
		keys = append(keys, fmt.Sprintf("slot}%d", i))
	}
	slot := redisstore.KeySlot(s.Key(keys[0]))
	for i := 0; len(keys) < 2*n; i++ {
		if k := fmt.Sprint("other:", i); redisstore.KeySlot(s.Key(k)) != slot {
			keys = append(keys, k)
		}
	}
	inSlot := func(i int) bool { return i < n }
	value := func(i int) []byte { return []byte("v:" + keys[i]) }
	items := make([]l2.Item, len(keys))
	for i, k := range keys {
		items[i] = l2.Item{Key: k, Value: value(i), TTL: time.Minute}
	}
	if err := s.SetMany(ctx, items); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	m, err := c.BeginMigration(ctx, int(slot))
	if err != nil {
		t.Fatal(err)
	}
	moved := make([]string, n/2)
	for i := range moved {
		moved[i] = s.Key(keys[i])
	}
	if err := m.Move(ctx, moved...); err != nil {
		t.Fatal(err)
	}
	t.Logf("slot %d: %d of its %d keys moved from %s to %s", slot, len(moved), n, m.Source(), m.Target())

	// check accepts err when it is nil or a key fault, and returns the
	// positions of the failed keys; a batch's faults must be keys of the
	// slot.
	faults := 0
	check := func(op string, err error) map[int]bool {
		t.Helper()
		if err == nil {
			return nil
		}
		if !errors.Is(err, l2.ErrKeyFault) {
			t.Fatalf("%s during the migration: %v, want success or a key fault", op, err)
		}
		faults++
		failed := l2.Faulted(err)
		t.Logf("%s: %d keys failed: %v", op, len(failed), err)
		for i := range failed {
			if !inSlot(i) {
				t.Errorf("%s during the migration: key %q, outside the slot, failed: %v", op, keys[i], err)
			}
		}
		return failed
	}

	for i, k := range keys {
		v, err := s.Get(ctx, k)
		if check("Get("+k+")", err) == nil && err == nil && string(v) != string(value(i)) {
			t.Errorf("Get(%s) during the migration = %q, want %q", k, v, value(i))
		}
	}

	vals, err := s.GetMany(ctx, keys)
	failed := check("GetMany", err)
	if len(vals) != len(keys) {
		t.Fatalf("GetMany during the migration returned %d values, %v; want %d", len(vals), err, len(keys))
	}
	if want := n; len(failed) != want {
		// One MGET for the slot, over moved and unmoved keys: TRYAGAIN.
		t.Errorf("GetMany during the migration: %d keys failed (%v), want the slot's %d", len(failed), err, want)
	}
	for i := range keys {
		if !failed[i] && string(vals[i]) != string(value(i)) {
			t.Errorf("GetMany during the migration: %s = %q, want %q", keys[i], vals[i], value(i))
		}
	}

	token := l2.NewToken()
	expect := make([]l2.Expect, len(keys))
	for i, k := range keys {
		expect[i] = l2.Expect{Key: k, Old: value(i)}
	}
	answers, err := s.Lease(ctx, token, time.Minute, expect)
	failed = check("Lease", err)
	if len(answers) != len(keys) {
		t.Fatalf("Lease during the migration returned %d answers, %v; want %d", len(answers), err, len(keys))
	}
	for i := range keys {
		if !failed[i] && answers[i].State != l2.LeaseGranted {
			t.Errorf("Lease(%s) during the migration = %v, want granted", keys[i], answers[i].State)
		}
	}

	citems := make([]l2.CondItem, len(keys))
	for i, k := range keys {
		citems[i] = l2.CondItem{Item: l2.Item{Key: k, Value: []byte("new"), TTL: time.Minute}, Old: value(i)}
	}
	results, err := s.SetLeased(ctx, token, citems)
	failed = check("SetLeased", err)
	if len(results) != len(keys) {
		t.Fatalf("SetLeased during the migration returned %d results, %v; want %d", len(results), err, len(keys))
	}
	for i := range keys {
		if !failed[i] && !results[i].Stored {
			t.Errorf("SetLeased(%s) during the migration = %+v, want stored", keys[i], results[i])
		}
	}

	check("Delete", s.Delete(ctx, keys...))
	vals, err = s.GetMany(ctx, keys[n:])
	if err != nil {
		t.Fatalf("GetMany of the keys outside the slot: %v", err)
	}
	for i, v := range vals {
		if v != nil {
			t.Errorf("%s = %q after Delete, want nothing", keys[n+i], v)
		}
	}
	check("DeletePrefix", s.DeletePrefix(ctx, "slot}", 100, nil))
	if faults == 0 {
		t.Error("no operation failed during the migration: want TRYAGAIN for GetMany at least")
	}

	if err := m.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("migration with %d key faults over in %v", faults, time.Since(start).Round(time.Millisecond))

	// Everything works again: the client follows MOVED, and reloads.
	if err := s.SetMany(ctx, items); err != nil {
		t.Fatalf("SetMany after the migration: %v", err)
	}
	for i, k := range keys {
		if v, err := s.Get(ctx, k); err != nil || string(v) != string(value(i)) {
			t.Errorf("Get(%s) after the migration = %q, %v; want %q", k, v, err, value(i))
		}
	}
	vals, err = s.GetMany(ctx, keys)
	if err != nil {
		t.Fatalf("GetMany after the migration: %v", err)
	}
	for i := range keys {
		if string(vals[i]) != string(value(i)) {
			t.Errorf("GetMany after the migration: %s = %q, want %q", keys[i], vals[i], value(i))
		}
	}
	answers, err = s.Lease(ctx, token, time.Minute, expect)
	if err != nil {
		t.Fatalf("Lease after the migration: %v", err)
	}
	for i, a := range answers {
		if a.State != l2.LeaseGranted {
			t.Errorf("Lease(%s) after the migration = %v, want granted", keys[i], a.State)
		}
	}
	results, err = s.SetLeased(ctx, token, citems)
	if err != nil || !slices.ContainsFunc(results, func(r l2.LeaseResult) bool { return r.Stored }) {
		t.Fatalf("SetLeased after the migration = %+v, %v", results, err)
	}
	for i, r := range results {
		if !r.Stored {
			t.Errorf("SetLeased(%s) after the migration = %+v, want stored", keys[i], r)
		}
	}
	if err := s.Delete(ctx, keys...); err != nil {
		t.Fatalf("Delete after the migration: %v", err)
	}
	if vals, err := s.GetMany(ctx, keys); err != nil || slices.ContainsFunc(vals, func(v []byte) bool { return v != nil }) {
		t.Errorf("GetMany after Delete = %q, %v; want nothing", vals, err)
	}
}
