package l2

import "context"

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
