package redisstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/redisstore"
)

// The conformance suite (l2test) checks the behaviour of the optional
// interfaces; the tests here check how they use Redis.

func TestTagIndex(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr()}))
	testTagIndex(t, client, client, "tc:") // miniredis has no ACL: one client does both
}

// testTagIndex checks where a tag index lives, what it holds, and its
// lifetime, on the server behind client; it inspects Redis through admin.
func testTagIndex(t *testing.T, client, admin redis.UniversalClient, prefix string) {
	ctx := t.Context()
	s := redisstore.New(client, &redisstore.Options{Prefix: prefix})
	view := s.Namespace("user").(*redisstore.Store)
	if got, want := s.TagKey("t"), "{"+prefix+"|tag|t}:tags"; got != want {
		t.Errorf("TagKey(t) = %q, want %q", got, want)
	}
	if got, want := view.TagKey("t"), "{"+prefix+"user|tag|t}:tags"; got != want {
		t.Errorf("view's TagKey(t) = %q, want %q", got, want)
	}

	// Members are the keys as the view was given them.
	if err := view.Tag(ctx, []string{"t"}, []string{"42", "a}b", "42"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	members, err := admin.SMembers(ctx, view.TagKey("t")).Result()
	slices.Sort(members)
	if err != nil || !slices.Equal(members, []string{"42", "a}b"}) {
		t.Errorf("SMEMBERS %s = %q, %v; want [42 a}b]", view.TagKey("t"), members, err)
	}

	pttl := func(tag string) time.Duration {
		t.Helper()
		d, err := admin.PTTL(ctx, view.TagKey(tag)).Result()
		if err != nil {
			t.Fatalf("PTTL %s: %v", view.TagKey(tag), err)
		}
		return d
	}
	tag := func(tag string, ttl time.Duration) {
		t.Helper()
		if err := view.Tag(ctx, []string{tag}, []string{fmt.Sprint(ttl)}, ttl); err != nil {
			t.Fatalf("Tag(%q, ttl %v): %v", tag, ttl, err)
		}
	}
	tests := []struct {
		name     string
		tag      string
		ttls     []time.Duration
		min, max time.Duration
	}{
		{"New", "new", []time.Duration{1500 * time.Millisecond}, time.Second, 1500 * time.Millisecond},
		{"RoundedUp", "rounded", []time.Duration{1500*time.Millisecond + 200*time.Microsecond}, time.Second, 1501 * time.Millisecond},
		{"Extended", "grow", []time.Duration{time.Minute, time.Hour}, 59 * time.Minute, time.Hour},
		{"NotShortened", "keep", []time.Duration{time.Hour, time.Minute}, 59 * time.Minute, time.Hour},
	}
	for _, tc := range tests {
		for _, ttl := range tc.ttls {
			tag(tc.tag, ttl)
		}
		if d := pttl(tc.tag); d < tc.min || d > tc.max {
			t.Errorf("%s: PTTL after Tag with TTLs %v = %v, want in [%v, %v]", tc.name, tc.ttls, d, tc.min, tc.max)
		}
	}

	// A set that lost its TTL (PERSIST) gets one again: PTTL -1 is no
	// lifetime to keep.
	if err := admin.Persist(ctx, view.TagKey("keep")).Err(); err != nil {
		t.Fatal(err)
	}
	tag("keep", time.Minute)
	if d := pttl("keep"); d <= 0 || d > time.Minute {
		t.Errorf("PTTL after Tag of a set without TTL = %v, want at most 1m", d)
	}
}

func TestLeaseKey(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr()}))
	testLeaseKey(t, client, client, "tc:") // miniredis has no ACL: one client does both
}

// testLeaseKey checks where a lease lives, what it holds (the token, then
// the waited mark), and its lifetime, on the server behind client: beside
// a key that holds a value, and in a key that holds none. It inspects
// Redis through admin.
func testLeaseKey(t *testing.T, client, admin redis.UniversalClient, prefix string) {
	ctx := t.Context()
	s := redisstore.New(client, &redisstore.Options{Prefix: prefix})
	view := s.Namespace("user").(*redisstore.Store)
	if got, want := view.LeaseKey("42"), "{"+prefix+"user:42}:lease"; got != want {
		t.Fatalf("LeaseKey(42) = %q, want %q", got, want)
	}
	if err := view.Set(ctx, "42", []byte("old"), time.Hour); err != nil {
		t.Fatal(err)
	}
	a, b := l2.NewToken(), l2.NewToken()
	lease := func(key string, old []byte, token l2.Token, ttl time.Duration, want l2.LeaseState) {
		t.Helper()
		got, err := view.Lease(ctx, token, ttl, []l2.Expect{{Key: key, Old: old}})
		if err != nil || len(got) != 1 || got[0].State != want {
			t.Fatalf("Lease(%s) = %v, %v; want %v", key, got, err, want)
		}
	}
	// holds checks what rk holds and its TTL, which must be in (lo, hi].
	holds := func(what, rk string, want []byte, lo, hi time.Duration) {
		t.Helper()
		got, err := admin.Get(ctx, rk).Bytes()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: GET %s = %q, %v; want %q", what, rk, got, err, want)
		}
		if d, err := admin.PTTL(ctx, rk).Result(); err != nil || d <= lo || d > hi {
			t.Errorf("%s: PTTL %s = %v, %v; want in (%v, %v]", what, rk, d, err, lo, hi)
		}
	}
	gone := func(what string, rks ...string) {
		t.Helper()
		if n, err := admin.Exists(ctx, rks...).Result(); err != nil || n != 0 {
			t.Errorf("%s: EXISTS %q = %d, %v; want none", what, rks, n, err)
		}
	}
	marked := slices.Concat(a[:], []byte{'w'})
	for _, c := range []struct {
		key string
		old []byte
		// rk holds the lease: the lease key beside a value, the key
		// itself (after a mark) when it holds none.
		rk   string
		mark string // the prefix of the lease in rk
	}{
		{"42", []byte("old"), view.LeaseKey("42"), ""},
		{"43", nil, view.Key("43"), "\x00TCL"},
	} {
		lease(c.key, c.old, a, time.Minute, l2.LeaseGranted)
		holds("granted", c.rk, slices.Concat([]byte(c.mark), a[:]), 59*time.Second, time.Minute)
		// A refusal appends the mark, and keeps the TTL.
		lease(c.key, c.old, b, time.Hour, l2.LeaseHeld)
		holds("held", c.rk, slices.Concat([]byte(c.mark), marked), 59*time.Second, time.Minute)
		lease(c.key, c.old, b, time.Hour, l2.LeaseHeld)
		holds("held again", c.rk, slices.Concat([]byte(c.mark), marked), 59*time.Second, time.Minute)
		// The mark of a lease kept in its key is also beside it, where it
		// outlives a Set over the key.
		holds("held, beside", view.LeaseKey(c.key), marked, 59*time.Second, time.Minute)
		// Its holder gets it again, for the new TTL, mark and all.
		lease(c.key, c.old, a, time.Hour, l2.LeaseGranted)
		holds("granted again", c.rk, slices.Concat([]byte(c.mark), marked), 59*time.Minute, time.Hour)
		holds("granted again, beside", view.LeaseKey(c.key), marked, 59*time.Minute, time.Hour)

		res, err := view.SetLeased(ctx, a, []l2.CondItem{{Item: l2.Item{Key: c.key, Value: []byte("v"), TTL: time.Minute}, Old: c.old}})
		if want := (l2.LeaseResult{Stored: true, Waited: true}); err != nil || len(res) != 1 || res[0] != want {
			t.Errorf("SetLeased(%s) = %+v, %v; want [%+v]", c.key, res, err, want)
		}
		gone("after SetLeased", view.LeaseKey(c.key))
		holds("stored", view.Key(c.key), []byte("v"), 59*time.Second, time.Minute)
	}

	// GetLease takes the lease of a key that holds nothing in the key
	// itself, and answers it as no value to Get.
	got, granted, err := view.GetLease(ctx, "44", a, time.Minute)
	if err != nil || got != nil || !granted {
		t.Fatalf("GetLease(44) = %q, %v, %v; want nil, granted", got, granted, err)
	}
	holds("GetLease", view.Key("44"), slices.Concat([]byte("\x00TCL"), a[:]), 59*time.Second, time.Minute)
	gone("GetLease", view.LeaseKey("44"))
	if v, err := view.Get(ctx, "44"); !errors.Is(err, l2.ErrMiss) {
		t.Errorf("Get(44) under GetLease's lease = %q, %v; want a miss", v, err)
	}
	if v, err := view.GetMany(ctx, []string{"44", "42"}); err != nil || len(v) != 2 || v[0] != nil || string(v[1]) != "v" {
		t.Errorf("GetMany(44, 42) = %q, %v; want [nil, v]", v, err)
	}
}

func TestDeletePrefixDerivedKeys(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr()}))
	testDeletePrefixDerivedKeys(t, client, client, "tc:") // miniredis has no ACL: one client does both
}

// testDeletePrefixDerivedKeys checks that DeletePrefix deletes the keys
// derived from a value's key without reporting them, and leaves keys
// outside the store alone. It writes and inspects those keys through admin.
func testDeletePrefixDerivedKeys(t *testing.T, client, admin redis.UniversalClient, prefix string) {
	ctx := t.Context()
	s := redisstore.New(client, &redisstore.Options{Prefix: prefix})
	for _, k := range []string{"p:1", "p:2", "other"} {
		if err := s.Set(ctx, k, []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	derived := []string{s.Key("p:1") + ":lease", s.Key("p:gone") + ":lease"}
	outside := []string{prefix + "p:1", "x{" + prefix + "p:1}"}
	for _, k := range append(slices.Clone(derived), outside...) {
		if err := admin.Set(ctx, k, "x", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	err := s.DeletePrefix(ctx, "p:", 10, func(keys []string) error {
		got = append(got, keys...)
		return nil
	})
	slices.Sort(got)
	if err != nil || !slices.Equal(got, []string{"p:1", "p:2"}) {
		t.Errorf("DeletePrefix(p:) reported %q, %v; want [p:1 p:2]", got, err)
	}
	for _, k := range derived {
		if n, err := admin.Exists(ctx, k).Result(); err != nil || n != 0 {
			t.Errorf("EXISTS %s = %d, %v; want the derived key deleted", k, n, err)
		}
	}
	for _, k := range append(outside, s.Key("other")) {
		if n, err := admin.Exists(ctx, k).Result(); err != nil || n != 1 {
			t.Errorf("EXISTS %s = %d, %v; want the key kept", k, n, err)
		}
	}
}

// wrapper is a redis.UniversalClient of a type that Store does not know.
type wrapper struct{ redis.UniversalClient }

func TestDeletePrefixUnknownClient(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr()}))
	s := redisstore.New(wrapper{client}, nil)
	if err := s.Set(t.Context(), "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	err := s.DeletePrefix(t.Context(), "", 10, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "redisstore: deleteprefix: ") {
		t.Errorf("DeletePrefix through a %T = %v, want an error", wrapper{}, err)
	}
}

// TestOptionalRoundTrips checks the commands each optional operation sends
// to one node, and that scripts work after SCRIPT FLUSH (as after a
// restart or a failover).
func TestOptionalRoundTrips(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr()}))
	hook := &counter{}
	client.AddHook(hook)
	s := redisstore.New(client, nil)
	ctx := t.Context()
	if err := s.Set(ctx, "k", []byte("v0"), time.Minute); err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		if err := s.Set(ctx, fmt.Sprint("d:", i), []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	flush := func() error { return client.ScriptFlush(ctx).Err() }
	setIf := func(old, value string) func() error {
		return func() error {
			ok, err := s.SetIf(ctx, l2.CondItem{Item: l2.Item{Key: "k", Value: []byte(value), TTL: time.Minute}, Old: []byte(old)})
			if err == nil && !ok {
				err = fmt.Errorf("SetIf(k, %q, %q) did not store", old, value)
			}
			return err
		}
	}
	for _, k := range []string{"m:old", "m:present"} {
		if err := s.Set(ctx, k, []byte("o0"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// setManyIf writes the items given as key, old (nil: "-") and value,
	// and expects the results want.
	setManyIf := func(want []bool, kov ...string) func() error {
		return func() error {
			var items []l2.CondItem
			for i := 0; i < len(kov); i += 3 {
				it := l2.CondItem{Item: l2.Item{Key: kov[i], Value: []byte(kov[i+2]), TTL: time.Minute}}
				if kov[i+1] != "-" {
					it.Old = []byte(kov[i+1])
				}
				items = append(items, it)
			}
			stored, err := s.SetManyIf(ctx, items)
			if err == nil && !slices.Equal(stored, want) {
				err = fmt.Errorf("SetManyIf(%q) = %v, want %v", kov, stored, want)
			}
			return err
		}
	}
	tag := func(tags ...string) func() error {
		return func() error { return s.Tag(ctx, tags, []string{"a", "b"}, time.Minute) }
	}
	token := l2.NewToken()
	lease := func(keys ...string) func() error {
		return func() error {
			e := make([]l2.Expect, len(keys))
			for i, k := range keys {
				e[i].Key = k
			}
			a, err := s.Lease(ctx, token, time.Minute, e)
			for i := range a {
				if a[i].State != l2.LeaseGranted && err == nil {
					err = fmt.Errorf("Lease(%q) = %v", keys[i], a[i].State)
				}
			}
			return err
		}
	}
	setLeased := func(keys ...string) func() error {
		return func() error {
			items := make([]l2.CondItem, len(keys))
			for i, k := range keys {
				items[i] = l2.CondItem{Item: l2.Item{Key: k, Value: []byte("v"), TTL: time.Minute}}
			}
			res, err := s.SetLeased(ctx, token, items)
			for i := range res {
				if !res[i].Stored && err == nil {
					err = fmt.Errorf("SetLeased(%q) = %+v", keys[i], res[i])
				}
			}
			return err
		}
	}
	release := func(keys ...string) func() error {
		return func() error { _, err := s.Release(ctx, token, keys...); return err }
	}
	stage := func(keys ...string) func() error {
		return func() error {
			items := make([]l2.StageItem, len(keys))
			for i, k := range keys {
				items[i] = l2.StageItem{Key: k, Value: []byte("v")}
			}
			_, err := s.Stage(ctx, items)
			return err
		}
	}
	claim := func(keys ...string) func() error {
		return func() error { _, err := s.Claim(ctx, token, time.Minute, keys); return err }
	}
	unstage := func(keys ...string) func() error {
		return func() error {
			items := make([]l2.UnstageItem, len(keys))
			for i, k := range keys {
				items[i] = l2.UnstageItem{Key: k, Seq: 1, TTL: time.Minute}
			}
			return s.Unstage(ctx, token, items)
		}
	}

	tests := []struct {
		name          string
		before        func() error
		op            func() error
		wantSingle    []string
		wantPipelines [][]string
	}{
		{"SetIfAbsent", nil, func() error {
			_, err := s.SetIf(ctx, l2.CondItem{Item: l2.Item{Key: "new", Value: []byte("v"), TTL: time.Minute}})
			return err
		}, []string{"set"}, nil},
		{"SetIfUnknownScript", flush, setIf("v0", "v1"), []string{"evalsha", "eval"}, nil},
		{"SetIf", nil, setIf("v1", "v2"), []string{"evalsha"}, nil},
		{"SetManyIfUnknownScript", flush, setManyIf([]bool{true, true, false, false},
			"m:a", "-", "a",
			"m:old", "o0", "o1",
			"m:present", "-", "p",
			"m:absent", "x", "y",
		), nil, [][]string{{"set", "evalsha", "set", "evalsha"}, {"eval", "eval"}}},
		{"SetManyIf", nil, setManyIf([]bool{true, true, false},
			"m:old", "o1", "o2",
			"m:b", "-", "b",
			"m:present", "o1", "p",
		), nil, [][]string{{"evalsha", "set", "evalsha"}}},
		{"SetManyIfOne", nil, setManyIf([]bool{false}, "m:old", "o1", "o3"), []string{"evalsha"}, nil},
		{"SetManyIfOneAbsent", nil, setManyIf([]bool{true}, "m:c", "-", "c"), []string{"set"}, nil},
		{"SetManyIfNone", nil, setManyIf([]bool{}), nil, nil},
		{"TagUnknownScript", flush, tag("t"), []string{"evalsha", "eval"}, nil},
		{"Tag", nil, tag("t"), []string{"evalsha"}, nil},
		{"TagsUnknownScript", flush, tag("t", "u", "v"), nil, [][]string{
			{"evalsha", "evalsha", "evalsha"}, {"eval", "eval", "eval"},
		}},
		{"Tags", nil, tag("t", "u", "v"), nil, [][]string{{"evalsha", "evalsha", "evalsha"}}},
		{"TagNone", nil, tag(), nil, nil},
		{"LeaseUnknownScript", flush, lease("l:1"), []string{"evalsha", "eval"}, nil},
		{"Lease", nil, lease("l:2"), []string{"evalsha"}, nil},
		{"LeaseMany", nil, lease("l:3", "l:4", "l:5"), nil, [][]string{{"evalsha", "evalsha", "evalsha"}}},
		{"LeaseManyUnknownScript", flush, lease("l:6", "l:7"), nil, [][]string{{"evalsha", "evalsha"}, {"eval", "eval"}}},
		{"LeaseNone", nil, lease(), nil, nil},
		{"SetLeasedUnknownScript", flush, setLeased("l:1"), []string{"evalsha", "eval"}, nil},
		{"SetLeased", nil, setLeased("l:2"), []string{"evalsha"}, nil},
		{"SetLeasedMany", nil, setLeased("l:3", "l:4"), nil, [][]string{{"evalsha", "evalsha"}}},
		{"SetLeasedNone", nil, setLeased(), nil, nil},
		{"ReleaseUnknownScript", flush, release("l:5"), []string{"evalsha", "eval"}, nil},
		{"Release", nil, release("l:6"), []string{"evalsha"}, nil},
		{"ReleaseMany", nil, release("l:5", "l:6", "l:7"), nil, [][]string{{"evalsha", "evalsha", "evalsha"}}},
		{"ReleaseNone", nil, release(), nil, nil},
		{"StageUnknownScript", flush, stage("s:1"), []string{"evalsha", "eval"}, nil},
		{"Stage", nil, stage("s:2"), []string{"evalsha"}, nil},
		{"StageMany", nil, stage("s:3", "s:4", "s:5"), nil, [][]string{{"evalsha", "evalsha", "evalsha"}}},
		{"StageNone", nil, stage(), nil, nil},
		{"ClaimUnknownScript", flush, claim("s:1"), []string{"evalsha", "eval"}, nil},
		{"Claim", nil, claim("s:2"), []string{"evalsha"}, nil},
		{"ClaimMany", nil, claim("s:3", "s:4"), nil, [][]string{{"evalsha", "evalsha"}}},
		{"ClaimNone", nil, claim(), nil, nil},
		{"UnstageUnknownScript", flush, unstage("s:1"), []string{"evalsha", "eval"}, nil},
		{"Unstage", nil, unstage("s:2"), []string{"evalsha"}, nil},
		{"UnstageMany", nil, unstage("s:3", "s:4"), nil, [][]string{{"evalsha", "evalsha"}}},
		{"UnstageNone", nil, unstage(), nil, nil},
		{"Revoke", nil, func() error {
			return s.Revoke(ctx, []l2.Item{{Key: "l:1", Value: []byte("tomb"), TTL: time.Minute}})
		}, nil, [][]string{{"set", "del"}}},
		{"PopTagged", nil, func() error { _, err := s.PopTagged(ctx, "t", 10); return err }, []string{"spop"}, nil},
		// miniredis answers SCAN with every key at once: DeletePrefix cuts
		// it in batches of count, and reads the first bytes of each batch's
		// values (a lease kept in its key is not reported) before it
		// unlinks them.
		{"DeletePrefix", nil, func() error { return s.DeletePrefix(ctx, "d:", 10, nil) },
			[]string{"scan", "unlink", "unlink", "unlink"},
			[][]string{slices.Repeat([]string{"getrange"}, 10), slices.Repeat([]string{"getrange"}, 10), slices.Repeat([]string{"getrange"}, 5)}},
		{"GetLease", nil, func() error { _, _, err := s.GetLease(ctx, "gl:1", l2.NewToken(), time.Minute); return err },
			[]string{"set"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				if err := tc.before(); err != nil {
					t.Fatal(err)
				}
			}
			hook.take()
			if err := tc.op(); err != nil {
				t.Fatal(err)
			}
			single, pipelines := hook.take()
			if fmt.Sprint(single) != fmt.Sprint(tc.wantSingle) || fmt.Sprint(pipelines) != fmt.Sprint(tc.wantPipelines) {
				t.Errorf("sent %q alone and pipelines %q, want %q and %q", single, pipelines, tc.wantSingle, tc.wantPipelines)
			}
		})
	}
	if b, err := s.Get(ctx, "k"); err != nil || string(b) != "v2" {
		t.Errorf("Get(k) = %q, %v; want v2", b, err)
	}
	vals, err := s.GetMany(ctx, []string{"m:a", "m:b", "m:old", "m:present", "m:absent"})
	if want := "[a b o2 o0 ]"; err != nil || fmt.Sprintf("%s", vals) != want {
		t.Errorf("GetMany(m:...) = %q, %v; want %s", vals, err, want)
	}
	for _, tag := range []string{"u", "v"} {
		if keys, err := s.PopTagged(ctx, tag, 10); err != nil || len(keys) != 2 {
			t.Errorf("PopTagged(%s) = %q, %v; want a and b", tag, keys, err)
		}
	}
}
