package stats

// Event is one kind of thing a cache counts. New events may be added in
// later versions; a Recorder ignores events it does not know.
type Event uint8

// The events a cache records.
const (
	// L1Hit: a value (or a cached "not found") was served from the
	// in-process tier.
	L1Hit Event = iota
	// L1Miss: the in-process tier had no entry for the key.
	L1Miss
	// L2Hit: a value was read from the remote tier.
	L2Hit
	// L2Miss: the remote tier had no entry for the key.
	L2Miss
	// L2Error: the remote tier failed or timed out (reads and writes).
	L2Error
	// L2Skipped: the remote tier was skipped because it failed recently
	// (the cache waits for a cool-down before it tries again).
	L2Skipped
	// L2Corrupt: a value read from the remote tier could not be decoded
	// (foreign, truncated or corrupt bytes); it was treated as a miss and
	// deleted.
	L2Corrupt
	// LoadSuccess: the loader returned a value. Observed with its duration.
	LoadSuccess
	// LoadNotFound: the loader reported that the key does not exist.
	// Observed with its duration.
	LoadNotFound
	// LoadFailure: the loader returned an error (or panicked). Observed
	// with its duration.
	LoadFailure
	// Published: an invalidation message was handed to the bus and sent.
	// Counted per Publish call (the bus may merge several into one
	// message).
	Published
	// PublishError: publishing an invalidation failed (the bus retries it).
	PublishError
	// Received: an invalidation message from another instance was applied
	// to L1. Added once per message.
	Received
	// ReceivedKeys: keys dropped from L1 because another instance
	// invalidated them. Added with the number of keys of each message.
	ReceivedKeys
	// Skipped: one of this instance's own messages came back and was
	// skipped.
	Skipped
	// Subscribed: the bus's first subscription is in place (L1 was
	// flushed: what it held may have missed messages).
	Subscribed
	// FlushResubscribed: the subscription was lost and re-established; L1
	// was flushed because what was published in between is lost.
	FlushResubscribed
	// FlushGap: a message was missed (a gap in an origin's sequence
	// numbers, or an undecodable message) and L1 was flushed.
	FlushGap
	// FlushRemote: another instance flushed the namespace, or invalidated
	// tags or a prefix, which L1 cannot enumerate: L1 was flushed.
	FlushRemote
	// InvalidationLag: observed for each message received from another
	// instance, from its publication to its application to L1 (across
	// hosts this includes their clock skew).
	InvalidationLag
	// EarlyRefresh: a read found a value close to its expiry and started
	// a background load of it (XFetch, Options.Beta); counted when the
	// load starts, not when a running one is joined.
	EarlyRefresh
	// StaleServed: a read returned a value past its expiry
	// (Options.StaleWhileRevalidate, or Options.StaleIfError after the
	// loader failed).
	StaleServed
	// LeaseGranted: this instance got the L2 lease on a missing key and
	// loaded it.
	LeaseGranted
	// LeaseWaited: another instance held the lease on a missing key; this
	// instance waited for its value instead of loading. Counted once per
	// wait, however many polls it took.
	LeaseWaited
	// LeaseLost: a load under a lease did not store its value, because
	// the key was written or deleted, or the lease taken over, meanwhile
	// (the callers still get the value).
	LeaseLost

	// L2Foreign: a value in the remote tier was written by a cache with
	// another schema (another value type or SchemaVersion, codec or
	// compressor): it was treated as a miss and left alone.
	L2Foreign
	// ValueTooLarge: a value larger than Options.MaxValueSize was served
	// but not cached (a load), or not stored (a Set, which deleted the
	// key instead).
	ValueTooLarge
	// BatchLoadKeys: keys passed to the BatchLoader (added with the number
	// of keys of each call; the calls are LoadSuccess and LoadFailure).
	BatchLoadKeys
	// Unsettled: keys whose write or delete did not reach the remote tier;
	// the cache retries them until they land (added with the number of
	// keys).
	Unsettled
	// Settled: keys whose retried invalidation reached the remote tier
	// (added with the number of keys).
	Settled
	// L2Doubted: a read did not use the remote tier's value of a key
	// whose invalidation has not reached it yet (this instance's, or
	// another's announced as unsettled), and loaded it instead.
	L2Doubted
	// Interrupted: the bus's subscription broke; L1 serves and takes
	// nothing until the subscription is back. It was flushed, unless the
	// bus keeps a log: then it keeps its entries until the bus replayed
	// what it missed (Resumed) or could not (FlushResubscribed).
	Interrupted
	// BusSent: a message of the cache's namespace left this instance's
	// bus (the bus's retries included; several writes may share one).
	BusSent
	// BusSendFailed: a message of the namespace could not be sent; the
	// bus keeps it and sends it again.
	BusSendFailed
	// LeaseWoken: a wait for another instance's lease ended on a message
	// (the holder stored its value or gave up) rather than on a poll.
	LeaseWoken
	// L2KeyFault: an operation failed for one key only (a Redis hash or
	// list under a cache key, a slot that migrates: see l2.ErrKeyFault);
	// the key was taken for a miss, and the failure was not held against
	// the remote tier (no L2Error, no skipped reads).
	L2KeyFault
	// BusRejected: a message on the namespace's channel was dropped
	// unread: it was not authenticated with the bus's key, or was larger
	// than the bus accepts.
	BusRejected
	// FlushCoalesced: a reason to flush L1 (a message that names tags, a
	// prefix or a flush; a gap; an undecodable message) came within the
	// short window after a flush and was folded into one flush at the
	// window's end, L1 serving nothing meanwhile.
	FlushCoalesced
	// LoadAbandoned: a load outlived LoadTimeout (its loader ignored its
	// context): its callers got their error, and its value, if it ever
	// comes, is dropped.
	LoadAbandoned
	// Overloaded: a load waited for one of Options.MaxLoads slots until
	// its deadline and failed (ErrOverloaded), or an early refresh was
	// skipped because every slot was taken.
	Overloaded

	// CDCApplied: database changes whose evictions were applied by a CDC
	// engine (invalidate/cdc), added with the number of changes. Each
	// change counts once: as applied, skipped or dead-lettered.
	CDCApplied
	// CDCSkipped: changes of tables that no rule maps.
	CDCSkipped
	// CDCDeadLetter: changes that could not be decoded or mapped (in
	// whole or in part: what mapped was evicted), handed to the
	// dead-letter hook.
	CDCDeadLetter
	// CDCLag (Observe): from a change's commit in the database to the end
	// of its eviction from every tier.
	CDCLag

	// ThroughStored: a write-through's value went to the cache after the
	// source took it (the key's lease was held from before the source
	// write to the store).
	ThroughStored
	// ThroughInvalidated: a write-through whose key was written, leased or
	// loaded by another caller meanwhile invalidated the key (in every
	// tier and instance) after the source took the write, instead of
	// storing its value: the next read loads what the source holds.
	ThroughInvalidated

	// WriteQueued: writes accepted by WriteBehind or DeleteBehind (added
	// with the number of keys).
	WriteQueued
	// WriteFlushed: accepted writes that this instance's flusher wrote to
	// the source (their queue entry acknowledged with the write of their
	// own value). Every accepted write counts once as WriteFlushed,
	// WriteCoalesced or WriteDeadLetter, in the instance that finished it.
	WriteFlushed
	// WriteCoalesced: accepted writes finished without a source write of
	// their own value: a later write of the key was written in their
	// place, or (durable mode) their value went in a batch that did not
	// hold their queue entry, which was acknowledged afterwards.
	WriteCoalesced
	// WriteBatches: calls of the Writer or BatchWriter by the flusher
	// (retries included); WriteBatchKeys / WriteBatches is the mean batch
	// size.
	WriteBatches
	// WriteBatchKeys: keys passed to those calls.
	WriteBatchKeys
	// WriteRetry: flusher writes of the source that failed and were
	// tried again later.
	WriteRetry
	// WriteDeadLetter: accepted writes handed to the dead-letter hook
	// after their retries ran out (one per key); their keys were
	// invalidated.
	WriteDeadLetter
	// QueueDepth (Gauge): writes accepted and not yet in the source (the
	// queue's entries in durable mode, this instance's keys in memory).
	QueueDepth
	// QueueOldest (Gauge, nanoseconds): the age of the oldest of them.
	QueueOldest

	// L2LateHit: a read that missed L2 was answered from L2 all the
	// same, by a value stored meanwhile: by the load it joined or waited
	// for (another instance's, under a lease), found by its second look.
	// L1Hit + L2Hit + L2LateHit counts the reads a cache tier answered;
	// the others were answered by the loader (or failed).
	L2LateHit

	// SoftTimeout: a read stopped waiting for a load at
	// Options.LoadSoftTimeout and returned a value past its expiry in its
	// place (also counted as StaleServed); the load went on in the
	// background.
	SoftTimeout
	// Throttled: a read returned a value past its expiry without calling
	// the loader, because a load of the key failed (or outlasted the
	// read) within Options.FailSafeThrottle (also counted as StaleServed).
	Throttled

	// ObserveQueued: the consistency observer (Options.Observer) sampled
	// an L1 hit of Get for a check.
	ObserveQueued
	// ObserveChecked: the observer's check of a sampled hit ended (it
	// agreed, could not tell, or disagreed); ObserveQueued minus
	// ObserveChecked is what waits.
	ObserveChecked
	// Disagreed: a sampled L1 hit served a value that L2 (or the source,
	// with ObserverOptions.Source) still contradicted after the grace
	// period: an invalidation was lost, or a write did not reach this
	// instance.
	Disagreed
	// Resumed: the bus's subscription broke and came back, and the bus
	// replayed what was missed meanwhile from its log (redisbus
	// Options.LogLength): L1 kept its entries, less those the replayed
	// messages named (counted in Received and ReceivedKeys).
	Resumed

	numEvents // keep last
)

var eventNames = [numEvents]string{
	L1Hit:        "l1_hit",
	L1Miss:       "l1_miss",
	L2Hit:        "l2_hit",
	L2Miss:       "l2_miss",
	L2Error:      "l2_error",
	L2Skipped:    "l2_skipped",
	L2Corrupt:    "l2_corrupt",
	LoadSuccess:  "load_success",
	LoadNotFound: "load_not_found",
	LoadFailure:  "load_failure",

	Published:         "published",
	PublishError:      "publish_error",
	Received:          "received",
	ReceivedKeys:      "received_keys",
	Skipped:           "skipped",
	Subscribed:        "subscribed",
	FlushResubscribed: "flush_resubscribed",
	FlushGap:          "flush_gap",
	FlushRemote:       "flush_remote",
	InvalidationLag:   "invalidation_lag",

	EarlyRefresh: "early_refresh",
	StaleServed:  "stale_served",
	LeaseGranted: "lease_granted",
	LeaseWaited:  "lease_waited",
	LeaseLost:    "lease_lost",

	L2Foreign:      "l2_foreign",
	ValueTooLarge:  "value_too_large",
	BatchLoadKeys:  "batch_load_keys",
	Unsettled:      "unsettled",
	Settled:        "settled",
	L2Doubted:      "l2_doubted",
	Interrupted:    "interrupted",
	BusSent:        "bus_sent",
	BusSendFailed:  "bus_send_failed",
	LeaseWoken:     "lease_woken",
	L2KeyFault:     "l2_key_fault",
	BusRejected:    "bus_rejected",
	FlushCoalesced: "flush_coalesced",
	LoadAbandoned:  "load_abandoned",
	Overloaded:     "overloaded",
	CDCApplied:     "cdc_applied",
	CDCSkipped:     "cdc_skipped",
	CDCDeadLetter:  "cdc_dead_letter",
	CDCLag:         "cdc_lag",

	ThroughStored:      "through_stored",
	ThroughInvalidated: "through_invalidated",

	WriteQueued:     "write_queued",
	WriteFlushed:    "write_flushed",
	WriteCoalesced:  "write_coalesced",
	WriteBatches:    "write_batches",
	WriteBatchKeys:  "write_batch_keys",
	WriteRetry:      "write_retry",
	WriteDeadLetter: "write_dead_letter",
	QueueDepth:      "queue_depth",
	QueueOldest:     "queue_oldest",

	L2LateHit: "l2_late_hit",

	SoftTimeout: "soft_timeout",
	Throttled:   "throttled",

	ObserveQueued:  "observe_queued",
	ObserveChecked: "observe_checked",
	Disagreed:      "disagreed",
	Resumed:        "resumed",
}

// String returns the event's snake_case name, as used in metric labels.
func (e Event) String() string {
	if e < numEvents {
		return eventNames[e]
	}
	return "unknown"
}

// Events returns every event this version of the package knows, in order.
func Events() []Event {
	out := make([]Event, numEvents)
	for i := range out {
		out[i] = Event(i)
	}
	return out
}
