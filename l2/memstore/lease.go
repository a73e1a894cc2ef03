package memstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/tiercache/tiercache/l2"
)

var _ l2.Leaser = (*Store)(nil)

// lease is the holder of a key's lease.
type lease struct {
	token   []byte
	expires time.Time
}

// Lease gives the lease of key to token for ttl (which must be positive) if
// key holds old (nothing when old is nil) and no other token holds the
// lease; see [l2.Leaser]. The checks and the grant happen under one lock.
// A token that already holds the lease gets it again, for ttl from now.
func (s *Store) Lease(ctx context.Context, key string, old, token []byte, ttl time.Duration) (l2.LeaseState, []byte, error) {
	if ttl <= 0 {
		return 0, nil, fmt.Errorf("memstore: lease: ttl must be positive, got %v", ttl)
	}
	if err := s.begin(ctx, "lease"); err != nil {
		return 0, nil, err
	}
	now := s.now()
	k := s.key(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return 0, nil, fmt.Errorf("memstore: lease: %w", l2.ErrClosed)
	}
	if !s.holds(k, old, now) {
		var cur []byte
		if e, ok := s.m[k]; ok && !e.expired(now) {
			cur = clone(e.value)
		}
		return l2.LeaseChanged, cur, nil
	}
	if l, ok := s.leases[k]; ok && now.Before(l.expires) && !bytes.Equal(l.token, token) {
		return l2.LeaseHeld, nil, nil
	}
	s.leases[k] = lease{token: clone(token), expires: now.Add(ttl)}
	return l2.LeaseGranted, nil, nil
}

// SetLeased stores a copy of value under key for ttl (which must be
// positive) if key holds old and its lease is held by token or by nobody,
// and ends token's lease either way; see [l2.Leaser].
func (s *Store) SetLeased(ctx context.Context, key string, token, old, value []byte, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("memstore: setleased: ttl must be positive, got %v", ttl)
	}
	if err := s.begin(ctx, "setleased"); err != nil {
		return false, err
	}
	now := s.now()
	e := entry{value: clone(value), expires: now.Add(ttl)}
	k := s.key(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return false, fmt.Errorf("memstore: setleased: %w", l2.ErrClosed)
	}
	free := true
	if l, ok := s.leases[k]; ok {
		free = !now.Before(l.expires) || bytes.Equal(l.token, token)
		if free {
			delete(s.leases, k)
		}
	}
	if !free || !s.holds(k, old, now) {
		return false, nil
	}
	s.m[k] = e
	return true, nil
}

// Release ends the lease of key if token holds it.
func (s *Store) Release(ctx context.Context, key string, token []byte) error {
	if err := s.begin(ctx, "release"); err != nil {
		return err
	}
	k := s.key(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return fmt.Errorf("memstore: release: %w", l2.ErrClosed)
	}
	if l, ok := s.leases[k]; ok && bytes.Equal(l.token, token) {
		delete(s.leases, k)
	}
	return nil
}

// Revoke stores a copy of every item and ends the lease of its key, all
// under one lock. It checks every TTL first: when one is not positive it
// writes nothing.
func (s *Store) Revoke(ctx context.Context, items []l2.Item) error {
	for i := range items {
		if items[i].TTL <= 0 {
			return fmt.Errorf("memstore: revoke: item %d: ttl must be positive, got %v", i, items[i].TTL)
		}
	}
	if err := s.begin(ctx, "revoke"); err != nil {
		return err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return fmt.Errorf("memstore: revoke: %w", l2.ErrClosed)
	}
	for _, it := range items {
		k := s.key(it.Key)
		s.m[k] = entry{value: clone(it.Value), expires: now.Add(it.TTL)}
		delete(s.leases, k)
	}
	return nil
}
