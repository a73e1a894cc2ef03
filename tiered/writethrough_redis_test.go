package tiered_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/internal/redistest"
	"github.com/tiercache/tiercache/internal/writecheck"
	"github.com/tiercache/tiercache/tiered"
)

// The write-through check (internal/writecheck) on real Redis, one node and
// Cluster: 4 instances x 2 writers on 64 keys over a source that delays,
// reorders and refuses writes; after quiet, every instance reads what the
// source holds, and no read ever sees a refused value.
func TestWriteThrough_Redis(t *testing.T) {
	redistest.Require(t)
	for _, target := range redisTargets(t) {
		t.Run(target.name, func(t *testing.T) {
			rep := writecheck.Run(t, writecheck.Config{
				NewClient: target.client,
				Source:    &wtSource{},
				BusKeys:   testBusKeys,
			})
			t.Log(rep)
		})
	}
}

// wtSource is an in-memory source of truth: the version of each row (0:
// no row). A write waits 0-2 ms before it takes the row (so writes reach it
// in another order than they were called) and 0-1 ms after (so their cache
// writes come in yet another order); one in ten is refused, changing
// nothing.
type wtSource struct {
	mu      sync.Mutex
	rows    map[int64]int64
	refused sync.Map // versions the source refused
}

var errRefused = errors.New("the source refused the write")

func (s *wtSource) Write(_ context.Context, ch tiered.Change[int64, writecheck.Value]) error {
	time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond) // the source's latency, not a wait for an outcome
	if rand.IntN(10) == 0 {
		if !ch.Delete {
			s.refused.Store(ch.Value.Version, true)
		}
		return errRefused
	}
	s.mu.Lock()
	if s.rows == nil {
		s.rows = make(map[int64]int64)
	}
	if ch.Delete {
		delete(s.rows, ch.Key)
	} else {
		s.rows[ch.Key] = ch.Value.Version
	}
	s.mu.Unlock()
	time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
	return nil
}

func (s *wtSource) Load(_ context.Context, k int64) (writecheck.Value, error) {
	v, _ := s.Row(context.Background(), k)
	time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond) // the answer travels back while writers go on
	if v == 0 {
		return writecheck.Value{}, tiered.ErrNotFound
	}
	return writecheck.Value{Key: k, Version: v}, nil
}

func (s *wtSource) Row(_ context.Context, k int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rows[k], nil
}

func (s *wtSource) Refused(v int64) bool {
	_, ok := s.refused.Load(v)
	return ok
}
