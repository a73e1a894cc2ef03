package memstore

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/tiercache/tiercache/l2"
)

var _ l2.Stager = (*Store)(nil)

// staged is the write-behind state of a key, kept apart from its entry so
// that it outlives the entry's expiry, Delete and DeletePrefix.
type staged struct {
	// value is the queued value; nil: none, and seq is only remembered
	// until forget.
	value  []byte
	seq    uint64
	forget time.Time
	// claim holds the key for a flusher until claimExpires.
	claim        l2.Token
	claimExpires time.Time
}

// stagedAt returns the state of k at now, with a remembered sequence
// number that is forgotten (0) and a claim that expired (the zero Token)
// dropped, and whether anything is left. The caller holds mu.
func (s *Store) stagedAt(k skey, now time.Time) (staged, bool) {
	q, ok := s.staged[k]
	if !ok {
		return staged{}, false
	}
	if q.value == nil && !now.Before(q.forget) {
		q.seq = 0
	}
	if !now.Before(q.claimExpires) {
		q.claim = l2.Token{}
	}
	return q, q.value != nil || q.seq != 0 || q.claim != l2.Token{}
}

// putStaged stores q as the state of k, or drops k's state when q keeps
// nothing. The caller holds mu.
func (s *Store) putStaged(k skey, q staged, now time.Time) {
	if q.value == nil && q.claim == (l2.Token{}) && (q.seq == 0 || !now.Before(q.forget)) {
		delete(s.staged, k)
		return
	}
	s.staged[k] = q
}

// Stage stores a copy of each item's value as its key's queued value, and
// as the key's value without expiry, and ends the key's lease, unless the
// key has or remembers (see [l2.StageMemory]) a sequence number >=
// item.Seq; all under one lock. See [l2.Stager]. A Seq of 0 takes the
// key's number + 1 (a key whose number is already the largest uint64
// refuses it). It returns per item the sequence number stored, 0 for a
// refused item.
func (s *Store) Stage(ctx context.Context, items []l2.StageItem) ([]uint64, error) {
	if err := s.begin(ctx, "stage"); err != nil {
		return nil, err
	}
	seqs := make([]uint64, len(items))
	if len(items) == 0 {
		return seqs, nil
	}
	now := s.now()
	values := make([][]byte, len(items))
	for i, it := range items {
		values[i] = clone(it.Value)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return nil, fmt.Errorf("memstore: stage: %w", l2.ErrClosed)
	}
	for i, it := range items {
		k := s.key(it.Key)
		q, _ := s.stagedAt(k, now)
		seq := it.Seq
		switch {
		case seq == 0 && q.seq == math.MaxUint64:
			continue
		case seq == 0:
			seq = q.seq + 1
		case q.seq >= seq:
			continue // a later write is queued, or was
		}
		// The entry and the queued value share their bytes: neither is
		// ever modified.
		q.value, q.seq = values[i], seq
		s.staged[k] = q
		s.m[k] = entry{value: values[i]}
		delete(s.leases, k)
		seqs[i] = seq
	}
	return seqs, nil
}

// Claim returns a copy of each key's queued value and its sequence number
// (the remembered number, or 0, and a nil Value when none is queued), and
// claims each key that has a queued value for token for ttl (which must be
// positive), unless another token's claim is live (Busy); all under one
// lock. See [l2.Stager].
func (s *Store) Claim(ctx context.Context, token l2.Token, ttl time.Duration, keys []string) ([]l2.Staged, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("memstore: claim: ttl must be positive, got %v", ttl)
	}
	if err := s.begin(ctx, "claim"); err != nil {
		return nil, err
	}
	res := make([]l2.Staged, len(keys))
	if len(keys) == 0 {
		return res, nil
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return nil, fmt.Errorf("memstore: claim: %w", l2.ErrClosed)
	}
	for i, key := range keys {
		k := s.key(key)
		q, _ := s.stagedAt(k, now)
		res[i].Seq = q.seq
		if q.value == nil {
			continue
		}
		res[i].Value = clone(q.value)
		if q.claim != (l2.Token{}) && q.claim != token {
			res[i].Busy = true
			continue
		}
		q.claim, q.claimExpires = token, now.Add(ttl)
		s.staged[k] = q
	}
	return res, nil
}

// Unstage removes each item's queued value if its sequence number is
// item.Seq, remembering the number for [l2.StageMemory], and gives the
// key's value expiry item.TTL when it still holds the queued bytes (a
// TTL that is not positive removes it); it ends token's claim on each key
// either way; all under one lock. See [l2.Stager]. An item with Seq 0
// only ends the claim: no queued value has number 0.
func (s *Store) Unstage(ctx context.Context, token l2.Token, items []l2.UnstageItem) error {
	if err := s.begin(ctx, "unstage"); err != nil {
		return err
	}
	if len(items) == 0 {
		return nil
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		return fmt.Errorf("memstore: unstage: %w", l2.ErrClosed)
	}
	for _, it := range items {
		k := s.key(it.Key)
		q, ok := s.stagedAt(k, now)
		if !ok {
			continue
		}
		if q.claim == token {
			q.claim, q.claimExpires = l2.Token{}, time.Time{}
		}
		if q.value != nil && q.seq == it.Seq {
			switch {
			case !s.holds(k, q.value, now):
			case it.TTL <= 0:
				delete(s.m, k)
			default:
				s.m[k] = entry{value: s.m[k].value, expires: now.Add(it.TTL)}
			}
			q.value, q.forget = nil, now.Add(l2.StageMemory)
		}
		s.putStaged(k, q, now)
	}
	return nil
}
