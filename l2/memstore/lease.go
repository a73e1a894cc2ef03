package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/tiercache/tiercache/l2"
)

var _ l2.Leaser = (*Store)(nil)

// lease is the holder of a key's lease.
type lease struct {
	token   l2.Token
	expires time.Time
	// waited: Lease answered LeaseHeld to another token while token held
	// the lease.
	waited bool
}

// Lease asks for the lease of each key of keys for token, for ttl (which
// must be positive), all under one lock; see [l2.Leaser]. A key is granted
// when it holds Old (nothing when Old is nil) and no other token holds its
// lease; a token that holds it gets it again, for ttl from now, and keeps
// its waited mark. A key whose lease another token holds is answered
// LeaseHeld, and that lease is marked waited.
//
// A key with a queued value (see [Store.Stage]) is never granted: it is
// answered LeaseChanged with the queued value, after the queued value was
// put back as the key's value, without expiry, when the key held anything
// else.
func (s *Store) Lease(ctx context.Context, token l2.Token, ttl time.Duration, keys []l2.Expect) ([]l2.LeaseAnswer, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("memstore: lease: ttl must be positive, got %v", ttl)
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
	for i, e := range keys {
		k := s.key(e.Key)
		if q := s.staged[k]; q.value != nil {
			if !s.holds(k, q.value, now) {
				s.m[k] = entry{value: q.value}
			}
			answers[i] = l2.LeaseAnswer{State: l2.LeaseChanged, Value: clone(q.value)}
			continue
		}
		l, held := s.liveLease(k, now)
		switch {
		case !s.holds(k, e.Old, now):
			answers[i].State = l2.LeaseChanged
			if e, ok := s.m[k]; ok && !e.expired(now) {
				answers[i].Value = clone(e.value)
			}
		case held && l.token != token:
			l.waited = true
			s.leases[k] = l
			answers[i].State = l2.LeaseHeld
		default:
			if !held {
				l = lease{token: token} // an expired lease's mark ends with it
			}
			l.expires = now.Add(ttl)
			s.leases[k] = l
			answers[i].State = l2.LeaseGranted
		}
	}
	return answers, nil
}

// liveLease returns the lease of k, and whether somebody holds it at now
// (it exists and has not expired). The caller holds mu.
func (s *Store) liveLease(k skey, now time.Time) (lease, bool) {
	l, ok := s.leases[k]
	return l, ok && now.Before(l.expires)
}

// SetLeased stores a copy of each item if its key holds item.Old and its
// lease is held by token or by nobody, and ends token's lease either way,
// all under one lock; see [l2.Leaser]. Each result says whether the item
// was stored and whether another token was refused the lease while token
// held it. It checks every TTL first: when one is not positive it writes
// nothing.
func (s *Store) SetLeased(ctx context.Context, token l2.Token, items []l2.CondItem) ([]l2.LeaseResult, error) {
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
	results := make([]l2.LeaseResult, len(items))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return nil, fmt.Errorf("memstore: setleased: %w", l2.ErrClosed)
	}
	for i, it := range items {
		k := s.key(it.Key)
		l, held := s.liveLease(k, now)
		if held && l.token != token {
			continue // that holder writes
		}
		results[i].Waited = held && l.waited
		delete(s.leases, k) // the caller's, or an expired one
		if s.holds(k, it.Old, now) {
			s.m[k] = entries[i]
			results[i].Stored = true
		}
	}
	return results, nil
}

// Release ends the lease of each key of keys that token holds, and reports
// for each whether another token was refused that lease while token held
// it (false where token held none).
func (s *Store) Release(ctx context.Context, token l2.Token, keys ...string) ([]bool, error) {
	if err := s.begin(ctx, "release"); err != nil {
		return nil, err
	}
	now := s.now()
	waited := make([]bool, len(keys))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return nil, fmt.Errorf("memstore: release: %w", l2.ErrClosed)
	}
	for i, key := range keys {
		k := s.key(key)
		if l, ok := s.leases[k]; ok && l.token == token {
			waited[i] = l.waited && now.Before(l.expires)
			delete(s.leases, k)
		}
	}
	return waited, nil
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
