package l2

import "context"

// Conditional is implemented by a Store that can write a value only if the
// key still holds what the writer read earlier. The tiered cache uses it so
// that a load that started before a write or delete of its key cannot put
// its older value into L2 after it.
type Conditional interface {
	// SetIf stores item only if its key holds exactly item.Old, or holds
	// nothing when item.Old is nil, and reports whether it stored. The
	// comparison and the write are one atomic step.
	SetIf(ctx context.Context, item CondItem) (bool, error)

	// SetManyIf does SetIf for every item, in as few round trips as the
	// backend allows, and reports for each item whether it stored, in the
	// order of items. Each item is atomic on its own; the batch is not. On
	// error the result may be nil and some items may have been written.
	SetManyIf(ctx context.Context, items []CondItem) (stored []bool, err error)
}

// CondItem is one conditional write: an Item and what its key must hold.
type CondItem struct {
	Item
	// Old is what the key must hold for the write to happen; nil: nothing.
	Old []byte
}
