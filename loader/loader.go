package loader

import (
	"context"
	"errors"
)

// ErrNotFound is what a loader returns when the key does not exist in the
// source of truth. The tiered cache re-exports it as tiered.ErrNotFound.
var ErrNotFound = errors.New("loader: not found")

// Loader loads the value of one key from the source of truth.
type Loader[K comparable, V any] interface {
	// Load returns the value of key, ErrNotFound (possibly wrapped) when
	// the key does not exist, or another error.
	Load(ctx context.Context, key K) (V, error)
}

// Func adapts a function to a Loader.
type Func[K comparable, V any] func(ctx context.Context, key K) (V, error)

// Load calls f(ctx, key).
func (f Func[K, V]) Load(ctx context.Context, key K) (V, error) { return f(ctx, key) }

// BatchLoader loads the values of many keys in one call.
type BatchLoader[K comparable, V any] interface {
	// LoadMany returns the values of the keys that exist. A key missing
	// from the map does not exist (as if its Loader had returned
	// ErrNotFound). An error fails the whole batch.
	LoadMany(ctx context.Context, keys []K) (map[K]V, error)
}

// BatchFunc adapts a function to a BatchLoader.
type BatchFunc[K comparable, V any] func(ctx context.Context, keys []K) (map[K]V, error)

// LoadMany calls f(ctx, keys).
func (f BatchFunc[K, V]) LoadMany(ctx context.Context, keys []K) (map[K]V, error) {
	return f(ctx, keys)
}
