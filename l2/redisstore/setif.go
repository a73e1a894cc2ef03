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
