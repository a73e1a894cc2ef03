package l2

import (
	"context"
	"time"
)

// Tagger is implemented by a Store that keeps tag indexes: for each tag,
// the set of keys that were written with it.
//
// Tags live in their own key space: tag "a" and key "a" never collide,
// whatever bytes either holds. In a view returned by Namespace, tags are
// namespaced like keys.
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
