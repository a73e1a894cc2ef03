package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/rediskey"
	"github.com/tiercache/tiercache/internal/redislua"
	"github.com/tiercache/tiercache/l2"
)

var _ l2.Leaser = (*Store)(nil)

// LeaseKey returns the Redis key that holds the lease of the logical key
// while the key holds a value: Key(key) + ":lease", in the same hash slot
// as the value. It holds the holder's 16-byte token, followed by one more
// byte ("w") once Lease has refused the lease to another token, and lives
// as long as the lease. A key that holds no value keeps its lease in
// itself (see GetLease).
func (s *Store) LeaseKey(key string) string {
	return s.Key(key) + rediskey.LeaseSuffix
}

// The scripts below take the value's key as KEYS[1] and the lease's as
// KEYS[2], and the token as ARGV[1]. A key that holds a value keeps its
// lease in KEYS[2]: the holder's 16-byte token, followed by "w" once
// another token was refused it. A key that holds no value keeps its lease
// in KEYS[1] itself (see GetLease and redislua): Lease takes it
// there too, so that one key never has two holders. Once marked, such a
// lease is also written to KEYS[2], marked, with the same TTL, so that
// the mark outlives a Set over the key, as it would beside a value. An
// expected old value is three arguments (see expect); GET of an absent
// key is false in Lua.

// leaseScript answers {1} granted, {2} held by another token (and marks
// the lease waited, keeping its TTL), {3, v} changed (the key holds v), {4}
// changed (the key holds nothing). A grant to the holder keeps the mark.
// When KEYS[3] queues a value q (see stage.go), it answers {3, q}, after
// setting KEYS[1] to q without expiry when it holds anything else.
// ARGV: token, ttl in ms, mode, length, digest.
var leaseScript = redis.NewScript(redislua.Lease)

// setLeasedScript answers {stored, waited}: it stores when nobody else
// holds the lease and the key holds the old value, and drops the lease
// when ARGV[1] holds it, reporting its mark. A lease kept in the key was
// taken by GetLease, which does not see queued values: when KEYS[3]
// queues one, it does not store, and puts the queued value back as the
// key's value, as leaseScript does. ARGV: token, value, ttl in ms, mode,
// length, digest.
var setLeasedScript = redis.NewScript(redislua.SetLeased)

// releaseScript drops ARGV[1]'s lease, in KEYS[1] or KEYS[2], and answers 1
// when it was marked waited, 0 otherwise.
var releaseScript = redis.NewScript(redislua.Release)

// leaseKeys returns the keys of the scripts for the logical key.
func (s *Store) leaseKeys(key string) []string {
	rk := s.Key(key)
	return []string{rk, rk + rediskey.LeaseSuffix}
}

// Lease asks for the lease of each key of keys for token, for ttl (which
// must be positive, rounded up to whole milliseconds); see [l2.Leaser]. A
// token that already holds a lease gets it again, for ttl from now, and
// keeps its waited mark.
//
// A key with a queued value (see [Store.Stage]) is never granted: it is
// answered LeaseChanged with the queued value, after the queued value was
// set as the key's value, without expiry, when the key held anything else.
//
// Each key takes one call of a Lua script on the value's key,
// [Store.LeaseKey] and [Store.QueuedKey]: one command (EVALSHA) for one
// key, one pipeline for several (one round trip per node), then EVAL for
// the calls a server answered NOSCRIPT. No keys, no round trip.
//
// When the calls that failed all failed with a key fault (the value or the
// lease held another type, or the slot was being migrated), Lease returns
// the answers of the other keys and an [*l2.KeyFaults] of the failed ones;
// a key whose value or lease held another type is deleted with its lease,
// so that the next Lease of it works.
func (s *Store) Lease(ctx context.Context, token l2.Token, ttl time.Duration, keys []l2.Expect) ([]l2.LeaseAnswer, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("redisstore: lease: ttl must be positive, got %v", ttl)
	}
	calls := make([]call, len(keys))
	for i, e := range keys {
		m, n, d := redislua.Expect(e.Old)
		calls[i] = scriptCall(leaseScript, s.stageKeys(e.Key)[:3], token[:], millis(ttl), m, n, d)
	}
	s.send(ctx, calls)
	answers := make([]l2.LeaseAnswer, len(keys))
	b := s.batch("lease")
	for i := range calls {
		res, err := calls[i].reply().Slice()
		if err != nil {
			b.fail(ctx, err, []int{i}, calls[i].keys[:2]...) // the value and the lease
			continue
		}
		if answers[i], err = leaseAnswer(res); err != nil {
			return nil, err
		}
	}
	return keep(answers, b.end(ctx))
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

// SetLeased stores each item if its key holds item.Old and its lease is
// held by token or by nobody, and ends token's lease either way; see
// [l2.Leaser]. Each result says whether the item was stored and whether
// the lease carried the waited mark. It checks every TTL first and writes
// nothing when one is not positive.
//
// Each item takes one call of a Lua script, sent as Lease sends its calls.
// No items, no round trip. On error some items may have been stored. Key
// faults are reported and repaired as Lease does: the results of the other
// items stand.
func (s *Store) SetLeased(ctx context.Context, token l2.Token, items []l2.CondItem) ([]l2.LeaseResult, error) {
	for i := range items {
		if items[i].TTL <= 0 {
			return nil, fmt.Errorf("redisstore: setleased: item %d: ttl must be positive, got %v", i, items[i].TTL)
		}
	}
	calls := make([]call, len(items))
	for i, it := range items {
		value := it.Value
		if value == nil {
			value = []byte{}
		}
		m, n, d := redislua.Expect(it.Old)
		calls[i] = scriptCall(setLeasedScript, s.stageKeys(it.Key)[:3], token[:], value, millis(it.TTL), m, n, d)
	}
	s.send(ctx, calls)
	results := make([]l2.LeaseResult, len(items))
	b := s.batch("setleased")
	for i := range calls {
		res, err := calls[i].reply().Int64Slice()
		if err != nil {
			b.fail(ctx, err, []int{i}, calls[i].keys[:2]...) // the value and the lease
			continue
		}
		if len(res) != 2 {
			return nil, fmt.Errorf("redisstore: setleased: unexpected answer %v", res)
		}
		results[i] = l2.LeaseResult{Stored: res[0] == 1, Waited: res[1] == 1}
	}
	return keep(results, b.end(ctx))
}

// Release ends the lease of each key of keys that token holds, and reports
// for each whether the lease carried the waited mark (false where token
// held none). Each key takes one call of a Lua script on its
// [Store.LeaseKey], sent as Lease sends its calls. No keys, no round trip.
// Key faults are reported and repaired as Lease does.
func (s *Store) Release(ctx context.Context, token l2.Token, keys ...string) ([]bool, error) {
	calls := make([]call, len(keys))
	for i, key := range keys {
		calls[i] = scriptCall(releaseScript, s.leaseKeys(key), token[:])
	}
	s.send(ctx, calls)
	waited := make([]bool, len(keys))
	b := s.batch("release")
	for i := range calls {
		n, err := calls[i].reply().Int()
		if err != nil {
			b.fail(ctx, err, []int{i}, s.leaseKeys(keys[i])...)
			continue
		}
		waited[i] = n == 1
	}
	return keep(waited, b.end(ctx))
}

// Revoke stores every item and deletes the lease of its key: SET PX and DEL
// for each item, all in one pipeline (one round trip per node; a key and its
// lease are on the same node, and a node runs them in order). It checks
// every TTL first and writes nothing when one is not positive. No items, no
// round trip. On error some items may have been written; when the commands
// that failed all failed with a key fault, the error is an [*l2.KeyFaults]
// of their items, and the other items were written. SET and DEL replace or
// remove a key of any type, so no item fails with WRONGTYPE.
func (s *Store) Revoke(ctx context.Context, items []l2.Item) error {
	for i := range items {
		if items[i].TTL <= 0 {
			return fmt.Errorf("redisstore: revoke: item %d: ttl must be positive, got %v", i, items[i].TTL)
		}
	}
	cmds := make([]redis.Cmder, 0, 2*len(items))
	for _, it := range items {
		cmds = append(cmds, s.setCmd(ctx, it.Key, it.Value, it.TTL), redis.NewIntCmd(ctx, "del", s.LeaseKey(it.Key)))
	}
	exec(ctx, s, cmds)
	b := s.batch("revoke")
	for j, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			b.fail(ctx, err, []int{j / 2}) // two commands per item
		}
	}
	return b.end(ctx)
}
