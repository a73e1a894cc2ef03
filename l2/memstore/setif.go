package memstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/tiercache/tiercache/l2"
)

var _ l2.Conditional = (*Store)(nil)

// SetIf stores a copy of item.Value under item.Key for item.TTL (which must
// be positive) only if the key holds exactly item.Old, or holds nothing
// (never written, expired or deleted) when item.Old is nil; an empty
// non-nil Old matches an empty value. It reports whether it stored. The
// comparison and the write happen under one lock.
func (s *Store) SetIf(ctx context.Context, item l2.CondItem) (bool, error) {
	if item.TTL <= 0 {
		return false, fmt.Errorf("memstore: setif: ttl must be positive, got %v", item.TTL)
	}
	if err := s.begin(ctx, "setif"); err != nil {
		return false, err
	}
	now := s.now()
	e := entry{value: clone(item.Value), expires: now.Add(item.TTL)}
	k := s.key(item.Key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return false, fmt.Errorf("memstore: setif: %w", l2.ErrClosed)
	}
	if !s.holds(k, item.Old, now) {
		return false, nil
	}
	s.m[k] = e
	return true, nil
}

// SetManyIf does SetIf for every item, in the order of items, all under one
// lock, and reports for each whether it stored; an item sees the writes of
// the items before it. It checks every TTL first: when one is not positive
// it writes nothing.
func (s *Store) SetManyIf(ctx context.Context, items []l2.CondItem) ([]bool, error) {
	for i := range items {
		if items[i].TTL <= 0 {
			return nil, fmt.Errorf("memstore: setmanyif: item %d: ttl must be positive, got %v", i, items[i].TTL)
		}
	}
	if err := s.begin(ctx, "setmanyif"); err != nil {
		return nil, err
	}
	stored := make([]bool, len(items))
	if len(items) == 0 {
		return stored, nil
	}
	now := s.now()
	entries := make([]entry, len(items))
	for i, it := range items {
		entries[i] = entry{value: clone(it.Value), expires: now.Add(it.TTL)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return nil, fmt.Errorf("memstore: setmanyif: %w", l2.ErrClosed)
	}
	for i, it := range items {
		k := s.key(it.Key)
		if s.holds(k, it.Old, now) {
			s.m[k] = entries[i]
			stored[i] = true
		}
	}
	return stored, nil
}

// holds reports whether k holds exactly old at now, or nothing when old is
// nil. The caller holds mu.
func (s *Store) holds(k skey, old []byte, now time.Time) bool {
	cur, ok := s.m[k]
	ok = ok && !cur.expired(now)
	if old == nil {
		return !ok
	}
	return ok && bytes.Equal(cur.value, old)
}
