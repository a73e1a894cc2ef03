package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
)

var _ l2.Conditional = (*Store)(nil)

// setIfScript sets KEYS[1] to ARGV[2] for ARGV[3] milliseconds if it holds
// ARGV[1], and returns 1 when it did. GET of an absent key is false in Lua,
// which equals no string.
var setIfScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3])
	return 1
end
return 0
`)

// SetIf stores value under key for ttl (which must be positive, rounded up
// to whole milliseconds) only if key holds exactly old, or holds nothing
// when old is nil; an empty non-nil old matches an empty value. It reports
// whether it stored.
//
// With old nil it sends SET NX PX. Otherwise it runs a Lua script that
// compares and sets in one step, with EVALSHA, falling back to EVAL when the
// server does not know the script (after a restart or a Cluster failover).
func (s *Store) SetIf(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("redisstore: setif: ttl must be positive, got %v", ttl)
	}
	if value == nil {
		value = []byte{}
	}
	if old == nil {
		err := s.client.Process(ctx, redis.NewStatusCmd(ctx, "set", s.Key(key), value, "px", millis(ttl), "nx"))
		switch {
		case errors.Is(err, redis.Nil):
			return false, nil
		case err != nil:
			return false, wrap("setif", err)
		}
		return true, nil
	}
	n, err := setIfScript.Run(ctx, s.client, []string{s.Key(key)}, old, value, millis(ttl)).Int()
	if err != nil {
		return false, wrap("setif", err)
	}
	return n == 1, nil
}

// SetManyIf does SetIf for every item and reports for each whether it
// stored. It checks every TTL first and writes nothing when one is not
// positive. No items, no round trip.
//
// It sends one pipeline, which a Cluster client splits per node: SET NX PX
// for each item whose Old is nil, EVALSHA of the compare-and-set script for
// the others; then, if a server does not know the script, a second
// pipeline with EVAL for the items it answered NOSCRIPT. On error some items
// may have been written.
func (s *Store) SetManyIf(ctx context.Context, items []l2.CondItem) ([]bool, error) {
	for i := range items {
		if items[i].TTL <= 0 {
			return nil, fmt.Errorf("redisstore: setmanyif: item %d: ttl must be positive, got %v", i, items[i].TTL)
		}
	}
	stored := make([]bool, len(items))
	if len(items) == 0 {
		return stored, nil
	}
	rkeys := make([]string, len(items))
	values := make([][]byte, len(items))
	for i, it := range items {
		rkeys[i] = s.Key(it.Key)
		values[i] = it.Value
		if values[i] == nil {
			values[i] = []byte{}
		}
	}
	sets := make([]*redis.StatusCmd, len(items)) // for Old == nil
	scripts := make([]*redis.Cmd, len(items))    // for the others
	pipe := s.client.Pipeline()
	for i, it := range items {
		if it.Old == nil {
			sets[i] = redis.NewStatusCmd(ctx, "set", rkeys[i], values[i], "px", millis(it.TTL), "nx")
			_ = pipe.Process(ctx, sets[i])
		} else {
			scripts[i] = setIfScript.EvalSha(ctx, pipe, []string{rkeys[i]}, it.Old, values[i], millis(it.TTL))
		}
	}
	_, _ = pipe.Exec(ctx)

	var retry []int
	for i, cmd := range scripts {
		if cmd != nil && redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 {
		pipe = s.client.Pipeline()
		for _, i := range retry {
			scripts[i] = setIfScript.Eval(ctx, pipe, []string{rkeys[i]}, items[i].Old, values[i], millis(items[i].TTL))
		}
		_, _ = pipe.Exec(ctx)
	}

	for i := range items {
		if cmd := sets[i]; cmd != nil {
			err := cmd.Err()
			switch {
			case errors.Is(err, redis.Nil): // the key holds a value: not stored
			case err != nil:
				return nil, wrap("setmanyif", err)
			default:
				stored[i] = true
			}
			continue
		}
		n, err := scripts[i].Int()
		if err != nil {
			return nil, wrap("setmanyif", err)
		}
		stored[i] = n == 1
	}
	return stored, nil
}
