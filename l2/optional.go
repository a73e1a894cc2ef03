package l2

import (
	"context"
	"time"
)

// The interfaces below are optional: a Store implements those its backend
// supports, and the tiered cache uses them when present. Each applies to
// the Store it is found on, and to every view returned by Namespace.

// Conditional is implemented by a Store that can write a value only if the
// key still holds what the writer read earlier. The tiered cache uses it so
// that a load that started before a write or delete of its key cannot put
// its older value into L2 after it.
type Conditional interface {
	// SetIf stores value under key for ttl only if key holds exactly old,
	// or holds nothing when old is nil. It reports whether it stored.
	// The comparison and the write are one atomic step.
	SetIf(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error)

	// SetManyIf does SetIf for every item, in as few round trips as the
	// backend allows, and reports for each item whether it stored, in the
	// order of items. Each item is atomic on its own; the batch is not. On
	// error the result may be nil and some items may have been written.
	SetManyIf(ctx context.Context, items []CondItem) (stored []bool, err error)
}

// CondItem is one conditional write of [Conditional.SetManyIf].
type CondItem struct {
	Item
	// Old is what the key must hold for the write to happen; nil: nothing.
	Old []byte
}

// Tagger is implemented by a Store that keeps tag indexes: for each tag,
// the set of keys that were written with it.
//
// Tags live in their own key space: tag "a" and key "a" never collide. In a
// view returned by Namespace, tags are namespaced like keys.
type Tagger interface {
	// Tag adds every key of keys to the index of every tag of tags. The
	// index of a tag then lives at least ttl from now: its lifetime is
	// extended, never shortened, so that it never expires before an entry
	// it lists that was written with a TTL of at most ttl.
	Tag(ctx context.Context, tags, keys []string, ttl time.Duration) error

	// PopTagged removes up to count keys from the index of tag and returns
	// them; it returns none when the index is empty or absent. Removal and
	// return are one atomic step, so that two callers never get the same
	// key, and a key tagged after a pop is found by a later pop.
	PopTagged(ctx context.Context, tag string, count int) ([]string, error)
}

// PrefixDeleter is implemented by a Store that can delete every key that
// starts with a prefix.
type PrefixDeleter interface {
	// DeletePrefix deletes every key that starts with prefix ("" for every
	// key of the store or view), about count at a time, and calls fn with
	// each batch of deleted keys (in the form given to Get) after deleting
	// it; fn's error stops the walk and is returned. Tag indexes are not
	// keys and are left alone. Keys written while DeletePrefix runs may
	// survive it.
	DeletePrefix(ctx context.Context, prefix string, count int, fn func(keys []string) error) error
}

// Leaser is implemented by a Store that keeps leases: for each key, at most
// one token at a time, living a short while, that names the caller loading
// the key's value (after Facebook's memcache leases). The tiered cache uses
// them so that, of all the instances that miss a key at once, one loads it
// and the others wait for its value.
//
// A lease lives beside its key (on the same shard) and never in place of
// the value: an expired value stays readable while its lease is held.
type Leaser interface {
	// Lease gives the lease of key to token for ttl if key still holds
	// old (nothing when old is nil) and no other token holds the lease.
	// When key holds something else, it returns LeaseChanged and what key
	// holds (nil: nothing); otherwise LeaseGranted, or LeaseHeld when
	// another token holds the lease. The checks and the grant are one
	// atomic step.
	Lease(ctx context.Context, key string, old, token []byte, ttl time.Duration) (LeaseState, []byte, error)

	// SetLeased stores value under key for ttl if key still holds old
	// (nothing when old is nil) and the lease of key is held by token or
	// by nobody (it expired), and ends token's lease either way. It
	// reports whether it stored. A lease taken meanwhile by another token
	// is left alone, and the value is not stored: that holder writes.
	SetLeased(ctx context.Context, key string, token, old, value []byte, ttl time.Duration) (bool, error)

	// LeaseMany does Lease for every key of keys, with the same token and
	// ttl, in as few round trips as the backend allows: keys[i] must hold
	// olds[i] (nothing when it is nil; olds has one slot per key). It
	// returns one answer per key, in the order of keys. Each key is atomic
	// on its own; the batch is not. On error the result may be nil and
	// some leases may have been granted.
	LeaseMany(ctx context.Context, token []byte, ttl time.Duration, keys []string, olds [][]byte) ([]LeaseAnswer, error)

	// SetLeasedMany does SetLeased for every item, with the same token, in
	// as few round trips as the backend allows, and reports for each item
	// whether it stored, in the order of items. On error the result may
	// be nil and some items may have been stored.
	SetLeasedMany(ctx context.Context, token []byte, items []CondItem) (stored []bool, err error)

	// Release ends the lease of each key of keys that token holds.
	Release(ctx context.Context, token []byte, keys ...string) error

	// Revoke stores every item (as SetMany does) and ends the lease of its
	// key, whoever holds it, in as few round trips as the backend allows.
	// The tiered cache writes tombstones with it: a load that holds the
	// lease of a deleted key can no longer store its value, and callers
	// waiting for that value stop waiting.
	Revoke(ctx context.Context, items []Item) error
}

// LeaseAnswer is the answer of [Leaser.LeaseMany] for one key: as the
// results of [Leaser.Lease].
type LeaseAnswer struct {
	State LeaseState
	// Value is what the key holds when State is LeaseChanged (nil:
	// nothing).
	Value []byte
}

// LeaseState is the answer of [Leaser.Lease].
type LeaseState uint8

const (
	// LeaseGranted: the caller holds the lease and should load the value.
	LeaseGranted LeaseState = iota + 1
	// LeaseHeld: another caller holds the lease; its value is on the way.
	LeaseHeld
	// LeaseChanged: the key no longer holds what the caller read; the
	// answer carries what it holds now.
	LeaseChanged
)

// String returns the state's name.
func (s LeaseState) String() string {
	switch s {
	case LeaseGranted:
		return "granted"
	case LeaseHeld:
		return "held"
	case LeaseChanged:
		return "changed"
	}
	return "unknown"
}
