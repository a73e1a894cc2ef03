package l2test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
)

func testQueueRoundTrip(t *testing.T, b QueueBackend) {
	q := b.Queue(t, "ns", "a")
	if seqs := mustQueueAdd(t, q); len(seqs) != 0 {
		t.Errorf("Add() = %v, want no sequence numbers", seqs)
	}
	wantQueueDepth(t, q, 0, time.Time{})
	if got := mustQueueRead(t, q, 10); len(got) != 0 {
		t.Fatalf("Read of an empty queue = %+v", got)
	}

	keys := []string{"user:1", "user:2", "user:3"}
	seqs := mustQueueAdd(t, q, keys...)
	since := time.Now()
	got := mustQueueRead(t, q, 10)
	wantEntryKeys(t, "Read", got, keys...)
	wantDistinctIDs(t, got)
	m := entriesByKey(t, got)
	for i, k := range keys {
		e := m[k]
		if e.ID == "" || e.Seq == 0 || e.Seq != seqs[i] || e.Added.IsZero() || e.Deliveries != 1 {
			t.Errorf("entry of %q = %+v; want an ID, Seq %d (Add's, not 0), an Added time and Deliveries 1", k, e, seqs[i])
		}
	}
	readEarly(t, b, q, since, "a second Read")
	if n, _, err := q.Depth(t.Context()); err != nil || n != 3 {
		t.Errorf("Depth of 3 entries handed out = %d, %v; want 3", n, err)
	}

	if n := mustQueueAck(t, q, got...); n != len(got) {
		t.Errorf("Ack of %d entries handed out removed %d", len(got), n)
	}
	wantQueueDepth(t, q, 0, time.Time{})
	if n := mustQueueAck(t, q, got...); n != 0 { // twice: nothing left to remove
		t.Errorf("a second Ack of the same entries removed %d", n)
	}
	mustQueueAck(t, q)
	if got := mustQueueRead(t, q, 0); len(got) != 0 {
		t.Errorf("Read(0) = %+v, want nothing", got)
	}
	queueQuiet(t, b, q, "after Ack")
}

// testQueueKeys adds keys that a queue would confuse if it framed them
// naively, and the same key several times.
func testQueueKeys(t *testing.T, b QueueBackend) {
	q := b.Queue(t, "ns", "a")
	keys := []string{
		"", "a", "a}b", "{a}", "{", "}", "a|wb|1", "{tc:ns|wb|0}:queue", "k\x00\xff\r\n", "ключ:é",
		strings.Repeat("k", 4096), "dup", "dup", "dup",
	}
	seqs := mustQueueAdd(t, q, keys...)
	got := mustQueueRead(t, q, 100)
	wantEntryKeys(t, "Read", got, keys...)
	wantDistinctIDs(t, got)
	want := make(map[string][]uint64)
	for i, k := range keys {
		want[k] = append(want[k], seqs[i])
	}
	have := make(map[string][]uint64)
	for _, e := range got {
		have[e.Key] = append(have[e.Key], e.Seq)
	}
	for k, w := range want {
		h := have[k]
		slices.Sort(h)
		if !slices.Equal(h, w) {
			t.Errorf("key %q: entries of sequence numbers %v, want %v (Add's, in order)", shortKeys([]string{k}), h, w)
		}
	}
	mustQueueAck(t, q, got...)
	wantQueueDepth(t, q, 0, time.Time{})
}

// testQueueSeqPerKey adds one key many times through two writers and reads
// it through two readers: each Add gives a larger sequence number than the
// one before, and Read reports the sequence numbers Add gave.
func testQueueSeqPerKey(t *testing.T, b QueueBackend) {
	w := []l2.Queue{b.Queue(t, "ns", "a"), b.Queue(t, "ns", "b")}
	var hot []uint64 // the sequence numbers of "hot", in the order added
	var last uint64
	const rounds = 30
	for i := range rounds {
		seqs := mustQueueAdd(t, w[i%2], "hot", "cold", "hot")
		for _, s := range []uint64{seqs[0], seqs[2]} {
			if s <= last {
				t.Fatalf("round %d: Add gave hot %d after %d", i, s, last)
			}
			last = s
			hot = append(hot, s)
		}
	}

	// Each batch is acknowledged as soon as it is read: on a slow machine
	// the loop can outlast the claim timeout, and the other reader would
	// claim what one of them read and did not acknowledge yet.
	var got []l2.QueueEntry
	for len(got) < 3*rounds {
		n := len(got)
		for i, limit := range []int{7, 5} {
			batch := mustQueueRead(t, w[i], limit)
			mustQueueAck(t, w[i], batch...)
			got = append(got, batch...)
		}
		if len(got) == n {
			break
		}
	}
	if len(got) != 3*rounds {
		t.Fatalf("the readers got %d entries, want %d", len(got), 3*rounds)
	}
	wantDistinctIDs(t, got)
	var read []uint64
	for _, e := range got {
		if e.Key == "hot" {
			read = append(read, e.Seq)
		}
	}
	slices.Sort(read)
	if !slices.Equal(read, hot) {
		t.Errorf("Read's sequence numbers of hot = %v, want Add's %v", read, hot)
	}
	wantQueueDepth(t, w[0], 0, time.Time{})
}

// testQueueClaimTimeout hands an entry to reader a, which does not
// acknowledge it: no reader gets it before the claim timeout, reader b gets
// it after, then a again after b's timeout, and the delivery count follows.
func testQueueClaimTimeout(t *testing.T, b QueueBackend) {
	qa, qb := b.Queue(t, "ns", "a"), b.Queue(t, "ns", "b")
	mustQueueAdd(t, qa, "k")
	since := time.Now()
	got := mustQueueRead(t, qa, 10)
	if len(got) != 1 || got[0].Key != "k" || got[0].Deliveries != 1 {
		t.Fatalf("Read = %+v, want k, delivered once", got)
	}
	first := got[0]
	readEarly(t, b, qb, since, "another reader")
	readEarly(t, b, qa, since, "its own reader")

	back, since := reclaimed(t, b, qb, 1)
	wantSameEntry(t, back[0], first, 2)
	readEarly(t, b, qa, since, "the first reader, once another claimed the entry")

	again, _ := reclaimed(t, b, qa, 1)
	wantSameEntry(t, again[0], first, 3)
	wantQueueDepth(t, qb, 1, first.Added)

	mustQueueAck(t, qa, again[0])
	wantQueueDepth(t, qb, 0, time.Time{})
	queueQuiet(t, b, qb, "after Ack")
}

// testQueueDeadReader hands entries to a reader that dies: another takes
// them all over after the claim timeout.
func testQueueDeadReader(t *testing.T, b QueueBackend) {
	dead, live := b.Queue(t, "ns", "dead"), b.Queue(t, "ns", "live")
	keys := []string{"k1", "k2", "k3", "k4"}
	mustQueueAdd(t, dead, keys...)
	held := mustQueueRead(t, dead, 3)
	if len(held) != 3 {
		t.Fatalf("Read(3) = %+v, want 3 entries", held)
	}
	rest := mustQueueRead(t, live, 10)
	if len(rest) != 1 || rest[0].Deliveries != 1 {
		t.Fatalf("the live reader's Read = %+v, want the entry the dead one did not get", rest)
	}
	wantEntryKeys(t, "both readers", append(slices.Clone(held), rest...), keys...)
	mustQueueAck(t, live, rest...)

	back, _ := reclaimed(t, b, live, 3)
	m := entriesByKey(t, back)
	for _, e := range held {
		wantSameEntry(t, m[e.Key], e, 2)
	}
	mustQueueAck(t, live, back...)
	wantQueueDepth(t, live, 0, time.Time{})
}

// testQueueAckedNeverReturn acknowledges some of the entries read: only
// the others come back.
func testQueueAckedNeverReturn(t *testing.T, b QueueBackend) {
	q := b.Queue(t, "ns", "a")
	mustQueueAdd(t, q, queueKeys("k", 5)...)
	got := mustQueueRead(t, q, 10)
	if len(got) != 5 {
		t.Fatalf("Read = %+v, want 5 entries", got)
	}
	mustQueueAck(t, q, got[:3]...)
	back, _ := reclaimed(t, b, q, 2)
	m := entriesByKey(t, back)
	for _, e := range got[3:] {
		wantSameEntry(t, m[e.Key], e, 2)
	}
	mustQueueAck(t, q, back...)
	queueQuiet(t, b, q, "after every Ack")
	wantQueueDepth(t, q, 0, time.Time{})
}

// testQueueDepth follows Depth through Adds, a Read and Acks.
func testQueueDepth(t *testing.T, b QueueBackend) {
	q := b.Queue(t, "ns", "a")
	wantQueueDepth(t, q, 0, time.Time{})
	for _, k := range []string{"a", "b", "c"} {
		mustQueueAdd(t, q, k)
		if b.Advance != nil {
			b.Advance(time.Second)
		}
	}
	if n, oldest, err := q.Depth(t.Context()); err != nil || n != 3 || oldest.IsZero() {
		t.Fatalf("Depth = %d, %v, %v; want 3 and a time", n, oldest, err)
	}
	m := entriesByKey(t, mustQueueRead(t, q, 10))
	ea, eb, ec := m["a"], m["b"], m["c"]
	if eb.Added.Before(ea.Added) || ec.Added.Before(eb.Added) {
		t.Errorf("Added goes back in time: a %v, b %v, c %v", ea.Added, eb.Added, ec.Added)
	}
	if b.Advance != nil && (!ea.Added.Before(eb.Added) || !eb.Added.Before(ec.Added)) {
		t.Errorf("entries added a second apart: a %v, b %v, c %v", ea.Added, eb.Added, ec.Added)
	}
	wantQueueDepth(t, q, 3, ea.Added) // handed out, not acknowledged
	mustQueueAck(t, q, ea)
	wantQueueDepth(t, q, 2, eb.Added)
	mustQueueAck(t, q, ec)
	wantQueueDepth(t, q, 1, eb.Added)
	mustQueueAck(t, q, eb)
	wantQueueDepth(t, q, 0, time.Time{})
}

// testQueueReadMax reads fewer entries than the queue holds.
func testQueueReadMax(t *testing.T, b QueueBackend) {
	q := b.Queue(t, "ns", "a")
	keys := queueKeys("k", 10)
	mustQueueAdd(t, q, keys...)
	var all []l2.QueueEntry
	for _, r := range []struct{ max, want int }{{1, 1}, {3, 3}, {3, 3}, {10, 3}, {10, 0}} {
		got := mustQueueRead(t, q, r.max)
		if len(got) != r.want {
			t.Fatalf("Read(%d) after %d entries = %d entries, want %d", r.max, len(all), len(got), r.want)
		}
		all = append(all, got...)
	}
	wantEntryKeys(t, "every Read", all, keys...)
	wantDistinctIDs(t, all)
	mustQueueAck(t, q, all...)
	wantQueueDepth(t, q, 0, time.Time{})
}

// testQueueManyKeys adds 1000 keys in batches and reads them back in
// batches.
func testQueueManyKeys(t *testing.T, b QueueBackend) {
	q := b.Queue(t, "ns", "a")
	keys := queueKeys("key:", 1000)
	for i := 0; i < len(keys); i += 250 {
		mustQueueAdd(t, q, keys[i:i+250]...)
	}
	wantQueueLen(t, q, 1000)
	var all []l2.QueueEntry
	for {
		got := mustQueueRead(t, q, 128)
		if len(got) == 0 {
			break
		}
		all = append(all, got...)
		if len(all) > len(keys) {
			t.Fatalf("Read handed out %d entries of %d", len(all), len(keys))
		}
	}
	wantEntryKeys(t, "every Read", all, keys...)
	wantDistinctIDs(t, all)
	wantQueueLen(t, q, 1000)
	for i := 0; i < len(all); i += 300 {
		mustQueueAck(t, q, all[i:min(i+300, len(all))]...)
	}
	wantQueueDepth(t, q, 0, time.Time{})
}

// wantQueueLen checks that Depth reports n entries.
func wantQueueLen(t *testing.T, q l2.Queue, n int64) {
	t.Helper()
	got, oldest, err := q.Depth(t.Context())
	if err != nil || got != n || oldest.IsZero() != (n == 0) {
		t.Errorf("Depth = %d, %v, %v; want %d", got, oldest, err, n)
	}
}

// testQueueNamespaces checks that two namespaces, read by readers of the
// same name, hold their own entries.
func testQueueNamespaces(t *testing.T, b QueueBackend) {
	one, two := b.Queue(t, "one", "a"), b.Queue(t, "two", "a")
	mustQueueAdd(t, one, "k1")
	mustQueueAdd(t, two, "k2", "k3")
	wantQueueLen(t, one, 1)
	wantQueueLen(t, two, 2)
	got1 := mustQueueRead(t, one, 10)
	wantEntryKeys(t, "namespace one", got1, "k1")
	got2 := mustQueueRead(t, two, 10)
	wantEntryKeys(t, "namespace two", got2, "k2", "k3")
	mustQueueAck(t, one, got1...)
	wantQueueLen(t, one, 0)
	wantQueueLen(t, two, 2)
	mustQueueAck(t, two, got2...)
	wantQueueLen(t, two, 0)
}

// testQueueRestart makes a second queue for a reader's name, as an
// instance restarted under the same name would: it goes on with the
// entries never handed out, never sees acknowledged ones, and gets the
// entries its predecessor held by the claim timeout at the latest.
func testQueueRestart(t *testing.T, b QueueBackend) {
	before := b.Queue(t, "ns", "a")
	keys := []string{"k1", "k2", "k3"}
	mustQueueAdd(t, before, keys...)
	got := mustQueueRead(t, before, 2)
	if len(got) != 2 {
		t.Fatalf("Read(2) = %+v", got)
	}
	mustQueueAck(t, before, got[0])
	held := got[1]
	mustQueueAdd(t, before, "k4", "k5")

	after := b.Queue(t, "ns", "a")
	fresh := mustQueueRead(t, after, 10)
	var news []l2.QueueEntry
	for _, e := range fresh {
		switch {
		case e.ID == held.ID:
			// A queue may hand its predecessor's entries back at once.
			wantSameEntry(t, e, held, 2)
			held.ID = ""
		case e.Deliveries != 1:
			t.Errorf("entry %+v: want Deliveries 1", e)
			fallthrough
		default:
			news = append(news, e)
		}
	}
	var wantNew []string
	for _, k := range keys {
		if k != got[0].Key && k != got[1].Key {
			wantNew = append(wantNew, k)
		}
	}
	wantEntryKeys(t, "the restarted reader's first Read", news, append(wantNew, "k4", "k5")...)
	mustQueueAck(t, after, news...)
	if held.ID != "" {
		back, _ := reclaimed(t, b, after, 1)
		wantSameEntry(t, back[0], held, 2)
		mustQueueAck(t, after, back...)
	}
	queueQuiet(t, b, after, "after every Ack")
	wantQueueDepth(t, after, 0, time.Time{})
}

// testQueueConcurrentReaders runs readers and writers at once: every entry
// is handed out, once, unless it comes back after a claim timeout (then
// with Deliveries > 1).
func testQueueConcurrentReaders(t *testing.T, b QueueBackend) {
	const (
		writers, perWriter = 2, 150
		readers            = 4
		total              = writers * perWriter
	)
	ctx, cancel := context.WithTimeout(t.Context(), claimDeadline(b))
	defer cancel()
	var (
		mu   sync.Mutex
		seen = make(map[string]l2.QueueEntry)
		keys = make(map[string]int)
		done = make(chan struct{})
		once sync.Once
		wg   sync.WaitGroup
	)
	for w := range writers {
		q := b.Queue(t, "ns", "writer"+string(rune('a'+w)))
		wg.Go(func() {
			all := queueKeys(string(rune('a'+w))+":", perWriter)
			for i := 0; i < len(all); i += 10 {
				if _, err := q.Add(ctx, all[i:i+10]); err != nil {
					t.Errorf("Add: %v", err)
					return
				}
			}
		})
	}
	for r := range readers {
		q := b.Queue(t, "ns", "reader"+string(rune('a'+r)))
		wg.Go(func() {
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				got, err := q.Read(ctx, 10)
				if err != nil {
					t.Errorf("Read: %v", err)
					return
				}
				mu.Lock()
				for _, e := range got {
					if prev, dup := seen[e.ID]; dup && e.Deliveries <= prev.Deliveries {
						t.Errorf("entry %+v handed out again without a claim timeout, after %+v", e, prev)
					}
					if _, dup := seen[e.ID]; !dup {
						keys[e.Key]++
					}
					seen[e.ID] = e
				}
				finished := len(seen) == total
				mu.Unlock()
				if _, err := q.Ack(ctx, got); err != nil {
					t.Errorf("Ack: %v", err)
					return
				}
				if finished {
					once.Do(func() { close(done) })
				}
				select {
				case <-done:
					return
				case <-ctx.Done():
					mu.Lock()
					t.Errorf("readers got %d entries of %d before the deadline", len(seen), total)
					mu.Unlock()
					return
				case <-tick.C:
				}
			}
		})
	}
	wg.Wait()
	if len(keys) != total {
		t.Errorf("readers got %d keys, want %d", len(keys), total)
	}
	for k, n := range keys {
		if n != 1 {
			t.Errorf("key %q: %d entries, want 1", k, n)
		}
	}
	wantQueueDepth(t, b.Queue(t, "ns", "check"), 0, time.Time{})
}

// testQueueCanceledContext calls every method with a canceled context.
func testQueueCanceledContext(t *testing.T, b QueueBackend) {
	q := b.Queue(t, "ns", "a")
	mustQueueAdd(t, q, "k")
	entries := mustQueueRead(t, q, 10)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := q.Add(ctx, []string{"k2"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Add: %v, want context.Canceled", err)
	}
	if got, err := q.Read(ctx, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("Read = %+v, %v; want context.Canceled", got, err)
	}
	if _, err := q.Ack(ctx, entries); !errors.Is(err, context.Canceled) {
		t.Errorf("Ack: %v, want context.Canceled", err)
	}
	if _, _, err := q.Depth(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Depth: %v, want context.Canceled", err)
	}
	wantQueueLen(t, q, 1)
}
