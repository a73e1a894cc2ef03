package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/tiercache/tiercache/l2"
)

var _ l2.Tagger = (*Store)(nil)

// tagKey names the index of a tag: the prefix of the store or view that
// wrote it ("" for the store, "ns:" for the view ns) and the tag. Indexes
// live beside the entries, so tag "a" and key "a" never collide.
type tagKey struct {
	prefix, tag string
}

// tagIndex is the set of keys tagged with one tag, in the form the store or
// view that tagged them was given.
type tagIndex struct {
	members map[string]struct{} // never empty: an emptied index is dropped
	expires time.Time
}

// Tag adds every key of keys to the index of every tag of tags, and makes
// each of these indexes live at least ttl (which must be positive) from now:
// it extends an index's lifetime, never shortens it. An expired index counts
// as empty. No tags or no keys: nothing changes.
//
// Like entries, expired indexes are dropped lazily, when a Tag or a
// PopTagged touches them.
func (s *Store) Tag(ctx context.Context, tags, keys []string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("memstore: tag: ttl must be positive, got %v", ttl)
	}
	if err := s.begin(ctx, "tag"); err != nil {
		return err
	}
	if len(tags) == 0 || len(keys) == 0 {
		return nil
	}
	now := s.now()
	expires := now.Add(ttl)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tags == nil {
		return fmt.Errorf("memstore: tag: %w", l2.ErrClosed)
	}
	for _, tag := range tags {
		tk := tagKey{s.prefix, tag}
		idx := s.tags[tk]
		if idx == nil || idx.expired(now) {
			idx = &tagIndex{members: make(map[string]struct{}, len(keys))}
			s.tags[tk] = idx
		}
		for _, k := range keys {
			idx.members[k] = struct{}{}
		}
		if idx.expires.Before(expires) {
			idx.expires = expires
		}
	}
	return nil
}

// PopTagged removes up to count (which must be positive) arbitrary keys
// from the index of tag and returns them: none when the index is empty,
// absent or expired. The index is dropped once empty.
func (s *Store) PopTagged(ctx context.Context, tag string, count int) ([]string, error) {
	if count <= 0 {
		return nil, fmt.Errorf("memstore: poptagged: count must be positive, got %d", count)
	}
	if err := s.begin(ctx, "poptagged"); err != nil {
		return nil, err
	}
	now := s.now()
	tk := tagKey{s.prefix, tag}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tags == nil {
		return nil, fmt.Errorf("memstore: poptagged: %w", l2.ErrClosed)
	}
	idx := s.tags[tk]
	if idx == nil {
		return nil, nil
	}
	if idx.expired(now) {
		delete(s.tags, tk)
		return nil, nil
	}
	keys := make([]string, 0, min(count, len(idx.members)))
	for k := range idx.members {
		if len(keys) == count {
			break
		}
		keys = append(keys, k)
		delete(idx.members, k)
	}
	if len(idx.members) == 0 {
		delete(s.tags, tk)
	}
	return keys, nil
}

func (idx *tagIndex) expired(now time.Time) bool {
	return !now.Before(idx.expires)
}
