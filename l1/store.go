package l1

import "time"

// Store is a bounded in-process key/value store. Implementations are safe for
// concurrent use.
//
// A value handed to Set is returned as is by later Gets, to every caller:
// callers treat it as read-only.
type Store interface {
	// Get returns the value stored under key and true, or nil and false when
	// the key is absent or expired.
	Get(key string) (any, bool)

	// Set stores value under key with the given cost (in the store's cost
	// unit, bytes by convention) for ttl (0 means no expiry). It may apply
	// the write asynchronously (see Wait) and may refuse it (admission
	// policy, full buffers): it returns false when the value was dropped.
	// Set of a key that is already stored replaces it at once. A Set of a
	// key whose earlier Set is still buffered may be dropped after Set
	// returned true (ristretto's policy takes it for a duplicate): a
	// caller that must know which value won checks with Get after Wait.
	Set(key string, value any, cost int64, ttl time.Duration) bool

	// Wait blocks until every Set made before it is visible to Get (or was
	// refused).
	Wait()

	// Delete removes key at once.
	Delete(key string)

	// Clear removes every key.
	Clear()

	// Close releases the store's goroutines. It is idempotent; a closed
	// store misses on every Get and ignores writes.
	Close()
}

// Synchronous is implemented by a [Store] whose Set is applied before it
// returns: the next Get sees the value (unless the store evicted it since)
// and Wait returns at once. A cache that writes to such a store needs
// neither Wait nor a Get to learn which of two concurrent Sets won: the one
// that returned last did.
type Synchronous interface {
	Store
	// Synchronous reports whether the store's Sets are applied at once.
	Synchronous() bool
}
