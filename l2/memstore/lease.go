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
	a, err := s.LeaseMany(ctx, token, ttl, []string{key}, [][]byte{old})
	if err != nil {
		return 0, nil, err
	}
	return a[0].State, a[0].Value, nil
}

// LeaseMany does Lease for every key, all under one lock.
func (s *Store) LeaseMany(ctx context.Context, token []byte, ttl time.Duration, keys []string, olds [][]byte) ([]l2.LeaseAnswer, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("memstore: lease: ttl must be positive, got %v", ttl)
	}
	if len(olds) != len(keys) {
		return nil, fmt.Errorf("memstore: lease: %d keys but %d old values", len(keys), len(olds))
	}
	if err := s.begin(ctx, "lease"); err != nil {
		return nil, err
	}
	now := s.now()
	answers := make([]l2.LeaseAnswer, len(keys))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return nil, fmt.Errorf("memstore: lease: %w", l2.ErrClosed)
	}
	for i, key := range keys {
		k := s.key(key)
		switch {
		case !s.holds(k, olds[i], now):
			answers[i].State = l2.LeaseChanged
			if e, ok := s.m[k]; ok && !e.expired(now) {
				answers[i].Value = clone(e.value)
			}
		case s.heldByOther(k, token, now):
			answers[i].State = l2.LeaseHeld
		default:
			s.leases[k] = lease{token: clone(token), expires: now.Add(ttl)}
			answers[i].State = l2.LeaseGranted
		}
	}
	return answers, nil
}

// heldByOther reports whether a token other than token holds the lease of
// k at now. The caller holds mu.
func (s *Store) heldByOther(k skey, token []byte, now time.Time) bool {
	l, ok := s.leases[k]
	return ok && now.Before(l.expires) && !bytes.Equal(l.token, token)
}

// SetLeased stores a copy of value under key for ttl (which must be
// positive) if key holds old and its lease is held by token or by nobody,
// and ends token's lease either way; see [l2.Leaser].
func (s *Store) SetLeased(ctx context.Context, key string, token, old, value []byte, ttl time.Duration) (bool, error) {
	stored, err := s.SetLeasedMany(ctx, token, []l2.CondItem{{Item: l2.Item{Key: key, Value: value, TTL: ttl}, Old: old}})
	if err != nil {
		return false, err
	}
	return stored[0], nil
}

// SetLeasedMany does SetLeased for every item, in the order of items, all
// under one lock. It checks every TTL first: when one is not positive it
// writes nothing.
func (s *Store) SetLeasedMany(ctx context.Context, token []byte, items []l2.CondItem) ([]bool, error) {
	for i := range items {
		if items[i].TTL <= 0 {
			return nil, fmt.Errorf("memstore: setleased: item %d: ttl must be positive, got %v", i, items[i].TTL)
		}
	}
	if err := s.begin(ctx, "setleased"); err != nil {
		return nil, err
	}
	now := s.now()
	entries := make([]entry, len(items))
	for i, it := range items {
		entries[i] = entry{value: clone(it.Value), expires: now.Add(it.TTL)}
	}
	stored := make([]bool, len(items))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return nil, fmt.Errorf("memstore: setleased: %w", l2.ErrClosed)
	}
	for i, it := range items {
		k := s.key(it.Key)
		if s.heldByOther(k, token, now) {
			continue // that holder writes
		}
		delete(s.leases, k) // the caller's, or an expired one
		if s.holds(k, it.Old, now) {
			s.m[k] = entries[i]
			stored[i] = true
		}
	}
	return stored, nil
}

// Release ends the lease of each key that token holds.
func (s *Store) Release(ctx context.Context, token []byte, keys ...string) error {
	if err := s.begin(ctx, "release"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return fmt.Errorf("memstore: release: %w", l2.ErrClosed)
	}
	for _, key := range keys {
		k := s.key(key)
		if l, ok := s.leases[k]; ok && bytes.Equal(l.token, token) {
			delete(s.leases, k)
		}
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
