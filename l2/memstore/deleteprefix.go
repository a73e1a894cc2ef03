package memstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/tiercache/tiercache/l2"
)

var _ l2.PrefixDeleter = (*Store)(nil)

// DeletePrefix deletes every key of s that starts with prefix ("" for every
// key of the store or view), count (which must be positive) at a time, and
// calls fn, unless it is nil, with each batch of deleted keys (in the form
// given to Get), without holding the lock. fn's error stops the walk and is
// returned as is. Tag indexes are left alone. Expired entries are dropped
// without being reported.
//
// DeletePrefix finds the keys in one pass over the map under a read lock,
// then deletes them batch by batch under the write lock, so that other
// operations run between batches; keys written meanwhile may survive it.
func (s *Store) DeletePrefix(ctx context.Context, prefix string, count int, fn func(keys []string) error) error {
	if count <= 0 {
		return fmt.Errorf("memstore: deleteprefix: count must be positive, got %d", count)
	}
	if err := s.begin(ctx, "deleteprefix"); err != nil {
		return err
	}
	full := s.prefix + prefix
	s.mu.RLock()
	if s.m == nil {
		s.mu.RUnlock()
		return fmt.Errorf("memstore: deleteprefix: %w", l2.ErrClosed)
	}
	var found []skey
	for k := range s.m {
		if k.hasPrefix(full) {
			found = append(found, k)
		}
	}
	s.mu.RUnlock()

	for len(found) > 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("memstore: deleteprefix: %w", err)
		}
		batch := found[:min(count, len(found))]
		found = found[len(batch):]
		now := s.now()
		keys := make([]string, 0, len(batch))
		s.mu.Lock()
		if s.m == nil {
			s.mu.Unlock()
			return fmt.Errorf("memstore: deleteprefix: %w", l2.ErrClosed)
		}
		for _, k := range batch {
			e, ok := s.m[k]
			if !ok {
				continue // deleted since the pass
			}
			delete(s.m, k)
			if !e.expired(now) {
				keys = append(keys, k.String()[len(s.prefix):])
			}
		}
		s.mu.Unlock()
		if len(keys) > 0 && fn != nil {
			if err := fn(keys); err != nil {
				return err
			}
		}
	}
	return nil
}

// hasPrefix reports whether the key k, in the store's form, starts with p.
func (k skey) hasPrefix(p string) bool {
	if !k.hasNS {
		return strings.HasPrefix(k.k, p)
	}
	if len(p) <= len(k.ns) {
		return strings.HasPrefix(k.ns, p)
	}
	return strings.HasPrefix(p, k.ns) && p[len(k.ns)] == ':' && strings.HasPrefix(k.k, p[len(k.ns)+1:])
}

// String returns the key k in the store's form.
func (k skey) String() string {
	if !k.hasNS {
		return k.k
	}
	return k.ns + ":" + k.k
}
