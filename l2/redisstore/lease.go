package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
)

var _ l2.Leaser = (*Store)(nil)

// leaseSuffix makes the key of a lease from the key of its value: both are
// in the value key's hash tag, so one script can touch both on a Cluster.
const leaseSuffix = ":lease"

// LeaseKey returns the Redis key that holds the lease of the logical key:
// Key(key) + ":lease", in the same hash slot as the value.
func (s *Store) LeaseKey(key string) string {
	return s.Key(key) + leaseSuffix
}

// The scripts below take the value's key as KEYS[1] and the lease's as
// KEYS[2]. An expected old value is passed as a mode ("0": nothing, "1":
// the value in the next argument), since Lua cannot tell a missing argument
// from an empty one; GET of an absent key is false in Lua.

// leaseScript answers {1} granted, {2} held by another token, {3, v}
// changed (the key holds v), {4} changed (the key holds nothing).
// ARGV: token, ttl in ms, mode, old.
var leaseScript = redis.NewScript(`
local v = redis.call("GET", KEYS[1])
if ARGV[3] == "0" then
	if v then return {3, v} end
elseif v ~= ARGV[4] then
	if v then return {3, v} end
	return {4}
end
local h = redis.call("GET", KEYS[2])
if h and h ~= ARGV[1] then return {2} end
redis.call("SET", KEYS[2], ARGV[1], "PX", ARGV[2])
return {1}
`)

// setLeasedScript answers 1 when it stored, 0 otherwise, and drops the
// lease when ARGV[1] holds it. ARGV: token, value, ttl in ms, mode, old.
var setLeasedScript = redis.NewScript(`
local h = redis.call("GET", KEYS[2])
if h then
	if h ~= ARGV[1] then return 0 end
	redis.call("DEL", KEYS[2])
end
local v = redis.call("GET", KEYS[1])
if ARGV[4] == "0" then
	if v then return 0 end
elseif v ~= ARGV[5] then
	return 0
end
redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3])
return 1
`)

// releaseScript drops KEYS[1] if it holds ARGV[1].
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	redis.call("DEL", KEYS[1])
end
return 0
`)

// mode returns the script arguments that describe an expected old value.
func mode(old []byte) (string, []byte) {
	if old == nil {
		return "0", []byte{}
	}
	return "1", old
}

// Lease gives the lease of key to token for ttl (which must be positive,
// rounded up to whole milliseconds) if key holds old (nothing when old is
// nil) and no other token holds the lease; see [l2.Leaser]. A token that
// already holds the lease gets it again, for ttl from now.
//
// It runs one Lua script on the value's key and [Store.LeaseKey]: one round
// trip (EVALSHA, or EVAL after NOSCRIPT).
func (s *Store) Lease(ctx context.Context, key string, old, token []byte, ttl time.Duration) (l2.LeaseState, []byte, error) {
	if ttl <= 0 {
		return 0, nil, fmt.Errorf("redisstore: lease: ttl must be positive, got %v", ttl)
	}
	rk := s.Key(key)
	m, o := mode(old)
	res, err := leaseScript.Run(ctx, s.client, []string{rk, rk + leaseSuffix}, token, millis(ttl), m, o).Slice()
	if err != nil {
		return 0, nil, wrap("lease", err)
	}
	a, err := leaseAnswer(res)
	return a.State, a.Value, err
}

// LeaseMany does Lease for every key: one script call per key, all in one
// pipeline (one round trip per node), then a second pipeline with EVAL for
// the calls a server answered NOSCRIPT. No keys, no round trip.
func (s *Store) LeaseMany(ctx context.Context, token []byte, ttl time.Duration, keys []string, olds [][]byte) ([]l2.LeaseAnswer, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("redisstore: lease: ttl must be positive, got %v", ttl)
	}
	if len(olds) != len(keys) {
		return nil, fmt.Errorf("redisstore: lease: %d keys but %d old values", len(keys), len(olds))
	}
	calls := make([]scriptCall, len(keys))
	for i, key := range keys {
		rk := s.Key(key)
		m, o := mode(olds[i])
		calls[i] = scriptCall{keys: []string{rk, rk + leaseSuffix}, args: []any{token, millis(ttl), m, o}}
	}
	cmds, err := s.runScripts(ctx, leaseScript, calls)
	if err != nil {
		return nil, wrap("lease", err)
	}
	answers := make([]l2.LeaseAnswer, len(keys))
	for i, cmd := range cmds {
		res, err := cmd.Slice()
		if err != nil {
			return nil, wrap("lease", err)
		}
		if answers[i], err = leaseAnswer(res); err != nil {
			return nil, err
		}
	}
	return answers, nil
}

// leaseAnswer decodes the reply of leaseScript.
func leaseAnswer(res []any) (l2.LeaseAnswer, error) {
	var code int64
	if len(res) > 0 {
		code, _ = res[0].(int64)
	}
	switch code {
	case 1:
		return l2.LeaseAnswer{State: l2.LeaseGranted}, nil
	case 2:
		return l2.LeaseAnswer{State: l2.LeaseHeld}, nil
	case 3:
		if len(res) == 2 {
			if v, ok := res[1].(string); ok {
				return l2.LeaseAnswer{State: l2.LeaseChanged, Value: []byte(v)}, nil
			}
		}
	case 4:
		return l2.LeaseAnswer{State: l2.LeaseChanged}, nil
	}
	return l2.LeaseAnswer{}, fmt.Errorf("redisstore: lease: unexpected answer %v", res)
}

// SetLeased stores value under key for ttl (which must be positive) if key
// holds old and its lease is held by token or by nobody, and ends token's
// lease either way; see [l2.Leaser]. One Lua script, one round trip.
func (s *Store) SetLeased(ctx context.Context, key string, token, old, value []byte, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("redisstore: setleased: ttl must be positive, got %v", ttl)
	}
	if value == nil {
		value = []byte{}
	}
	rk := s.Key(key)
	m, o := mode(old)
	n, err := setLeasedScript.Run(ctx, s.client, []string{rk, rk + leaseSuffix}, token, value, millis(ttl), m, o).Int()
	if err != nil {
		return false, wrap("setleased", err)
	}
	return n == 1, nil
}

// SetLeasedMany does SetLeased for every item: one script call per item in
// one pipeline, as LeaseMany. It checks every TTL first and writes nothing
// when one is not positive. No items, no round trip.
func (s *Store) SetLeasedMany(ctx context.Context, token []byte, items []l2.CondItem) ([]bool, error) {
	calls := make([]scriptCall, len(items))
	for i, it := range items {
		if it.TTL <= 0 {
			return nil, fmt.Errorf("redisstore: setleased: item %d: ttl must be positive, got %v", i, it.TTL)
		}
		value := it.Value
		if value == nil {
			value = []byte{}
		}
		rk := s.Key(it.Key)
		m, o := mode(it.Old)
		calls[i] = scriptCall{keys: []string{rk, rk + leaseSuffix}, args: []any{token, value, millis(it.TTL), m, o}}
	}
	cmds, err := s.runScripts(ctx, setLeasedScript, calls)
	if err != nil {
		return nil, wrap("setleased", err)
	}
	stored := make([]bool, len(items))
	for i, cmd := range cmds {
		n, err := cmd.Int()
		if err != nil {
			return nil, wrap("setleased", err)
		}
		stored[i] = n == 1
	}
	return stored, nil
}

// Release ends the lease of each key that token holds: one Lua script per
// key, in one pipeline when there are several.
func (s *Store) Release(ctx context.Context, token []byte, keys ...string) error {
	if len(keys) == 1 {
		if err := releaseScript.Run(ctx, s.client, []string{s.LeaseKey(keys[0])}, token).Err(); err != nil {
			return wrap("release", err)
		}
		return nil
	}
	calls := make([]scriptCall, len(keys))
	for i, key := range keys {
		calls[i] = scriptCall{keys: []string{s.LeaseKey(key)}, args: []any{token}}
	}
	cmds, err := s.runScripts(ctx, releaseScript, calls)
	if err != nil {
		return wrap("release", err)
	}
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			return wrap("release", err)
		}
	}
	return nil
}

// scriptCall is the keys and arguments of one call of a script.
type scriptCall struct {
	keys []string
	args []any
}

// runScripts runs script once per call in one pipeline with EVALSHA (one
// round trip per node), then the calls that a server answered NOSCRIPT (it
// restarted, or is a replica promoted since the script was loaded) in a
// second pipeline with EVAL. It returns the commands in the order of calls;
// their own errors are left to the caller. No calls, no round trip.
func (s *Store) runScripts(ctx context.Context, script *redis.Script, calls []scriptCall) ([]*redis.Cmd, error) {
	cmds := make([]*redis.Cmd, len(calls))
	if len(calls) == 0 {
		return cmds, nil
	}
	pipe := s.client.Pipeline()
	for i, c := range calls {
		cmds[i] = script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx)
	var retry []int
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			retry = append(retry, i)
		}
	}
	if len(retry) == 0 {
		return cmds, ctx.Err()
	}
	pipe = s.client.Pipeline()
	for _, i := range retry {
		cmds[i] = script.Eval(ctx, pipe, calls[i].keys, calls[i].args...)
	}
	_, _ = pipe.Exec(ctx)
	return cmds, ctx.Err()
}

// Revoke stores every item and deletes the lease of its key: SET PX and DEL
// for each item, all in one pipeline (one round trip per node; a key and its
// lease are on the same node, and a node runs them in order). It checks
// every TTL first and writes nothing when one is not positive. No items, no
// round trip. On error some items may have been written.
func (s *Store) Revoke(ctx context.Context, items []l2.Item) error {
	for i := range items {
		if items[i].TTL <= 0 {
			return fmt.Errorf("redisstore: revoke: item %d: ttl must be positive, got %v", i, items[i].TTL)
		}
	}
	if len(items) == 0 {
		return nil
	}
	pipe := s.client.Pipeline()
	for _, it := range items {
		_ = pipe.Process(ctx, s.setCmd(ctx, it.Key, it.Value, it.TTL))
		_ = pipe.Process(ctx, redis.NewIntCmd(ctx, "del", s.LeaseKey(it.Key)))
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		return wrap("revoke", err)
	}
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			return wrap("revoke", err)
		}
	}
	return nil
}
