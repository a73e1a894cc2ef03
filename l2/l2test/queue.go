package l2test

import (
	"testing"
	"time"

	"github.com/tiercache/tiercache/l2"
)

// QueueHarness tells [RunQueue] how to make queues.
type QueueHarness struct {
	// New returns a fresh, empty backend for one subtest, and registers
	// its cleanup with t.Cleanup. Backends that share a server (one Redis)
	// are made "empty" with a key prefix of their own.
	New func(t *testing.T) QueueBackend
}

// QueueBackend is where the queues of one subtest live.
type QueueBackend struct {
	// Queue returns the queue of namespace ns as the reader consumer sees
	// it. Every queue of the backend with the same ns shares its entries,
	// as the instances of a cache do; a queue made again with the same
	// consumer is an instance restarted under the same name. It fails t
	// when it cannot make the queue.
	Queue func(t *testing.T, ns, consumer string) l2.Queue

	// ClaimAfter is the claim timeout of the backend's queues: how long an
	// entry handed out and not acknowledged stays with its reader.
	ClaimAfter time.Duration

	// Advance makes d pass on the clock that the backend's claim timeout
	// follows (a fake clock made for this backend). Nil means the real
	// clock: the suite then waits the timeout out by reading, every few
	// milliseconds, until the entries come back or a deadline far beyond
	// ClaimAfter, so ClaimAfter should be short (a few hundred
	// milliseconds). The suite checks that an entry does not come back
	// early only while less than ClaimAfter has passed.
	Advance func(d time.Duration)
}

// RunQueue runs the conformance suite of [l2.Queue] against the queues h
// makes: an Add, Read, Ack round trip, with keys that naive framing would
// confuse; sequence numbers that grow for each key, across writers and
// readers; an entry handed out and not acknowledged coming back to another
// reader (or its own) after the claim timeout and not before, with its
// delivery count, and every entry of a dead reader taken over;
// acknowledged entries never coming back; Depth and its oldest entry
// following Adds and Acks; Read's max; many keys; namespaces apart; a
// reader restarted under the same name; concurrent readers (run it with
// -race); canceled contexts. Its subtests run in parallel, each on its own
// backend. It fails the test at once when h.New is nil.
func RunQueue(t *testing.T, h QueueHarness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("l2test: QueueHarness.New is nil")
	}
	tests := []struct {
		name string
		fn   func(*testing.T, QueueBackend)
	}{
		{"RoundTrip", testQueueRoundTrip},
		{"Keys", testQueueKeys},
		{"SeqPerKey", testQueueSeqPerKey},
		{"ClaimTimeout", testQueueClaimTimeout},
		{"DeadReader", testQueueDeadReader},
		{"AckedNeverReturn", testQueueAckedNeverReturn},
		{"Depth", testQueueDepth},
		{"ReadMax", testQueueReadMax},
		{"ManyKeys", testQueueManyKeys},
		{"Namespaces", testQueueNamespaces},
		{"Restart", testQueueRestart},
		{"ConcurrentReaders", testQueueConcurrentReaders},
		{"CanceledContext", testQueueCanceledContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := h.New(t)
			if b.Queue == nil || b.ClaimAfter <= 0 {
				t.Fatalf("l2test: QueueBackend needs Queue and a positive ClaimAfter, got %+v", b)
			}
			tc.fn(t, b)
		})
	}
}
