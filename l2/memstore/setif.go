package memstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/tiercache/tiercache/l2"
)

var _ l2.Conditional = (*Store)(nil)

// SetIf stores a copy of value under key for ttl (which must be positive)
// only if key holds exactly old, or holds nothing (never written, expired or
// deleted) when old is nil; an empty non-nil old matches an empty value. It
// reports whether it stored. The comparison and the write happen under one
// lock.
func (s *Store) SetIf(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("memstore: setif: ttl must be positive, got %v", ttl)
	}
	if err := s.begin(ctx, "setif"); err != nil {
		return false, err
	}
	now := s.now()
	e := entry{value: clone(value), expires: now.Add(ttl)}
	k := s.key(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return false, fmt.Errorf("memstore: setif: %w", l2.ErrClosed)
	}
	cur, ok := s.m[k]
	ok = ok && !cur.expired(now)
	match := !ok
	if old != nil {
		match = ok && bytes.Equal(cur.value, old)
	}
	if !match {
		return false, nil
	}
	s.m[k] = e
	return true, nil
}
