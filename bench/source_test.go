package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// source is the source of truth behind the loaders: the version of each
// id (1 until written) and the number of loads it served.
type source struct {
	delay time.Duration // how long a load takes

	mu       sync.Mutex
	versions map[int64]int64

	loads atomic.Int64
}

func newSource(delay time.Duration) *source {
	return &source{delay: delay, versions: make(map[int64]int64)}
}

// Load is the LoadFunc of every library: NewValue of the key's id at its
// current version, after delay.
func (s *source) Load(ctx context.Context, key string) (Value, error) {
	s.loads.Add(1)
	id := ID(key)
	if id < 0 {
		return Value{}, fmt.Errorf("source: foreign key %q", key)
	}
	if s.delay > 0 {
		t := time.NewTimer(s.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return Value{}, ctx.Err()
		}
	}
	return NewValue(id, s.version(id)), nil
}

func (s *source) version(id int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.versions[id]; ok {
		return v
	}
	return 1
}

// write bumps id's version and returns the new value, which the writer
// then hands to its cache's Set.
func (s *source) write(id int64) Value {
	s.mu.Lock()
	v, ok := s.versions[id]
	if !ok {
		v = 1
	}
	v++
	s.versions[id] = v
	s.mu.Unlock()
	return NewValue(id, v)
}
