package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/tiercache/tiercache/l2"
)

var _ l2.LeaseReader = (*Store)(nil)

// GetLease returns a copy of the value of key, or nil when it holds none,
// and then grants token the key's lease for ttl (which must be positive)
// unless another token holds it; all under one lock. See
// [l2.LeaseReader]. granted reports whether token holds the lease now: a
// token that held it keeps it, for the rest of its TTL, with its waited
// mark. Unlike Lease, GetLease marks no lease waited, renews none, and
// never leases a key that holds a value.
//
// A key with a queued value (see [Store.Stage]) is never leased either: as
// Lease does, GetLease puts the queued value back as the key's value,
// without expiry, when the key held anything else, and returns it.
func (s *Store) GetLease(ctx context.Context, key string, token l2.Token, ttl time.Duration) (value []byte, granted bool, err error) {
	if ttl <= 0 {
		return nil, false, fmt.Errorf("memstore: getlease: ttl must be positive, got %v", ttl)
	}
	if err := s.begin(ctx, "getlease"); err != nil {
		return nil, false, err
	}
	now := s.now()
	k := s.key(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return nil, false, fmt.Errorf("memstore: getlease: %w", l2.ErrClosed)
	}
	if q := s.staged[k]; q.value != nil {
		if !s.holds(k, q.value, now) {
			s.m[k] = entry{value: q.value}
		}
		return clone(q.value), false, nil
	}
	if e, ok := s.m[k]; ok {
		if !e.expired(now) {
			return clone(e.value), false, nil
		}
		delete(s.m, k) // found expired, as Get drops it
	}
	if l, held := s.liveLease(k, now); held {
		return nil, l.token == token, nil // unlike Lease: no mark, no renewal
	}
	s.leases[k] = lease{token: token, expires: now.Add(ttl)} // an expired lease's mark ends with it
	return nil, true, nil
}
