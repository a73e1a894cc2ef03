package l2test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
)

// queuePoll is how often the suite reads a queue on the real clock while it
// waits for entries to come back.
const queuePoll = 10 * time.Millisecond

// claimDeadline is how long, at most, the suite waits on the real clock for
// entries to come back after b's claim timeout.
func claimDeadline(b QueueBackend) time.Duration {
	return 20*b.ClaimAfter + 5*time.Second
}

func mustQueueAdd(t *testing.T, q l2.Queue, keys ...string) []uint64 {
	t.Helper()
	seqs, err := q.Add(t.Context(), keys)
	if err != nil {
		t.Fatalf("Add(%d keys): %v", len(keys), err)
	}
	if len(seqs) != len(keys) {
		t.Fatalf("Add(%d keys) returned %d sequence numbers", len(keys), len(seqs))
	}
	return seqs
}

func mustQueueRead(t *testing.T, q l2.Queue, n int) []l2.QueueEntry {
	t.Helper()
	entries, err := q.Read(t.Context(), n)
	if err != nil {
		t.Fatalf("Read(%d): %v", n, err)
	}
	if len(entries) > n && n >= 0 {
		t.Fatalf("Read(%d) returned %d entries", n, len(entries))
	}
	return entries
}

// mustQueueAck acknowledges entries and returns how many this call removed.
func mustQueueAck(t *testing.T, q l2.Queue, entries ...l2.QueueEntry) int {
	t.Helper()
	acked, err := q.Ack(t.Context(), entries)
	if err != nil {
		t.Fatalf("Ack(%d entries): %v", len(entries), err)
	}
	if len(acked) != len(entries) {
		t.Fatalf("Ack(%d entries) reported %d", len(entries), len(acked))
	}
	n := 0
	for _, a := range acked {
		if a {
			n++
		}
	}
	return n
}

// wantQueueDepth checks that Depth reports n entries and, when n > 0, oldest
// as the time of the oldest (the zero Time when n is 0).
func wantQueueDepth(t *testing.T, q l2.Queue, n int64, oldest time.Time) {
	t.Helper()
	gotN, gotOldest, err := q.Depth(t.Context())
	if err != nil {
		t.Fatalf("Depth: %v", err)
	}
	if gotN != n || !gotOldest.Equal(oldest) || gotOldest.IsZero() != oldest.IsZero() {
		t.Errorf("Depth = %d, %v; want %d, %v", gotN, gotOldest, n, oldest)
	}
}

// entryKeys returns the keys of entries, sorted.
func entryKeys(entries []l2.QueueEntry) []string {
	keys := make([]string, len(entries))
	for i, e := range entries {
		keys[i] = e.Key
	}
	slices.Sort(keys)
	return keys
}

// wantEntryKeys checks that entries hold the keys want, in any order.
func wantEntryKeys(t *testing.T, what string, entries []l2.QueueEntry, want ...string) {
	t.Helper()
	want = slices.Clone(want)
	slices.Sort(want)
	if got := entryKeys(entries); !slices.Equal(got, want) {
		t.Errorf("%s: keys %q, want %q", what, shortKeys(got), shortKeys(want))
	}
}

// shortKeys shortens long keys for messages.
func shortKeys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		if len(k) > 40 {
			k = k[:20] + "..." + k[len(k)-10:]
		}
		out[i] = k
	}
	return out
}

// entriesByKey returns entries by key; it fails t when a key occurs twice.
func entriesByKey(t *testing.T, entries []l2.QueueEntry) map[string]l2.QueueEntry {
	t.Helper()
	m := make(map[string]l2.QueueEntry, len(entries))
	for _, e := range entries {
		if _, dup := m[e.Key]; dup {
			t.Fatalf("key %q handed out twice in %+v", e.Key, entries)
		}
		m[e.Key] = e
	}
	return m
}

// readEarly reads q, which must hand out nothing: since, taken before the
// Read that handed the queue's entries out last, is less than the claim
// timeout ago. With b.Advance it first advances a quarter of ClaimAfter
// (the callers call it at most twice between a Read and the claim
// timeout). On the real clock, when the claim timeout has passed by the
// time Read returns, an entry may be handed out: the test cannot go on,
// and skips (the machine is too slow for b.ClaimAfter).
func readEarly(t *testing.T, b QueueBackend, q l2.Queue, since time.Time, what string) {
	t.Helper()
	if b.Advance != nil {
		b.Advance(b.ClaimAfter / 4)
	}
	got := mustQueueRead(t, q, 100)
	if len(got) == 0 {
		return
	}
	if b.Advance == nil && time.Since(since) >= b.ClaimAfter-5*time.Millisecond {
		t.Skipf("%s: the claim timeout (%v) passed before the test could check it (the machine is too slow)", what, b.ClaimAfter)
	}
	t.Fatalf("%s: Read before the claim timeout handed out %+v", what, got)
}

// reclaimed makes the claim timeout pass and returns the n entries that q
// hands out then, with since, a time before any of them was handed out:
// with b.Advance it advances ClaimAfter and reads once; on the real clock it
// reads every few milliseconds until it has n entries, and fails t after a
// deadline. It fails t when q hands out more than n.
func reclaimed(t *testing.T, b QueueBackend, q l2.Queue, n int) (entries []l2.QueueEntry, since time.Time) {
	t.Helper()
	if b.Advance != nil {
		b.Advance(b.ClaimAfter)
		since = time.Now()
		entries = mustQueueRead(t, q, n+10)
	} else {
		deadline := time.Now().Add(claimDeadline(b))
		tick := time.NewTicker(queuePoll)
		defer tick.Stop()
		for len(entries) < n {
			start := time.Now()
			got := mustQueueRead(t, q, n+10-len(entries))
			if len(got) > 0 && len(entries) == 0 {
				since = start
			}
			entries = append(entries, got...)
			if len(entries) >= n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %v, %d entries came back of %d", claimDeadline(b), len(entries), n)
			}
			<-tick.C
		}
	}
	if len(entries) != n {
		t.Fatalf("after the claim timeout, Read handed out %d entries, want %d: %+v", len(entries), n, entries)
	}
	return entries, since
}

// queueQuiet checks that q hands out nothing during two claim timeouts.
func queueQuiet(t *testing.T, b QueueBackend, q l2.Queue, what string) {
	t.Helper()
	if b.Advance != nil {
		for range 3 {
			if got := mustQueueRead(t, q, 100); len(got) > 0 {
				t.Fatalf("%s: Read handed out %+v", what, got)
			}
			b.Advance(b.ClaimAfter)
		}
		return
	}
	end := time.Now().Add(2*b.ClaimAfter + 50*time.Millisecond)
	tick := time.NewTicker(queuePoll)
	defer tick.Stop()
	for time.Now().Before(end) {
		if got := mustQueueRead(t, q, 100); len(got) > 0 {
			t.Fatalf("%s: Read handed out %+v", what, got)
		}
		<-tick.C
	}
}

// wantSameEntry checks that got is the entry want, handed out for the
// deliveries-th time.
func wantSameEntry(t *testing.T, got, want l2.QueueEntry, deliveries int64) {
	t.Helper()
	want.Deliveries = deliveries
	if got.ID != want.ID || got.Key != want.Key || got.Seq != want.Seq || !got.Added.Equal(want.Added) ||
		got.Deliveries != want.Deliveries {
		t.Errorf("entry %+v, want %+v", got, want)
	}
}

// wantDistinctIDs fails t when two entries share an ID.
func wantDistinctIDs(t *testing.T, entries []l2.QueueEntry) {
	t.Helper()
	seen := make(map[string]string, len(entries))
	for _, e := range entries {
		if k, dup := seen[e.ID]; dup {
			t.Errorf("ID %q of key %q also names an entry of key %q", e.ID, e.Key, k)
		}
		seen[e.ID] = e.Key
	}
}

// queueKeys returns n keys named after prefix.
func queueKeys(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return keys
}
