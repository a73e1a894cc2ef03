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

var _ l2.Stager = (*Store)(nil)

// QueuedKey returns the Redis key that holds the queued value of the
// logical key (see [l2.Stager]): Key(key) + ":queued", in the same hash
// slot as the value. It is a string without expiry, "q" + the sequence
// number in 20 decimal digits + the queued value, while a value is
// queued; after Unstage, "r" + the number, which lives
// [l2.StageMemory]. The number stays a string: Lua's numbers are doubles,
// which hold no uint64 exactly.
func (s *Store) QueuedKey(key string) string {
	return s.Key(key) + rediskey.QueuedSuffix
}

// ClaimKey returns the Redis key that holds the claim of the logical
// key's queued value (see [l2.Stager.Claim]): Key(key) + ":claim", in the
// same hash slot as the value. It holds the claiming token and lives as
// long as the claim.
func (s *Store) ClaimKey(key string) string {
	return s.Key(key) + rediskey.ClaimSuffix
}

// stageKeys returns the keys of the stage scripts for the logical key:
// the value's, the lease's, the queued value's and the claim's. A key
// fault repairs the first two only: the others are kept whatever happens,
// and the scripts delete them themselves when they hold another type.
func (s *Store) stageKeys(key string) []string {
	rk := s.Key(key)
	return []string{rk, rk + rediskey.LeaseSuffix, rk + rediskey.QueuedSuffix, rk + rediskey.ClaimSuffix}
}

// The scripts of Stage, Claim and Unstage, shared with l2/rueidisstore:
// see redislua's Stage, Claim and Unstage for their keys, arguments and
// answers.
var (
	stageScript   = redis.NewScript(redislua.Stage)
	claimScript   = redis.NewScript(redislua.Claim)
	unstageScript = redis.NewScript(redislua.Unstage)
)

// Stage stores, for each item, its value as the key's queued value under
// [Store.QueuedKey], and as the key's value without expiry, and deletes
// the key's lease, unless the key holds or remembers a sequence number >=
// item.Seq; see [l2.Stager]. A Seq of 0 takes the key's number + 1 (a key
// whose number is already the largest uint64 refuses it). It returns per
// item the sequence number stored, 0 for a refused item.
//
// Each item takes one call of a Lua script on the value's key, its lease's
// and its queued key, sent as Lease sends its calls: one command for one
// item, one pipeline for several (one round trip per node), then EVAL for
// the calls a server answered NOSCRIPT. No items, no round trip. When the
// calls that failed all failed with a key fault, Stage returns the
// numbers of the other items and an [*l2.KeyFaults] of the failed ones.
func (s *Store) Stage(ctx context.Context, items []l2.StageItem) ([]uint64, error) {
	calls := make([]call, len(items))
	for i, it := range items {
		value := it.Value
		if value == nil {
			value = []byte{}
		}
		calls[i] = scriptCall(stageScript, s.stageKeys(it.Key)[:3], value, redislua.Seq(it.Seq))
	}
	s.send(ctx, calls)
	seqs := make([]uint64, len(items))
	b := s.batch("stage")
	for i := range calls {
		res, err := calls[i].reply().Text()
		if err != nil {
			b.fail(ctx, err, []int{i}, calls[i].keys[:2]...)
			continue
		}
		if seqs[i], err = redislua.ParseSeq(res); err != nil {
			return nil, fmt.Errorf("redisstore: stage: unexpected answer: %w", err)
		}
	}
	return keep(seqs, b.end(ctx))
}

// Claim returns each key's queued value and its sequence number (the
// remembered number, or 0, with a nil Value when none is queued), and
// claims each key that has a queued value for token for ttl (which must be
// positive, rounded up to whole milliseconds) under [Store.ClaimKey],
// unless another token's claim lives (Busy); see [l2.Stager].
//
// Each key takes one call of a Lua script, sent as Stage sends its calls.
// No keys, no round trip. Key faults are reported as Stage reports them.
func (s *Store) Claim(ctx context.Context, token l2.Token, ttl time.Duration, keys []string) ([]l2.Staged, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("redisstore: claim: ttl must be positive, got %v", ttl)
	}
	calls := make([]call, len(keys))
	for i, key := range keys {
		calls[i] = scriptCall(claimScript, s.stageKeys(key), token[:], millis(ttl))
	}
	s.send(ctx, calls)
	res := make([]l2.Staged, len(keys))
	b := s.batch("claim")
	for i := range calls {
		reply, err := calls[i].reply().Slice()
		if err != nil {
			b.fail(ctx, err, []int{i}, calls[i].keys[:2]...)
			continue
		}
		if res[i], err = staged(reply); err != nil {
			return nil, fmt.Errorf("redisstore: claim: unexpected answer %q: %w", reply, err)
		}
	}
	return keep(res, b.end(ctx))
}

// staged decodes the reply of claimScript.
func staged(reply []any) (l2.Staged, error) {
	var st l2.Staged
	if len(reply) < 2 {
		return st, fmt.Errorf("%d elements", len(reply))
	}
	code, _ := reply[0].(int64)
	seq, _ := reply[1].(string)
	var err error
	if st.Seq, err = redislua.ParseSeq(seq); err != nil {
		return st, err
	}
	switch {
	case code == 0 && len(reply) == 2:
		return st, nil
	case (code == 1 || code == 2) && len(reply) == 3:
		v, ok := reply[2].(string)
		if !ok {
			return st, fmt.Errorf("a value of type %T", reply[2])
		}
		st.Value = []byte(v) // never nil, even when empty
		st.Busy = code == 2
		return st, nil
	}
	return st, fmt.Errorf("code %d with %d elements", code, len(reply))
}

// Unstage removes, for each item, the key's queued value if its sequence
// number is still item.Seq, keeping the number under [Store.QueuedKey]
// for [l2.StageMemory], and then gives the key's value expiry item.TTL
// (rounded up to whole milliseconds) with PEXPIRE when it holds the
// queued bytes, or deletes it when item.TTL is not positive; it ends
// token's claim on each key either way. See [l2.Stager]. An item with Seq
// 0 only ends the claim: no queued value has number 0.
//
// Each item takes one call of a Lua script, sent as Stage sends its calls.
// No items, no round trip. Key faults are reported as Stage reports them;
// a key whose value held another type is deleted with its lease, as Lease
// does, and its queued value and claim are left as they were.
func (s *Store) Unstage(ctx context.Context, token l2.Token, items []l2.UnstageItem) error {
	memory := millis(l2.StageMemory)
	calls := make([]call, len(items))
	for i, it := range items {
		calls[i] = scriptCall(unstageScript, s.stageKeys(it.Key), token[:], redislua.Seq(it.Seq), millis(max(it.TTL, 0)), memory)
	}
	s.send(ctx, calls)
	b := s.batch("unstage")
	for i := range calls {
		if err := calls[i].reply().Err(); err != nil {
			b.fail(ctx, err, []int{i}, calls[i].keys[:2]...)
		}
	}
	return b.end(ctx)
}
