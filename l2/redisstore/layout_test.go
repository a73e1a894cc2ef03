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

// TestKeyKinds checks that the Redis keys of values, leases, queued
// values, claims and tag indexes never meet, whatever bytes the keys and tags hold, in the Store
// and in its views.
func TestKeyKinds(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr()}))
	s := redisstore.New(client, nil)
	names := []string{"", "x", "|tag|x", "a|tag|b", "|tag|", "}", "{", "x}", "x}:tags", "x}:lease", ":tags", ":lease",
		"}:tags", "}:lease", "users:x", "users|tag|x", "x}:tags}", "t\x00\xff",
		":queued", ":claim", "x}:queued", "x}:claim", "}:queued", "}:claim", "x}:queued}"}
	stores := []*redisstore.Store{s, s.Namespace("users").(*redisstore.Store), s.Namespace("").(*redisstore.Store)}
	owner := make(map[string]string) // Redis key -> what it belongs to
	claim := func(rk, what string) {
		t.Helper()
		if prev, ok := owner[rk]; ok && prev != what {
			t.Errorf("Redis key %q is both %s and %s", rk, prev, what)
		}
		owner[rk] = what
	}
	for i, st := range stores {
		for _, n := range names {
			// The logical key of a view is a key of the store, so
			// values and leases are named by their key in the store.
			k := n
			switch i {
			case 1:
				k = "users:" + n
			case 2:
				k = ":" + n
			}
			claim(st.Key(n), fmt.Sprintf("the value of %q", k))
			claim(st.LeaseKey(n), fmt.Sprintf("the lease of %q", k))
			claim(st.QueuedKey(n), fmt.Sprintf("the queued value of %q", k))
			claim(st.ClaimKey(n), fmt.Sprintf("the claim of %q", k))
			// The Store and Namespace("") share their tag indexes.
			claim(st.TagKey(n), fmt.Sprintf("the index of tag %q of %s", n, []string{"the store", "users", "the store"}[i]))
		}
	}
}

// TestPrefixSeparator checks that New ends the prefix with ':', so that
// prefix "app" with namespace "users" and prefix "appu" with namespace
// "sers" keep apart.
func TestPrefixSeparator(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr()}))
	ctx := t.Context()
	a := redisstore.New(client, &redisstore.Options{Prefix: "app"}).Namespace("users").(*redisstore.Store)
	b := redisstore.New(client, &redisstore.Options{Prefix: "appu"}).Namespace("sers").(*redisstore.Store)
	if got, want := a.Key("k"), "{app:users:k}"; got != want {
		t.Errorf("Key(k) of prefix app, namespace users = %q, want %q", got, want)
	}
	if a.Key("k") == b.Key("k") || a.LeaseKey("k") == b.LeaseKey("k") || a.TagKey("t") == b.TagKey("t") {
		t.Fatalf("prefix app + users and appu + sers share keys: %q, %q, %q", a.Key("k"), a.LeaseKey("k"), a.TagKey("t"))
	}
	if err := a.Set(ctx, "k", []byte("a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, "k"); !errors.Is(err, l2.ErrMiss) {
		t.Errorf("Get(k) of appu + sers = %q, %v; want a miss", v, err)
	}
	var reported []string
	if err := b.DeletePrefix(ctx, "", 10, func(keys []string) error {
		reported = append(reported, keys...)
		return nil
	}); err != nil || len(reported) != 0 {
		t.Errorf("DeletePrefix of appu + sers = %q, %v; want nothing", reported, err)
	}
	if v, err := a.Get(ctx, "k"); err != nil || string(v) != "a" {
		t.Errorf("Get(k) of app + users = %q, %v; want a", v, err)
	}
	// A prefix that ends with ':' is kept as it is.
	if got, want := redisstore.New(client, &redisstore.Options{Prefix: "app:"}).Key("k"), "{app:k}"; got != want {
		t.Errorf("Key(k) of prefix app: = %q, want %q", got, want)
	}
}

func TestDeletePrefixKeyLayout(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr()}))
	testDeletePrefixKeyLayout(t, client, client, "tc:") // miniredis has no ACL: one client does both
}

// testDeletePrefixKeyLayout writes values whose keys look like tag
// indexes ("a|tag|b" in a view, "|tag|x" in the store, which was the key of
// the index of tag x), a lease and real tag indexes, and checks that
// DeletePrefix("") deletes the values and the lease, reports the values,
// and leaves the indexes alone. It inspects Redis through admin.
func testDeletePrefixKeyLayout(t *testing.T, client, admin redis.UniversalClient, prefix string) {
	ctx := t.Context()
	s := redisstore.New(client, &redisstore.Options{Prefix: prefix})
	view := s.Namespace("users").(*redisstore.Store)
	if s.Key("|tag|x") == s.TagKey("x") || view.Key("a|tag|b") == view.TagKey("b") {
		t.Errorf("a value key equals a tag key: %q, %q", s.Key("|tag|x"), view.Key("a|tag|b"))
	}
	for _, w := range []struct {
		st  *redisstore.Store
		key string
	}{{s, "|tag|x"}, {view, "a|tag|b"}, {view, "plain"}, {s, "users|tag|t"}} {
		if err := w.st.Set(ctx, w.key, []byte("v:"+w.key), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := view.Lease(ctx, l2.NewToken(), time.Minute, []l2.Expect{{Key: "leased"}}); err != nil {
		t.Fatal(err)
	}
	// Tag x of the store and tag t of the view: their indexes were the
	// keys of the values "|tag|x" and "users|tag|t".
	if err := s.Tag(ctx, []string{"x"}, []string{"k1"}, time.Minute); err != nil {
		t.Errorf("Tag(x): %v", err)
	}
	if err := view.Tag(ctx, []string{"t", "b"}, []string{"k2"}, time.Minute); err != nil {
		t.Errorf("Tag(t, b) of the view: %v", err)
	}
	for key, want := range map[string]string{"|tag|x": "v:|tag|x", "users|tag|t": "v:users|tag|t"} {
		if v, err := s.Get(ctx, key); err != nil || string(v) != want {
			t.Errorf("Get(%q) after Tag = %q, %v; want %q", key, v, err, want)
		}
	}

	var reported []string
	err := s.DeletePrefix(ctx, "", 10, func(keys []string) error {
		reported = append(reported, keys...)
		return nil
	})
	slices.Sort(reported)
	if want := []string{"users:a|tag|b", "users:plain", "users|tag|t", "|tag|x"}; err != nil || !slices.Equal(reported, want) {
		t.Errorf("DeletePrefix(\"\") reported %q, %v; want %q", reported, err, want)
	}
	for _, key := range []string{"|tag|x", "users:a|tag|b", "users:plain", "users|tag|t"} {
		if v, err := s.Get(ctx, key); !errors.Is(err, l2.ErrMiss) {
			t.Errorf("Get(%q) after DeletePrefix = %q, %v; want a miss", key, v, err)
		}
	}
	if n, err := admin.Exists(ctx, view.LeaseKey("leased")).Result(); err != nil || n != 0 {
		t.Errorf("EXISTS %s = %d, %v after DeletePrefix; want the lease gone", view.LeaseKey("leased"), n, err)
	}
	for _, tk := range []string{s.TagKey("x"), view.TagKey("t"), view.TagKey("b")} {
		if n, err := admin.Exists(ctx, tk).Result(); err != nil || n != 1 {
			t.Errorf("EXISTS %s = %d, %v after DeletePrefix; want the tag index kept", tk, n, err)
		}
	}
	if keys, err := s.PopTagged(ctx, "x", 10); err != nil || !slices.Equal(keys, []string{"k1"}) {
		t.Errorf("PopTagged(x) after DeletePrefix = %q, %v; want [k1]", keys, err)
	}
	if keys, err := view.PopTagged(ctx, "b", 10); err != nil || !slices.Equal(keys, []string{"k2"}) {
		t.Errorf("PopTagged(b) of the view after DeletePrefix = %q, %v; want [k2]", keys, err)
	}
}
