package tiered

import "context"

// Change is one key's new state in the source of truth: a value, or the
// key's deletion.
type Change[K comparable, V any] struct {
	Key   K
	Value V // the new value; the zero value for a delete
	// Delete: the key is to be deleted from the source (Value is not
	// used).
	Delete bool
}

// Writer writes changes to the source of truth, one key per call, for
// write-through (Cache.WriteThrough, Cache.DeleteThrough). It returns nil
// only once the source holds the change (committed, durable). An error
// means that the source does not hold it; a writer that cannot tell (a
// timeout after the commit was sent) should return the context's error:
// the cache then invalidates the key rather than keep what it holds.
type Writer[K comparable, V any] interface {
	Write(ctx context.Context, change Change[K, V]) error
}

// WriterFunc adapts a function to [Writer].
type WriterFunc[K comparable, V any] func(ctx context.Context, change Change[K, V]) error

// Write calls f.
func (f WriterFunc[K, V]) Write(ctx context.Context, change Change[K, V]) error {
	return f(ctx, change)
}

// BatchWriter writes many changes to the source of truth in one call (a
// transaction, a multi-row statement): all of them, or, when it returns an
// error, none. The changes name distinct keys.
type BatchWriter[K comparable, V any] interface {
	WriteMany(ctx context.Context, changes []Change[K, V]) error
}

// BatchWriterFunc adapts a function to [BatchWriter].
type BatchWriterFunc[K comparable, V any] func(ctx context.Context, changes []Change[K, V]) error

// WriteMany calls f.
func (f BatchWriterFunc[K, V]) WriteMany(ctx context.Context, changes []Change[K, V]) error {
	return f(ctx, changes)
}
