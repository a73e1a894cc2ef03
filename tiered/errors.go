package tiered

import (
	"errors"

	"github.com/tiercache/tiercache/loader"
)

var (
	// ErrNotFound means the key has no value in the source of truth: a
	// loader returned it (possibly wrapped), or a cached "not found"
	// answer was served (see Options.NotFoundTTL). It is the same error
	// as loader.ErrNotFound, and the first caller gets the loader's own
	// error, which wraps it.
	ErrNotFound = loader.ErrNotFound

	// ErrMiss is returned by Get when the key is in neither tier and the
	// cache has no loader (cache-aside use), and by GetWith with Peek when
	// neither tier holds a fresh value.
	ErrMiss = errors.New("tiered: miss")

	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("tiered: cache closed")

	// ErrInvalidOptions is wrapped by the errors of New.
	ErrInvalidOptions = errors.New("tiered: invalid options")

	// ErrInvalidKey is wrapped by the error of a method given a key longer
	// than MaxKeySize bytes (in the form Options.Key gives).
	ErrInvalidKey = errors.New("tiered: invalid key")

	// ErrValueTooLarge is wrapped by the error of Set and SetMany for a
	// value larger than Options.MaxValueSize: the key was deleted instead.
	ErrValueTooLarge = errors.New("tiered: value too large")

	// ErrUnsettled is wrapped by the error of a write whose L2 part failed
	// while Options.MaxUnsettled keys were already waiting for a retry:
	// this write's keys are not retried, and L2 may keep their older
	// values until they expire. Retry the write.
	ErrUnsettled = errors.New("tiered: too many unsettled invalidations")

	// ErrOverloaded is wrapped by the error of a Get or GetMany whose load
	// waited for one of the Options.MaxLoads slots until LoadTimeout (or
	// its context) ran out: the instance was loading as much as it may.
	ErrOverloaded = errors.New("tiered: too many loads at once")

	// ErrWriteFailed is wrapped, beside the Writer's own error, by the
	// error of a write-through whose Writer failed: the source does not
	// hold the change, and the cache was left as it was. Any other error
	// of a write-through comes after the source took the change (see
	// Cache.WriteThrough).
	ErrWriteFailed = errors.New("tiered: the source did not take the write")

	// ErrIncompatibleStore is wrapped by the error of New when the L2
	// store declares an ability it does not implement (see l2.Check): a
	// wrapper that embeds another store hides its optional methods, and
	// the cache would lose tombstones, leases or tags without it.
	ErrIncompatibleStore = errors.New("tiered: incompatible L2 store")
)
