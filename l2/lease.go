package l2

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"time"
)

// Token names the holder of a lease: 16 random bytes. It is a type of its
// own so that it cannot be passed where a value is expected. Make one with
// NewToken for each load, or one for a process that loads each key once at
// a time (the tiered cache's reads share one): the zero Token is not a
// valid token (every caller that forgot NewToken would be the same
// holder).
type Token [16]byte

// NewToken returns a random token, never the zero Token.
func NewToken() Token {
	var t Token
	for t == (Token{}) {
		binary.LittleEndian.PutUint64(t[:8], rand.Uint64())
		binary.LittleEndian.PutUint64(t[8:], rand.Uint64())
	}
	return t
}

// Expect is a key and what the caller last saw it hold.
type Expect struct {
	Key string
	// Old is what the key must hold; nil: nothing.
	Old []byte
}

// Leaser is implemented by a Store that keeps leases: for each key, at most
// one token at a time, living a short while, that names the caller loading
// the key's value (after Facebook's memcache leases). The tiered cache uses
// them so that, of all the instances that miss a key at once, one loads it
// and the others wait for its value.
//
// A lease lives beside its key (on the same shard) and never in place of
// the value: an expired value stays readable while its lease is held. A
// Leaser writes conditionally too, since a lease is only as good as the
// compare that guards its holder's write.
//
// A Leaser remembers whether somebody was refused a lease while token held
// it ("waited"), and says so when the holder stores or releases: the holder
// then tells the waiters (the tiered cache publishes the keys on its bus),
// so that they need not poll until their next turn. The mark lives with the
// lease: it survives the holder being granted the lease again, and goes
// when the lease ends (stored, released, revoked or expired). Revoke does
// not report it: its caller announces the keys anyway.
type Leaser interface {
	Conditional

	// Lease asks for the lease of each key of keys for token, living ttl:
	// granted if the key still holds Old and no other token holds the
	// lease (a token that holds it gets it again, for ttl from now, its
	// waited mark kept). It returns one answer per key, in order:
	// LeaseChanged with what the key holds now when it no longer holds Old
	// (whoever holds the lease; nothing is marked), else LeaseHeld when
	// another token holds the lease (which is then marked waited), else
	// LeaseGranted. Each key is atomic on its own; the batch is not. On
	// error the result may be nil and some leases may have been granted or
	// marked.
	Lease(ctx context.Context, token Token, ttl time.Duration, keys []Expect) ([]LeaseAnswer, error)

	// SetLeased stores each item if its key still holds item.Old and its
	// lease is held by token or by nobody (it expired), and ends token's
	// lease either way. A lease taken meanwhile by another token is left
	// alone and the item is not stored: that holder writes. It returns one
	// result per item, in order. On error the result may be nil and some
	// items may have been stored.
	SetLeased(ctx context.Context, token Token, items []CondItem) ([]LeaseResult, error)

	// Release ends the lease of each key of keys that token holds, and
	// reports for each whether somebody waited for it.
	Release(ctx context.Context, token Token, keys ...string) (waited []bool, err error)

	// Revoke stores every item (as SetMany does) and ends the lease of its
	// key, whoever holds it, in as few round trips as the backend allows.
	// The tiered cache writes every value and tombstone with it: a load
	// that holds the lease of a key written since can no longer store its
	// older value, and callers waiting for it stop waiting.
	Revoke(ctx context.Context, items []Item) error
}

// LeaseAnswer is the answer of [Leaser.Lease] for one key.
type LeaseAnswer struct {
	State LeaseState
	// Value is what the key holds when State is LeaseChanged (nil:
	// nothing).
	Value []byte
}

// LeaseResult is the outcome of [Leaser.SetLeased] for one item.
type LeaseResult struct {
	// Stored: the item was written.
	Stored bool
	// Waited: somebody was refused the lease while the caller held it.
	Waited bool
}

// LeaseState is the state of a key's lease for a caller of [Leaser.Lease].
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

// LeaseReader is implemented by a Leaser that can read a key and, when the
// key holds no value, take its lease in the same step: a read that misses
// is then also the lease of the load that follows, and a miss costs the
// tiered cache two round trips (this read, then SetLeased) instead of
// three.
//
// GetLease differs from a Lease of the key with Old nil in three ways. A
// lease that another token holds is not marked waited: the caller that
// wants to be told when the holder is done asks Lease. A key that holds a
// value is not leased, whatever that value (Lease would grant it against
// an Old equal to the value). And a Stager may grant the lease of a key
// that has a queued value but no value (one evicted or deleted behind the
// Stager's back): SetLeased then refuses the holder's write, and puts the
// queued value back as the key's value, as Lease would.
//
// While a lease that GetLease granted lives, the key holds no value for
// Get and GetMany, and a SetIf with Old nil may be refused (redisstore
// keeps such a lease in the key itself, as rueidis's client-side caching
// does with its placeholders). Lease, SetLeased, Release, Revoke, Set and
// Delete treat it as any lease of the key.
type LeaseReader interface {
	Leaser

	// GetLease returns the value of key, as Get does, but a nil value and
	// no error where Get returns ErrMiss. When the key holds no value, it
	// grants token the key's lease for ttl (which must be positive) unless
	// another token holds it, and reports whether token holds it now
	// (granted; a token that already held it keeps it, for the rest of
	// its TTL, with its waited mark). A nil value with granted false:
	// another token holds the lease, or the store could not take one (it
	// answered as Get would).
	GetLease(ctx context.Context, key string, token Token, ttl time.Duration) (value []byte, granted bool, err error)
}
