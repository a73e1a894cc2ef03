package redisstore_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/storetest"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/redisstore"
)

// The conformance suite (l2test) checks what Stage, Claim and Unstage do;
// the tests here check the Redis keys they use.

func TestStageKeys(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr()}))
	testStageKeys(t, client, client, "tc:") // miniredis has no ACL: one client does both
}

// bigSeq is a sequence number of the size that the durable queue hands
// out: a Unix time in milliseconds shifted left by 20 bits.
const bigSeq = uint64(1764950000000) << 20

// testStageKeys checks where a queued value, its number and its claim
// live, what they hold and for how long, and that DeletePrefix leaves them
// alone, on the server behind client; it inspects Redis through admin.
func testStageKeys(t *testing.T, client, admin redis.UniversalClient, prefix string) {
	ctx := t.Context()
	s := redisstore.New(client, &redisstore.Options{Prefix: prefix})
	view := s.Namespace("user").(*redisstore.Store)
	if got, want := view.QueuedKey("42"), "{"+prefix+"user:42}:queued"; got != want {
		t.Errorf("QueuedKey(42) = %q, want %q", got, want)
	}
	if got, want := view.ClaimKey("42"), "{"+prefix+"user:42}:claim"; got != want {
		t.Errorf("ClaimKey(42) = %q, want %q", got, want)
	}
	holds := func(what, rk string, want []byte, lo, hi time.Duration) {
		t.Helper()
		storetest.Holds(t, admin, what, rk, want, lo, hi)
	}
	stage := func(key string, value string, seq, want uint64) {
		t.Helper()
		n, err := view.Stage(ctx, []l2.StageItem{{Key: key, Value: []byte(value), Seq: seq}})
		if err != nil || !slices.Equal(n, []uint64{want}) {
			t.Fatalf("Stage(%q, seq %d) = %v, %v; want [%d]", key, seq, n, err, want)
		}
	}
	queued := func(seq uint64, value string) []byte { return fmt.Appendf(nil, "q%020d%s", seq, value) }
	token := l2.NewToken()

	if err := view.Set(ctx, "42", []byte("old"), time.Minute); err != nil {
		t.Fatal(err)
	}
	stage("42", "v", bigSeq, bigSeq)
	holds("staged", view.QueuedKey("42"), queued(bigSeq, "v"), 0, -1)
	holds("staged", view.Key("42"), []byte("v"), 0, -1)

	res, err := view.Claim(ctx, token, time.Minute, []string{"42"})
	if want := (l2.Staged{Value: []byte("v"), Seq: bigSeq}); err != nil || len(res) != 1 || string(res[0].Value) != "v" || res[0].Seq != want.Seq || res[0].Busy {
		t.Fatalf("Claim(42) = %+v, %v; want [%+v]", res, err, want)
	}
	holds("claimed", view.ClaimKey("42"), token[:], 59*time.Second, time.Minute)

	// Lua adds 1 to a number beyond 2^53 exactly.
	stage("42", "w", 0, bigSeq+1)
	holds("staged again", view.QueuedKey("42"), queued(bigSeq+1, "w"), 0, -1)
	holds("staged again", view.ClaimKey("42"), token[:], 59*time.Second, time.Minute)

	if err := view.Unstage(ctx, token, []l2.UnstageItem{{Key: "42", Seq: bigSeq + 1, TTL: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	holds("unstaged", view.QueuedKey("42"), fmt.Appendf(nil, "r%020d", bigSeq+1), l2.StageMemory-time.Minute, l2.StageMemory)
	holds("unstaged", view.ClaimKey("42"), nil, 0, 0)
	holds("unstaged", view.Key("42"), []byte("w"), 59*time.Second, time.Minute)

	// DeletePrefix deletes values (and leases), and leaves queued values,
	// remembered numbers and claims alone.
	stage("43", "v43", 0, 1)
	stage("44", "v44", 0, 1)
	if _, err := view.Claim(ctx, token, time.Minute, []string{"43"}); err != nil {
		t.Fatal(err)
	}
	var reported []string
	err = s.DeletePrefix(ctx, "", 10, func(keys []string) error {
		reported = append(reported, keys...)
		return nil
	})
	slices.Sort(reported)
	if want := []string{"user:42", "user:43", "user:44"}; err != nil || !slices.Equal(reported, want) {
		t.Errorf("DeletePrefix(\"\") reported %q, %v; want %q", reported, err, want)
	}
	for _, k := range []string{"42", "43", "44"} {
		holds("after DeletePrefix", view.Key(k), nil, 0, 0)
	}
	holds("after DeletePrefix", view.QueuedKey("42"), fmt.Appendf(nil, "r%020d", bigSeq+1), l2.StageMemory-time.Minute, l2.StageMemory)
	holds("after DeletePrefix", view.QueuedKey("43"), queued(1, "v43"), 0, -1)
	holds("after DeletePrefix", view.QueuedKey("44"), queued(1, "v44"), 0, -1)
	holds("after DeletePrefix", view.ClaimKey("43"), token[:], 59*time.Second, time.Minute)

	// Lease puts the queued value back, without expiry.
	a, err := view.Lease(ctx, l2.NewToken(), time.Minute, []l2.Expect{{Key: "44"}})
	if err != nil || len(a) != 1 || a[0].State != l2.LeaseChanged || string(a[0].Value) != "v44" {
		t.Errorf("Lease(44) = %+v, %v; want changed, v44", a, err)
	}
	holds("after Lease", view.Key("44"), []byte("v44"), 0, -1)
	holds("after Lease", view.LeaseKey("44"), nil, 0, 0)
}

func TestStageKeyFaults(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: m.Addr()}))
	testStageKeyFaults(t, client, client, "skf:") // miniredis has no ACL: one client does both
}

// testStageKeyFaults runs storetest.StageKeyFaults on a store over client
// with prefix; admin plants the keys of another type.
func testStageKeyFaults(t *testing.T, client, admin redis.UniversalClient, prefix string) {
	storetest.StageKeyFaults(t, redisstore.New(client, &redisstore.Options{Prefix: prefix}), admin)
}
