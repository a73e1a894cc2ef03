package redisstore_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/l2test"
	"github.com/tiercache/tiercache/l2/redisstore"
)

// queueClaimAfter is the claim timeout of the queues of the tests: short,
// since they wait it out on the real clock (miniredis's too: the Queue
// looks for stale entries on the real clock).
const queueClaimAfter = 200 * time.Millisecond

// queueHarness runs the queue suite on the client newClient returns for
// each backend; each backend gets a key prefix of its own.
func queueHarness(newClient func(t *testing.T) redis.UniversalClient) l2test.QueueHarness {
	var n atomic.Int64
	return l2test.QueueHarness{New: func(t *testing.T) l2test.QueueBackend {
		client := newClient(t)
		prefix := fmt.Sprintf("q%d:", n.Add(1))
		return l2test.QueueBackend{
			Queue: func(t *testing.T, ns, consumer string) l2.Queue {
				return newQueue(t, client, &redisstore.QueueOptions{
					Namespace: ns, Consumer: consumer, Prefix: prefix, ClaimAfter: queueClaimAfter,
				})
			},
			ClaimAfter: queueClaimAfter,
		}
	}}
}

func newQueue(t *testing.T, client redis.UniversalClient, opts *redisstore.QueueOptions) *redisstore.Queue {
	t.Helper()
	q, err := redisstore.NewQueue(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// miniClient returns a function that makes a client of newClient over n
// fresh miniredis servers.
func miniClient(newClient func(*testing.T, []*miniredis.Miniredis) redis.UniversalClient, n int) func(*testing.T) redis.UniversalClient {
	return func(t *testing.T) redis.UniversalClient {
		ms := make([]*miniredis.Miniredis, n)
		for i := range ms {
			ms[i] = miniredis.RunT(t)
		}
		return newClient(t, ms)
	}
}

func TestQueueMiniredis(t *testing.T) {
	t.Run("Client", func(t *testing.T) {
		l2test.RunQueue(t, queueHarness(miniClient(newMiniClient, 1)))
	})
	t.Run("ClusterClient", func(t *testing.T) {
		l2test.RunQueue(t, queueHarness(miniClient(newMiniClusterClient, 1)))
	})
	t.Run("Ring", func(t *testing.T) {
		l2test.RunQueue(t, queueHarness(miniClient(newMiniRing, 2)))
	})
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, client, admin redis.UniversalClient, prefix string)
	}{
		{"KeyLayout", testQueueKeyLayout},
		{"DeletedEntry", testQueueDeletedEntry},
		{"JunkEntry", testQueueJunkEntry},
		{"GroupRecreated", testQueueGroupRecreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client := miniClient(newMiniClient, 1)(t)
			tc.fn(t, client, client, "mini:")
		})
	}
}

func TestNewQueue(t *testing.T) {
	t.Parallel()
	client := closeLater(t, redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})) // never dialed
	valid := func(edit func(o *redisstore.QueueOptions)) *redisstore.QueueOptions {
		o := &redisstore.QueueOptions{Namespace: "users", Consumer: "a"}
		edit(o)
		return o
	}
	tests := []struct {
		name string
		opts *redisstore.QueueOptions
		want string
	}{
		{"NilOptions", nil, "Namespace and Consumer are required"},
		{"NoNamespace", valid(func(o *redisstore.QueueOptions) { o.Namespace = "" }), "Namespace must be 1-64 characters"},
		{"LongNamespace", valid(func(o *redisstore.QueueOptions) { o.Namespace = strings.Repeat("n", 65) }), "Namespace must be 1-64 characters"},
		{"NamespaceColon", valid(func(o *redisstore.QueueOptions) { o.Namespace = "a:b" }), `has ':'`},
		{"NamespacePipe", valid(func(o *redisstore.QueueOptions) { o.Namespace = "a|wb" }), `has '|'`},
		{"NamespaceBrace", valid(func(o *redisstore.QueueOptions) { o.Namespace = "a}" }), `has '}'`},
		{"NoConsumer", valid(func(o *redisstore.QueueOptions) { o.Consumer = "" }), "Consumer is required"},
		{"PrefixBrace", valid(func(o *redisstore.QueueOptions) { o.Prefix = "a}b" }), "contains '}'"},
		{"NegativeShards", valid(func(o *redisstore.QueueOptions) { o.Shards = -1 }), "Shards must be 0 (default) to 1024, got -1"},
		{"TooManyShards", valid(func(o *redisstore.QueueOptions) { o.Shards = 1025 }), "got 1025"},
		{"NegativeClaimAfter", valid(func(o *redisstore.QueueOptions) { o.ClaimAfter = -time.Second }), "must not be negative"},
		{"ClaimAfterUnderMillisecond", valid(func(o *redisstore.QueueOptions) { o.ClaimAfter = time.Microsecond }), "under a millisecond"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := redisstore.NewQueue(client, tc.opts)
			if err == nil || !strings.HasPrefix(err.Error(), "redisstore: NewQueue: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewQueue = %v, %v; want an error with %q", q, err, tc.want)
			}
		})
	}
	if _, err := redisstore.NewQueue(nil, valid(func(*redisstore.QueueOptions) {})); err == nil || !strings.HasPrefix(err.Error(), "redisstore:") {
		t.Errorf("NewQueue(nil client): %v", err)
	}

	keys := []struct {
		name string
		opts *redisstore.QueueOptions
		want []string // the first and the last key
		n    int
	}{
		{"Defaults", valid(func(*redisstore.QueueOptions) {}),
			[]string{"{tc:users|wb|0}:queue", "{tc:users|wb|15}:queue"}, redisstore.DefaultQueueShards},
		{"Prefix", valid(func(o *redisstore.QueueOptions) { o.Prefix = "app" }),
			[]string{"{app:users|wb|0}:queue", "{app:users|wb|15}:queue"}, 16},
		{"Shards", valid(func(o *redisstore.QueueOptions) { o.Shards, o.Prefix = 1, "app:" }),
			[]string{"{app:users|wb|0}:queue", "{app:users|wb|0}:queue"}, 1},
	}
	for _, tc := range keys {
		t.Run(tc.name, func(t *testing.T) {
			before := *tc.opts
			q := newQueue(t, client, tc.opts)
			if *tc.opts != before {
				t.Errorf("NewQueue changed the options: %+v, was %+v", *tc.opts, before)
			}
			got := q.Keys()
			if len(got) != tc.n || got[0] != tc.want[0] || got[len(got)-1] != tc.want[1] {
				t.Errorf("Keys = %q, want %d keys from %q to %q", got, tc.n, tc.want[0], tc.want[1])
			}
			got[0] = "changed"
			if q.Keys()[0] != tc.want[0] {
				t.Error("Keys returns the queue's own slice")
			}
		})
	}
}

// testQueueKeyLayout checks where the entries of each key go, and that a
// Store's DeletePrefix, of a namespace and of the whole store (the tiered
// cache's Flush), leaves the streams alone. admin reads the streams.
func testQueueKeyLayout(t *testing.T, client, admin redis.UniversalClient, prefix string) {
	ctx := t.Context()
	q := newQueue(t, client, &redisstore.QueueOptions{Namespace: "users", Consumer: "a", Prefix: prefix, Shards: 4})
	keys := []string{"user:1", "user:2", "user:3", "user:4", "user:5", "a}b", "{x}", "", "users|wb|0"}
	if _, err := q.Add(ctx, keys); err != nil {
		t.Fatal(err)
	}
	var found []string
	for i, sk := range q.Keys() {
		if strings.HasSuffix(sk, "}") {
			t.Errorf("stream %q ends with '}': DeletePrefix would take it for a value", sk)
		}
		msgs, err := admin.XRange(ctx, sk, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			k, _ := m.Values["k"].(string)
			found = append(found, k)
			if s := redisstore.QueueShard(q, k); s != i {
				t.Errorf("key %q in stream %d, want %d", k, i, s)
			}
		}
	}
	slices.Sort(found)
	want := slices.Clone(keys)
	slices.Sort(want)
	if !slices.Equal(found, want) {
		t.Errorf("the streams hold %q, want %q", found, want)
	}

	s := redisstore.New(client, &redisstore.Options{Prefix: prefix})
	if err := s.Set(ctx, "users:k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Read(ctx, 100); err != nil { // the groups exist
		t.Fatal(err)
	}
	view := s.Namespace("users").(l2.PrefixDeleter)
	if err := view.DeletePrefix(ctx, "", 100, nil); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	if err := s.DeletePrefix(ctx, "", 100, func(keys []string) error {
		deleted = append(deleted, keys...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 0 {
		t.Errorf("the store's DeletePrefix deleted %q after the namespace's", deleted)
	}
	if _, err := s.Get(ctx, "users:k"); !errors.Is(err, l2.ErrMiss) {
		t.Errorf("Get after DeletePrefix: %v, want a miss", err)
	}
	if n, _, err := q.Depth(ctx); err != nil || n != int64(len(keys)) {
		t.Errorf("Depth after DeletePrefix = %d, %v; want %d", n, err, len(keys))
	}
	// The entries handed out before are still the reader's.
	other, err := redisstore.NewQueue(client, &redisstore.QueueOptions{Namespace: "users", Consumer: "b", Prefix: prefix, Shards: 4})
	if err != nil {
		t.Fatal(err)
	}
	if e, err := other.Read(ctx, 100); err != nil || len(e) != 0 {
		t.Errorf("another reader's Read = %+v, %v; want nothing before the claim timeout", e, err)
	}
}

// testQueueDeletedEntry deletes an entry that a reader holds: after the
// claim timeout, another reader gets the others only.
func testQueueDeletedEntry(t *testing.T, client, admin redis.UniversalClient, prefix string) {
	ctx := t.Context()
	opts := redisstore.QueueOptions{Namespace: "del", Consumer: "a", Prefix: prefix, ClaimAfter: queueClaimAfter}
	qa := newQueue(t, client, &opts)
	opts.Consumer = "b"
	qb := newQueue(t, client, &opts)
	if _, err := qa.Add(ctx, []string{"k1", "k2", "k3"}); err != nil {
		t.Fatal(err)
	}
	held, err := qa.Read(ctx, 10)
	if err != nil || len(held) != 3 {
		t.Fatalf("Read = %+v, %v", held, err)
	}
	gone := held[0]
	_, sid, _ := strings.Cut(gone.ID, "/")
	if err := admin.XDel(ctx, qa.Keys()[redisstore.QueueShard(qa, gone.Key)], sid).Err(); err != nil {
		t.Fatal(err)
	}
	var back []l2.QueueEntry
	poll(t, 20*queueClaimAfter+5*time.Second, "the entries left", func() error {
		got, err := qb.Read(ctx, 10)
		if err != nil {
			return err
		}
		back = append(back, got...)
		if len(back) < 2 {
			return fmt.Errorf("%d entries came back", len(back))
		}
		return nil
	})
	for _, e := range back {
		if e.ID == gone.ID || e.Deliveries != 2 {
			t.Errorf("entry %+v came back, want the entries other than %s, delivered twice", e, gone.ID)
		}
	}
	if len(back) != 2 {
		t.Errorf("%d entries came back, want 2: %+v", len(back), back)
	}
	if _, err := qb.Ack(ctx, back); err != nil {
		t.Fatal(err)
	}
	if n, _, err := qb.Depth(ctx); err != nil || n != 0 {
		t.Errorf("Depth = %d, %v; want 0", n, err)
	}
}

// testQueueJunkEntry adds an entry that the queue did not write (no key
// field) to a stream: Read skips it and deletes it.
func testQueueJunkEntry(t *testing.T, client, admin redis.UniversalClient, prefix string) {
	ctx := t.Context()
	q := newQueue(t, client, &redisstore.QueueOptions{Namespace: "junk", Consumer: "a", Prefix: prefix, Shards: 1})
	if err := admin.XAdd(ctx, &redis.XAddArgs{Stream: q.Keys()[0], Values: []any{"x", "y"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Add(ctx, []string{"k"}); err != nil {
		t.Fatal(err)
	}
	got, err := q.Read(ctx, 10)
	if err != nil || len(got) != 1 || got[0].Key != "k" {
		t.Fatalf("Read = %+v, %v; want k only", got, err)
	}
	if n, _, err := q.Depth(ctx); err != nil || n != 1 {
		t.Errorf("Depth = %d, %v; want 1 (the junk deleted)", n, err)
	}
}

// testQueueGroupRecreated deletes the streams (and their group) under a
// reader: it creates the group again and reads the entries added since, by
// its second Read at the latest.
func testQueueGroupRecreated(t *testing.T, client, admin redis.UniversalClient, prefix string) {
	ctx := t.Context()
	q := newQueue(t, client, &redisstore.QueueOptions{Namespace: "regroup", Consumer: "a", Prefix: prefix, Shards: 4})
	if _, err := q.Read(ctx, 10); err != nil { // creates the groups
		t.Fatal(err)
	}
	for _, k := range q.Keys() {
		if err := admin.Del(ctx, k).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Add(ctx, []string{"k"}); err != nil {
		t.Fatal(err)
	}
	var got []l2.QueueEntry
	for i := 0; i < 2 && len(got) == 0; i++ {
		var err error
		if got, err = q.Read(ctx, 10); err != nil {
			t.Logf("Read %d: %v", i+1, err)
		}
	}
	if len(got) != 1 || got[0].Key != "k" || got[0].Deliveries != 1 {
		t.Errorf("Reads = %+v, want k", got)
	}
}

// TestQueueRoundTrips counts the round trips and commands of each method
// on one node.
func TestQueueRoundTrips(t *testing.T) {
	t.Parallel()
	client := miniClient(newMiniClient, 1)(t)
	hook := &counter{}
	client.AddHook(hook)
	ctx := t.Context()
	q := newQueue(t, client, &redisstore.QueueOptions{Namespace: "rt", Consumer: "a", ClaimAfter: time.Minute})
	shards := len(q.Keys())

	check := func(t *testing.T, wantSingle []string, wantPipes ...map[string]int) {
		t.Helper()
		single, pipes := hook.take()
		if !slices.Equal(single, wantSingle) || len(pipes) != len(wantPipes) {
			t.Fatalf("sent %q alone and pipelines %q; want %q and %v", single, pipes, wantSingle, wantPipes)
		}
		for i, p := range pipes {
			for name, n := range wantPipes[i] {
				if count(p, name) != n {
					t.Errorf("pipeline %d: %d %s of %d commands, want %d", i, count(p, name), name, len(p), n)
				}
			}
			if len(p) != sum(wantPipes[i]) {
				t.Errorf("pipeline %d: commands %q, want %v", i, distinct(p), wantPipes[i])
			}
		}
	}

	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
	}
	if _, err := q.Add(ctx, keys); err != nil {
		t.Fatal(err)
	}
	check(t, nil, map[string]int{"xadd": 100})

	if _, err := q.Add(ctx, keys[:1]); err != nil {
		t.Fatal(err)
	}
	check(t, []string{"xadd"})

	got, err := q.Read(ctx, 1000)
	if err != nil || len(got) != 101 {
		t.Fatalf("Read = %d entries, %v", len(got), err)
	}
	check(t, nil, map[string]int{"xgroup": shards}, map[string]int{"xautoclaim": shards}, map[string]int{"xreadgroup": shards})

	if got, err := q.Read(ctx, 1000); err != nil || len(got) != 0 {
		t.Fatalf("Read = %+v, %v", got, err)
	}
	check(t, nil, map[string]int{"xreadgroup": shards}) // no look for stale entries before ClaimAfter/4

	if _, err := q.Ack(ctx, got); err != nil {
		t.Fatal(err)
	}
	used := make(map[int]bool)
	for _, e := range got {
		used[redisstore.QueueShard(q, e.Key)] = true
	}
	check(t, nil, map[string]int{"xack": len(got), "xdel": len(used)}) // an XACK per entry: its reply says whether this call acknowledged it

	if n, _, err := q.Depth(ctx); err != nil || n != 0 {
		t.Fatalf("Depth = %d, %v", n, err)
	}
	check(t, nil, map[string]int{"xlen": shards, "xrange": shards})

	if _, err := q.Ack(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := q.Read(ctx, 0); err != nil || got != nil {
		t.Fatalf("Read(0) = %+v, %v", got, err)
	}
	if seqs, err := q.Add(ctx, nil); err != nil || len(seqs) != 0 {
		t.Fatalf("Add(nil) = %v, %v", seqs, err)
	}
	check(t, nil)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestQueueSeq checks the sequence numbers against the stream IDs.
func TestQueueSeq(t *testing.T) {
	t.Parallel()
	client := miniClient(newMiniClient, 1)(t)
	ctx := t.Context()
	q := newQueue(t, client, &redisstore.QueueOptions{Namespace: "seq", Consumer: "a", Shards: 1})
	seqs, err := q.Add(ctx, []string{"k", "k", "k"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := q.Read(ctx, 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("Read = %+v, %v", got, err)
	}
	for i, e := range got {
		var shard int
		var ms, n uint64
		if _, err := fmt.Sscanf(e.ID, "%d/%d-%d", &shard, &ms, &n); err != nil || shard != 0 {
			t.Fatalf("ID %q: %v", e.ID, err)
		}
		if want := ms<<20 | n; e.Seq != want || seqs[i] != want {
			t.Errorf("entry %s: Seq %d, Add's %d; want %d", e.ID, e.Seq, seqs[i], want)
		}
		if !e.Added.Equal(time.UnixMilli(int64(ms))) {
			t.Errorf("entry %s: Added %v, want %v", e.ID, e.Added, time.UnixMilli(int64(ms)))
		}
	}
}

// TestQueueClosedClient uses a queue after its client was closed.
func TestQueueClosedClient(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	q := newQueue(t, client, &redisstore.QueueOptions{Namespace: "closed", Consumer: "a"})
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, l2.ErrClosed) || !strings.HasPrefix(err.Error(), "redisstore: queue: "+op+": ") {
			t.Errorf("%s: %v, want redisstore: queue: %s: ... wrapping l2.ErrClosed", op, err, op)
		}
	}
	_, err := q.Add(ctx, []string{"k"})
	check("add", err)
	_, err = q.Add(ctx, []string{"k", "k2"})
	check("add", err)
	_, err = q.Read(ctx, 10)
	check("read", err)
	_, err = q.Ack(ctx, []l2.QueueEntry{{ID: "0/1-0", Key: "k"}})
	check("ack", err)
	_, _, err = q.Depth(ctx)
	check("depth", err)
}
