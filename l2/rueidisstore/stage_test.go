package rueidisstore_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/tiercache/tiercache/internal/storetest"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/redisstore"
	"github.com/tiercache/tiercache/l2/rueidisstore"
)

// The conformance suite (l2test) checks what Stage, Claim and Unstage do;
// the tests here check that they keep l2/redisstore's keys, and how they
// meet keys of another type. TestRedis runs them on a real redis-server.

func TestStageKeys(t *testing.T) {
	m := miniredis.RunT(t)
	testStageKeys(t, newClient(t, m.Addr()), newGoRedis(t, m.Addr()), "tc:") // miniredis has no ACL
}

func TestStageKeyFaults(t *testing.T) {
	m := miniredis.RunT(t)
	testStageKeyFaults(t, newClient(t, m.Addr()), newGoRedis(t, m.Addr()), "skf:")
}

// newGoRedis returns a go-redis client on addr, closed with t.
func newGoRedis(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// bigSeq is a sequence number of the size that the durable queue hands
// out: a Unix time in milliseconds shifted left by 20 bits.
const bigSeq = uint64(1764950000000) << 20

// testStageKeys checks where a queued value, its number and its claim
// live, what they hold and for how long, on the server behind client, and
// that an l2/redisstore Store on admin (which also inspects Redis) reads
// and refuses what rueidisstore wrote, and the other way round.
func testStageKeys(t *testing.T, client rueidis.Client, admin redis.UniversalClient, prefix string) {
	ctx := t.Context()
	view := rueidisstore.New(client, &rueidisstore.Options{Prefix: prefix}).Namespace("user").(*rueidisstore.Store)
	other := redisstore.New(admin, &redisstore.Options{Prefix: prefix}).Namespace("user").(*redisstore.Store)
	for _, k := range []struct{ name, got, want, redisstore string }{
		{"QueuedKey", view.QueuedKey("42"), "{" + prefix + "user:42}:queued", other.QueuedKey("42")},
		{"ClaimKey", view.ClaimKey("42"), "{" + prefix + "user:42}:claim", other.ClaimKey("42")},
	} {
		if k.got != k.want || k.got != k.redisstore {
			t.Errorf("%s(42) = %q, want %q (redisstore: %q)", k.name, k.got, k.want, k.redisstore)
		}
	}
	holds := func(what, rk string, want []byte, lo, hi time.Duration) {
		t.Helper()
		storetest.Holds(t, admin, what, rk, want, lo, hi)
	}
	stage := func(st l2.Stager, key, value string, seq, want uint64) {
		t.Helper()
		n, err := st.Stage(ctx, []l2.StageItem{{Key: key, Value: []byte(value), Seq: seq}})
		if err != nil || !slices.Equal(n, []uint64{want}) {
			t.Fatalf("%T: Stage(%q, seq %d) = %v, %v; want [%d]", st, key, seq, n, err, want)
		}
	}
	claim := func(st l2.Stager, token l2.Token, key string, want l2.Staged) {
		t.Helper()
		res, err := st.Claim(ctx, token, time.Minute, []string{key})
		if err != nil || len(res) != 1 || string(res[0].Value) != string(want.Value) || (res[0].Value == nil) != (want.Value == nil) ||
			res[0].Seq != want.Seq || res[0].Busy != want.Busy {
			t.Fatalf("%T: Claim(%q) = %+v, %v; want [%+v]", st, key, res, err, want)
		}
	}
	queued := func(seq uint64, value string) []byte { return fmt.Appendf(nil, "q%020d%s", seq, value) }
	token, otherToken := l2.NewToken(), l2.NewToken()

	if err := view.Set(ctx, "42", []byte("old"), time.Minute); err != nil {
		t.Fatal(err)
	}
	stage(view, "42", "v", bigSeq, bigSeq)
	holds("staged", view.QueuedKey("42"), queued(bigSeq, "v"), 0, -1)
	holds("staged", view.Key("42"), []byte("v"), 0, -1)

	claim(view, token, "42", l2.Staged{Value: []byte("v"), Seq: bigSeq})
	holds("claimed", view.ClaimKey("42"), token[:], 59*time.Second, time.Minute)
	claim(other, otherToken, "42", l2.Staged{Value: []byte("v"), Seq: bigSeq, Busy: true})

	// Lua adds 1 to a number beyond 2^53 exactly.
	stage(view, "42", "w", 0, bigSeq+1)
	holds("staged again", view.QueuedKey("42"), queued(bigSeq+1, "w"), 0, -1)
	holds("staged again", view.ClaimKey("42"), token[:], 59*time.Second, time.Minute)

	if err := view.Unstage(ctx, token, []l2.UnstageItem{{Key: "42", Seq: bigSeq + 1, TTL: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	holds("unstaged", view.QueuedKey("42"), fmt.Appendf(nil, "r%020d", bigSeq+1), l2.StageMemory-time.Minute, l2.StageMemory)
	holds("unstaged", view.ClaimKey("42"), nil, 0, 0)
	holds("unstaged", view.Key("42"), []byte("w"), 59*time.Second, time.Minute)
	// The remembered number refuses a late write through either store.
	stage(other, "42", "late", bigSeq, 0)
	claim(view, token, "42", l2.Staged{Seq: bigSeq + 1})

	// Any bytes, both ways; an empty value is queued, not absent.
	bin := "bin\x00\xff{}"
	stage(view, "bin", bin, 0, 1)
	claim(other, token, "bin", l2.Staged{Value: []byte(bin), Seq: 1})
	stage(other, "empty", "", 0, 1)
	claim(view, token, "empty", l2.Staged{Value: []byte{}, Seq: 1})
	if err := other.Unstage(ctx, token, []l2.UnstageItem{{Key: "empty", Seq: 1}}); err != nil {
		t.Fatal(err)
	}
	claim(view, token, "empty", l2.Staged{Seq: 1})
	holds("unstaged without a TTL", view.Key("empty"), nil, 0, 0)
}

// testStageKeyFaults runs storetest.StageKeyFaults on a store over client
// with prefix; admin plants the keys of another type.
func testStageKeyFaults(t *testing.T, client rueidis.Client, admin redis.UniversalClient, prefix string) {
	storetest.StageKeyFaults(t, rueidisstore.New(client, &rueidisstore.Options{Prefix: prefix}), admin)
}
