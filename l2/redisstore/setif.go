package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/rediskey"
	"github.com/tiercache/tiercache/internal/redislua"
	"github.com/tiercache/tiercache/l2"
)

var _ l2.Conditional = (*Store)(nil)

// setIfScript sets KEYS[1] to ARGV[1] for ARGV[2] milliseconds if it holds
// the value of length ARGV[3] and hex SHA-1 ARGV[4] (see expect), and
// returns 1 when it did.
var setIfScript = redis.NewScript(redislua.SetIf)

// SetIf stores item.Value under item.Key for item.TTL (which must be
// positive, rounded up to whole milliseconds) only if the key holds exactly
// item.Old, or holds nothing when item.Old is nil; an empty non-nil Old
// matches an empty value. It reports whether it stored.
//
// With Old nil it sends SET NX PX, which does not store over a key of
// another type. Otherwise it runs a Lua script that compares and sets in
// one step, with EVALSHA, then EVAL when the server does not know the
// script (after a restart or a Cluster failover); when the key holds
// another type than a string, SetIf deletes it and its lease and returns
// an error wrapping [l2.ErrKeyFault].
func (s *Store) SetIf(ctx context.Context, item l2.CondItem) (bool, error) {
	if item.TTL <= 0 {
		return false, fmt.Errorf("redisstore: setif: ttl must be positive, got %v", item.TTL)
	}
	stored, err := s.setIf(ctx, "setif", []l2.CondItem{item})
	var kf *l2.KeyFaults
	if errors.As(err, &kf) {
		return false, kf.Err // the one item's
	}
	if err != nil {
		return false, err
	}
	return stored[0], nil
}

// SetManyIf does SetIf for every item and reports for each whether it
// stored. It checks every TTL first and writes nothing when one is not
// positive. No items, no round trip.
//
// It sends one pipeline, which a Cluster client splits per node: SET NX PX
// for each item whose Old is nil, EVALSHA of the compare-and-set script for
// the others; then, if a server does not know the script, a second
// pipeline with EVAL for the items it answered NOSCRIPT. One item is one
// command, not a pipeline. On error some items may have been written. When
// the commands that failed all failed with a key fault, SetManyIf returns
// the results of the other items and an [*l2.KeyFaults] of the failed
// ones; a key that held another type is deleted with its lease.
func (s *Store) SetManyIf(ctx context.Context, items []l2.CondItem) ([]bool, error) {
	for i := range items {
		if items[i].TTL <= 0 {
			return nil, fmt.Errorf("redisstore: setmanyif: item %d: ttl must be positive, got %v", i, items[i].TTL)
		}
	}
	return s.setIf(ctx, "setmanyif", items)
}

// setIf is SetManyIf without the TTL checks; op names the operation in
// errors.
func (s *Store) setIf(ctx context.Context, op string, items []l2.CondItem) ([]bool, error) {
	calls := make([]call, len(items))
	for i, it := range items {
		rk := s.Key(it.Key)
		value := it.Value
		if value == nil {
			value = []byte{}
		}
		if it.Old == nil {
			calls[i].cmd = redis.NewStatusCmd(ctx, "set", rk, value, "px", millis(it.TTL), "nx")
		} else {
			_, n, d := redislua.Expect(it.Old)
			calls[i] = scriptCall(setIfScript, []string{rk}, value, millis(it.TTL), n, d)
		}
	}
	s.send(ctx, calls)
	stored := make([]bool, len(items))
	b := s.batch(op)
	for i := range calls {
		var n int
		var err error
		if calls[i].script == nil {
			if err = calls[i].cmd.Err(); err == nil {
				n = 1
			} else if errors.Is(err, redis.Nil) { // the key holds something: not stored
				err = nil
			}
		} else {
			n, err = calls[i].reply().Int()
		}
		if err != nil {
			rk := s.Key(items[i].Key)
			b.fail(ctx, err, []int{i}, rk, rk+rediskey.LeaseSuffix)
			continue
		}
		stored[i] = n == 1
	}
	return keep(stored, b.end(ctx))
}
