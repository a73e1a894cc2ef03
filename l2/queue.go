package l2

import (
	"context"
	"time"
)

// Queue holds the keys of write-behind's accepted writes until their
// values are in the source of truth: an entry per write, which says "key K
// has a write queued, with sequence number Seq". The values themselves are
// the keys' queued values in the L2 store (see [Stager]). The tiered cache
// adds an entry before it stages the value, and its flusher reads entries,
// writes the keys' queued values to the source, and acknowledges the
// entries; an entry that a reader did not acknowledge within the queue's
// claim timeout (the reader died, or keeps failing) is handed out again,
// to any reader.
//
// A Queue is made for one namespace and one reader (one instance of the
// cache); several instances share a queue through the backend.
type Queue interface {
	// Add appends an entry per key and returns the sequence number of
	// each: for one key, a later Add gives a larger one. The entries are
	// as durable as the backend once Add returns. On error some entries
	// may have been added.
	Add(ctx context.Context, keys []string) ([]uint64, error)

	// Read returns up to n entries for this reader, without waiting:
	// entries handed out but not acknowledged within the claim timeout
	// first, then new ones. It returns no entry and no error when there
	// is none.
	Read(ctx context.Context, n int) ([]QueueEntry, error)

	// Ack removes entries for good, and reports for each whether this call
	// removed it (false: it was acknowledged already, by this reader or
	// by another that was handed it after the claim timeout). On error the
	// result may be nil and some entries may have been removed.
	Ack(ctx context.Context, entries []QueueEntry) (acked []bool, err error)

	// Depth returns how many entries are not acknowledged yet, and when
	// the oldest of them was added (the zero Time when there is none).
	Depth(ctx context.Context) (n int64, oldest time.Time, err error)
}

// QueueEntry is one entry of a [Queue].
type QueueEntry struct {
	// ID is the queue's own name of the entry.
	ID string
	// Key is the key of the queued write.
	Key string
	// Seq is the entry's sequence number (see Queue.Add).
	Seq uint64
	// Added is when the entry was added.
	Added time.Time
	// Deliveries counts the times Read handed the entry out, this one
	// included: 1 for an entry handed out for the first time. For an
	// entry handed out again, a backend that cannot read the count at
	// that moment (redisstore, when the XPENDING that reads it fails)
	// reports 2: at least 2, never 1.
	Deliveries int64
}
