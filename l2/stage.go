package l2

import (
	"context"
	"time"
)

// StageMemory is how long, at least, a [Stager] remembers the sequence
// number of a key's queued value after Unstage removed it, so that a Stage
// of an older sequence number that arrives late is still refused.
const StageMemory = 10 * time.Minute

// Stager is implemented by a Leaser that keeps write-behind's queued
// values: for each key with a write accepted by the cache and not yet in
// the source of truth, the newest such value and its sequence number,
// beside the key (on the same shard), without expiry, and apart from the
// key's value, so that it outlives the value's eviction, expiry or
// deletion. The tiered cache uses it so that no instance loads a key from
// the source (whose row is older) while a write of the key is queued.
//
// While a key has a queued value, Lease never grants the key's lease: it
// answers LeaseChanged with the queued value, after putting the queued
// value back as the key's value (without expiry) when the key holds
// something else. Conditional writes (SetIf, SetLeased) compare with the
// key's value as usual.
//
// A queued value can be claimed by one token at a time for a while (a
// flush of it to the source is under way), so that two flushers never
// write one key to the source at once.
type Stager interface {
	Leaser

	// Stage stores, for each item, item.Value as the key's queued value
	// with sequence number item.Seq, unless the key has a queued value
	// with a sequence number >= item.Seq, or remembers having had one (see
	// StageMemory): a later write is queued, and nothing changes. A Seq of
	// 0 is never refused: it takes the key's sequence number (queued or
	// remembered) + 1, or 1. A stored value also becomes the key's value,
	// without expiry, and ends the key's lease, whoever holds it (as
	// Revoke). It returns per item the sequence number stored, 0 for a
	// refused item. Each item is atomic on its own; the batch is not.
	Stage(ctx context.Context, items []StageItem) ([]uint64, error)

	// Claim returns, for each key, its queued value and sequence number
	// (Value nil when none is queued; Seq is then the remembered one, or
	// 0), and claims each key that has a queued value for token for ttl,
	// unless another token's claim on it is live (Busy; nothing changes).
	// A token's own live claim is renewed.
	Claim(ctx context.Context, token Token, ttl time.Duration, keys []string) ([]Staged, error)

	// Unstage removes, for each item, the key's queued value if its
	// sequence number is still item.Seq (it is in the source now),
	// remembering the sequence number (see StageMemory); when the key's
	// value is then still the queued value (the same bytes), it gets
	// expiry item.TTL, as any value. It ends token's claim on each key
	// either way.
	Unstage(ctx context.Context, token Token, items []UnstageItem) error
}

// StageItem is one value to queue for a key: see [Stager.Stage].
type StageItem struct {
	Key   string
	Value []byte
	Seq   uint64 // 0: the key's next
}

// Staged is what [Stager.Claim] found for one key.
type Staged struct {
	// Value is the key's queued value; nil: none.
	Value []byte
	// Seq is its sequence number (when Value is nil: the last one the key
	// remembers, or 0).
	Seq uint64
	// Busy: another token's claim on the key is live; the caller did not
	// get it.
	Busy bool
}

// UnstageItem ends a key's queued value: see [Stager.Unstage].
type UnstageItem struct {
	Key string
	// Seq is the sequence number of the queued value to end. 0 matches
	// none: the item only ends the caller's claim.
	Seq uint64
	// TTL is the life the key's value gets when it is still the queued
	// value; 0 or less deletes it (the value never reached the source).
	TTL time.Duration
}
