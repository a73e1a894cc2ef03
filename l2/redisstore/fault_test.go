package redisstore_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/redisstore"
)

func TestKeyFaults(t *testing.T) {
	t.Parallel()
	// miniredis has no ACL: one client does both.
	for _, c := range []struct {
		name      string
		newClient func(*testing.T, []*miniredis.Miniredis) redis.UniversalClient
	}{
		{"Client", newMiniClient},
		{"ClusterClient", newMiniClusterClient},
		{"Ring", newMiniRing},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			client := c.newClient(t, []*miniredis.Miniredis{miniredis.RunT(t)})
			testKeyFaults(t, client, client, "kf:")
		})
	}
}

// testKeyFaults plants hashes (through admin) where the store keeps
// values, leases and tag indexes, and checks that each operation on such a
// key fails with a key fault that names the key alone, returns the results
// of the other keys of its batch, and repairs the key, so that the next
// call works.
func testKeyFaults(t *testing.T, client, admin redis.UniversalClient, prefix string) {
	s := redisstore.New(client, &redisstore.Options{Prefix: prefix}).Namespace("kf").(*redisstore.Store)
	ctx := t.Context()
	token := l2.NewToken()
	plant := func(t *testing.T, rk string) {
		t.Helper()
		if err := admin.Del(ctx, rk).Err(); err != nil {
			t.Fatalf("DEL %s: %v", rk, err)
		}
		if err := admin.HSet(ctx, rk, "field", "value").Err(); err != nil {
			t.Fatalf("HSET %s: %v", rk, err)
		}
	}
	gone := func(t *testing.T, rks ...string) {
		t.Helper()
		for _, rk := range rks {
			if n, err := admin.Exists(ctx, rk).Result(); err != nil || n != 0 {
				t.Errorf("EXISTS %s = %d, %v; want the key repaired (deleted)", rk, n, err)
			}
		}
	}
	// fault checks that err is a key fault, and an *l2.KeyFaults of
	// index when index is not nil.
	fault := func(t *testing.T, op string, err error, index []int) {
		t.Helper()
		var reply redis.Error
		if !errors.Is(err, l2.ErrKeyFault) || !errors.As(err, &reply) {
			t.Fatalf("%s = %v, want a key fault wrapping the Redis reply", op, err)
		}
		var kf *l2.KeyFaults
		if index != nil && (!errors.As(err, &kf) || !slices.Equal(kf.Index, index)) {
			t.Fatalf("%s = %#v, want an *l2.KeyFaults of %v", op, err, index)
		}
	}
	expect := func(keys ...string) []l2.Expect {
		e := make([]l2.Expect, len(keys))
		for i, k := range keys {
			e[i].Key = k
		}
		return e
	}
	cond := func(key, value string, old []byte) l2.CondItem {
		return l2.CondItem{Item: l2.Item{Key: key, Value: []byte(value), TTL: time.Minute}, Old: old}
	}
	lease := func(t *testing.T, keys ...string) {
		t.Helper()
		a, err := s.Lease(ctx, token, time.Minute, expect(keys...))
		for i := range a {
			if a[i].State != l2.LeaseGranted && err == nil {
				err = fmt.Errorf("%q: %v", keys[i], a[i].State)
			}
		}
		if err != nil {
			t.Fatalf("Lease(%q): %v", keys, err)
		}
	}

	t.Run("Get", func(t *testing.T) {
		plant(t, s.Key("get"))
		_, err := s.Get(ctx, "get")
		fault(t, "Get", err, nil)
		gone(t, s.Key("get"))
		if _, err := s.Get(ctx, "get"); !errors.Is(err, l2.ErrMiss) {
			t.Errorf("Get after the repair = %v, want a miss", err)
		}
	})

	for _, bad := range []struct {
		name string
		rk   func(string) string
	}{{"Value", s.Key}, {"Lease", s.LeaseKey}} {
		t.Run("Lease"+bad.name, func(t *testing.T) {
			key := "lease" + bad.name
			plant(t, bad.rk(key))
			a, err := s.Lease(ctx, token, time.Minute, expect(key))
			fault(t, "Lease", err, []int{0})
			if len(a) != 1 || a[0].State != 0 || a[0].Value != nil {
				t.Errorf("Lease answers %+v, want one zero answer", a)
			}
			gone(t, s.Key(key), s.LeaseKey(key))
			lease(t, key)
		})
		t.Run("SetLeased"+bad.name, func(t *testing.T) {
			key := "setleased" + bad.name
			plant(t, bad.rk(key))
			res, err := s.SetLeased(ctx, token, []l2.CondItem{cond(key, "v", nil)})
			fault(t, "SetLeased", err, []int{0})
			if len(res) != 1 || res[0] != (l2.LeaseResult{}) {
				t.Errorf("SetLeased results %+v, want one zero result", res)
			}
			gone(t, s.Key(key), s.LeaseKey(key))
			res, err = s.SetLeased(ctx, token, []l2.CondItem{cond(key, "v", nil)})
			if err != nil || len(res) != 1 || !res[0].Stored {
				t.Errorf("SetLeased after the repair = %+v, %v; want stored", res, err)
			}
		})
	}

	t.Run("Release", func(t *testing.T) {
		plant(t, s.LeaseKey("release"))
		waited, err := s.Release(ctx, token, "release")
		fault(t, "Release", err, []int{0})
		if !slices.Equal(waited, []bool{false}) {
			t.Errorf("Release results %v, want [false]", waited)
		}
		gone(t, s.Key("release"), s.LeaseKey("release"))
		if waited, err := s.Release(ctx, token, "release"); err != nil || !slices.Equal(waited, []bool{false}) {
			t.Errorf("Release after the repair = %v, %v; want [false]", waited, err)
		}
	})

	t.Run("SetIf", func(t *testing.T) {
		plant(t, s.Key("setif"))
		_, err := s.SetIf(ctx, cond("setif", "v", []byte("old")))
		fault(t, "SetIf", err, nil)
		gone(t, s.Key("setif"))
		if ok, err := s.SetIf(ctx, cond("setif", "v", nil)); err != nil || !ok {
			t.Errorf("SetIf after the repair = %v, %v; want stored", ok, err)
		}
	})

	// Batches of 100 keys with one bad key: the 99 others' results stand.
	const n = 100
	keys := make([]string, n)
	items := make([]l2.Item, n)
	for i := range keys {
		keys[i] = fmt.Sprint("batch:", i)
		items[i] = l2.Item{Key: keys[i], Value: []byte(keys[i]), TTL: time.Minute}
	}
	if err := s.SetMany(ctx, items); err != nil {
		t.Fatal(err)
	}

	t.Run("GetMany", func(t *testing.T) {
		const bad = 37
		plant(t, s.Key(keys[bad]))
		vals, err := s.GetMany(ctx, keys)
		// MGET answers nil for a hash; a Ring's GET answers WRONGTYPE.
		if err != nil {
			fault(t, "GetMany", err, []int{bad})
			gone(t, s.Key(keys[bad]))
		}
		if len(vals) != n {
			t.Fatalf("GetMany returned %d values, want %d", len(vals), n)
		}
		for i, v := range vals {
			want := []byte(keys[i])
			if i == bad {
				want = nil
			}
			if string(v) != string(want) || (v == nil) != (want == nil) {
				t.Errorf("GetMany: %q = %q, want %q", keys[i], v, want)
			}
		}
		if err := s.Set(ctx, keys[bad], []byte(keys[bad]), time.Minute); err != nil { // over the hash
			t.Fatal(err)
		}
	})

	t.Run("LeaseMany", func(t *testing.T) {
		const bad = 42
		plant(t, s.LeaseKey(keys[bad]))
		e := make([]l2.Expect, n)
		for i, k := range keys {
			e[i] = l2.Expect{Key: k, Old: []byte(k)}
		}
		a, err := s.Lease(ctx, token, time.Minute, e)
		fault(t, "Lease", err, []int{bad})
		if len(a) != n {
			t.Fatalf("Lease returned %d answers, want %d", len(a), n)
		}
		for i := range a {
			want := l2.LeaseGranted
			if i == bad {
				want = 0
			}
			if a[i].State != want || a[i].Value != nil {
				t.Errorf("Lease: %q answered %+v, want %v", keys[i], a[i], want)
			}
		}
		gone(t, s.Key(keys[bad]), s.LeaseKey(keys[bad]))
		lease(t, keys[bad])

		const badToo = 63
		plant(t, s.LeaseKey(keys[badToo]))
		citems := make([]l2.CondItem, n)
		for i, k := range keys {
			citems[i] = cond(k, "new:"+k, []byte(k))
			if i == bad {
				citems[i].Old = nil // repaired: deleted
			}
		}
		res, err := s.SetLeased(ctx, token, citems)
		fault(t, "SetLeased", err, []int{badToo})
		for i := range res {
			if want := (l2.LeaseResult{Stored: i != badToo}); res[i] != want {
				t.Errorf("SetLeased: %q = %+v, want %+v", keys[i], res[i], want)
			}
		}
		gone(t, s.Key(keys[badToo]), s.LeaseKey(keys[badToo]))
	})

	t.Run("SetManyIf", func(t *testing.T) {
		const bad = 7
		plant(t, s.Key("cas:7"))
		var citems []l2.CondItem
		for i := range 10 {
			citems = append(citems, cond(fmt.Sprint("cas:", i), "v", []byte("x")))
		}
		stored, err := s.SetManyIf(ctx, citems)
		fault(t, "SetManyIf", err, []int{bad})
		if !slices.Equal(stored, make([]bool, 10)) {
			t.Errorf("SetManyIf = %v, want 10 false", stored)
		}
		gone(t, s.Key("cas:7"))
	})

	t.Run("Tag", func(t *testing.T) {
		plant(t, s.TagKey("bad"))
		if err := s.Tag(ctx, []string{"good", "bad"}, []string{"a", "b"}, time.Minute); err != nil {
			t.Fatalf("Tag with an index of the wrong type: %v", err)
		}
		for _, tag := range []string{"good", "bad"} {
			got, err := s.PopTagged(ctx, tag, 10)
			slices.Sort(got)
			if err != nil || !slices.Equal(got, []string{"a", "b"}) {
				t.Errorf("PopTagged(%s) = %q, %v; want [a b]", tag, got, err)
			}
		}
	})

	t.Run("PopTagged", func(t *testing.T) {
		plant(t, s.TagKey("pop"))
		_, err := s.PopTagged(ctx, "pop", 10)
		fault(t, "PopTagged", err, nil)
		gone(t, s.TagKey("pop"))
		if got, err := s.PopTagged(ctx, "pop", 10); err != nil || len(got) != 0 {
			t.Errorf("PopTagged after the repair = %q, %v; want none", got, err)
		}
	})

	// SET and DEL replace or remove a key of any type.
	t.Run("Overwrite", func(t *testing.T) {
		for _, rk := range []string{s.Key("w1"), s.LeaseKey("w1"), s.Key("w2"), s.Key("w3"), s.LeaseKey("w3")} {
			plant(t, rk)
		}
		if err := s.Set(ctx, "w1", []byte("v"), time.Minute); err != nil {
			t.Errorf("Set over a hash: %v", err)
		}
		if err := s.SetMany(ctx, []l2.Item{{Key: "w2", Value: []byte("v"), TTL: time.Minute}}); err != nil {
			t.Errorf("SetMany over a hash: %v", err)
		}
		if err := s.Revoke(ctx, []l2.Item{{Key: "w1", Value: []byte("v"), TTL: time.Minute}}); err != nil {
			t.Errorf("Revoke over a hash: %v", err)
		}
		if err := s.Delete(ctx, "w3"); err != nil {
			t.Errorf("Delete of a hash: %v", err)
		}
		gone(t, s.LeaseKey("w1"), s.Key("w3"))
		vals, err := s.GetMany(ctx, []string{"w1", "w2", "w3"})
		if err != nil || string(vals[0]) != "v" || string(vals[1]) != "v" || vals[2] != nil {
			t.Errorf("GetMany(w1 w2 w3) = %q, %v; want [v v nil]", vals, err)
		}
	})
}
