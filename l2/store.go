package l2

import (
	"context"
	"errors"
	"time"
)

// ErrMiss is returned by [Store.Get] when the key holds no value (never
// written, expired or deleted). Stores translate their backend's "nil"
// answers to it, so callers test it with errors.Is.
var ErrMiss = errors.New("l2: miss")

// ErrClosed is returned by a Store used after its Close.
var ErrClosed = errors.New("l2: store closed")

// Item is one value to write with [Store.SetMany].
type Item struct {
	Key   string
	Value []byte
	// TTL is how long the value lives; it must be positive.
	TTL time.Duration
}

// Store is the remote tier: opaque values under string keys.
//
// Keys are given in their logical form ("user:42"); a Store may add its own
// prefix or framing (redisstore wraps every key in a Redis Cluster hash tag),
// and keeps every key it derives from one key (a lease, for example) on the
// same shard.
//
// Returned byte slices belong to the caller. Values passed in must not be
// modified by the caller until the call returns. Implementations are safe for
// concurrent use.
type Store interface {
	// Get returns the value stored under key, or ErrMiss.
	Get(ctx context.Context, key string) ([]byte, error)

	// GetMany returns one slot per key, in the order of keys: the value, or
	// nil where the key holds none. A Store answers it in as few round trips
	// as its backend allows (one per shard for Redis Cluster). An error means
	// that no result can be trusted.
	GetMany(ctx context.Context, keys []string) ([][]byte, error)

	// Set stores value under key for ttl (which must be positive).
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error

	// SetMany stores every item, in as few round trips as the backend allows.
	// On error some items may have been written.
	SetMany(ctx context.Context, items []Item) error

	// Delete removes the keys. Deleting an absent key is not an error.
	Delete(ctx context.Context, keys ...string) error

	// Abilities declares the optional interfaces the Store implements
	// (see [Ability]); [Check] verifies the declaration. A Store that
	// wraps another one must declare only what it implements itself: by
	// embedding the inner Store it inherits its Abilities but not its
	// optional methods, and Check reports that.
	Abilities() Ability
}

// Namespacer is implemented by a Store that can put a namespace in front of
// every key itself, in the same allocation as its own framing of the key.
// The tiered cache uses it when the Store offers it, and otherwise prefixes
// keys itself; the stored keys are the same either way.
type Namespacer interface {
	// Namespace returns a view of the store in which key k is the key
	// ns + ":" + k of the store. The view shares the store's connections
	// and state, and has the store's abilities. ns must not contain '{'
	// or '}'.
	Namespace(ns string) Store
}
