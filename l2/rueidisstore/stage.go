package rueidisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/tiercache/tiercache/internal/rediskey"
	"github.com/tiercache/tiercache/internal/redislua"
	"github.com/tiercache/tiercache/l2"
)

var _ l2.Stager = (*Store)(nil)

// The scripts of Stage, Claim and Unstage, shared with l2/redisstore: see
// redislua's Stage, Claim and Unstage for their keys, arguments and
// answers.
var (
	stageScript   = newScript(redislua.Stage)
	claimScript   = newScript(redislua.Claim)
	unstageScript = newScript(redislua.Unstage)
)

// QueuedKey returns the Redis key that holds the queued value of the
// logical key (see [l2.Stager]): Key(key) + ":queued", in the same hash
// slot as the value, as in l2/redisstore. It is a string without expiry,
// "q" + the sequence number in 20 decimal digits + the queued value, while
// a value is queued; after Unstage, "r" + the number, which lives
// [l2.StageMemory]. Lease and SetLeased read it too.
func (s *Store) QueuedKey(key string) string { return s.Key(key) + rediskey.QueuedSuffix }

// ClaimKey returns the Redis key that holds the claim of the logical key's
// queued value (see [l2.Stager.Claim]): Key(key) + ":claim", in the same
// hash slot as the value, as in l2/redisstore. It holds the claiming token
// and lives as long as the claim.
func (s *Store) ClaimKey(key string) string { return s.Key(key) + rediskey.ClaimSuffix }

// stageKeys returns the keys of the stage scripts for the logical key: the
// value's, the lease's, the queued value's and the claim's.
func (s *Store) stageKeys(key string) []string {
	rk := s.Key(key)
	return []string{rk, rk + rediskey.LeaseSuffix, rk + rediskey.QueuedSuffix, rk + rediskey.ClaimSuffix}
}

// Stage stores, for each item, its value as the key's queued value under
// [Store.QueuedKey], and as the key's value without expiry, and deletes the
// key's lease, unless the key holds or remembers a sequence number >=
// item.Seq; see [l2.Stager]. A Seq of 0 takes the key's number + 1 (a key
// whose number is already the largest uint64 refuses it). It returns per
// item the sequence number stored, 0 for a refused item.
//
// Each item takes one call of redislua.Stage on the value's key, its
// lease's and its queued key, all of them sent together (each to its
// slot's node on a Cluster), with EVALSHA, then EVAL for the calls a server
// answered NOSCRIPT. No items, no round trip. When the calls that failed
// all failed with WRONGTYPE, Stage returns the numbers of the other items
// and an [*l2.KeyFaults] of the failed ones.
func (s *Store) Stage(ctx context.Context, items []l2.StageItem) ([]uint64, error) {
	calls := make([]call, len(items))
	for i, it := range items {
		calls[i] = call{keys: s.stageKeys(it.Key)[:3], args: []string{rueidis.BinaryString(it.Value), redislua.Seq(it.Seq)}}
	}
	seqs := make([]uint64, len(items))
	err := s.runStage(ctx, "stage", stageScript, calls, func(i int, r rueidis.RedisResult) error {
		str, err := r.ToString()
		if err == nil {
			seqs[i], err = redislua.ParseSeq(str)
		}
		return err
	})
	return keep(seqs, err)
}

// Claim returns each key's queued value and its sequence number (the
// remembered number, or 0, with a nil Value when none is queued), and
// claims each key that has a queued value for token for ttl (which must be
// positive, rounded up to whole milliseconds) under [Store.ClaimKey],
// unless another token's claim lives (Busy); see [l2.Stager].
//
// Each key takes one call of redislua.Claim, sent as Stage sends its
// calls. No keys, no round trip. Key faults are reported as Stage reports
// them.
func (s *Store) Claim(ctx context.Context, token l2.Token, ttl time.Duration, keys []string) ([]l2.Staged, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("rueidisstore: claim: ttl must be positive, got %v", ttl)
	}
	calls := make([]call, len(keys))
	for i, key := range keys {
		calls[i] = call{keys: s.stageKeys(key), args: []string{string(token[:]), millisArg(ttl)}}
	}
	res := make([]l2.Staged, len(keys))
	err := s.runStage(ctx, "claim", claimScript, calls, func(i int, r rueidis.RedisResult) error {
		arr, err := r.ToArray()
		if err == nil {
			res[i], err = staged(arr)
		}
		return err
	})
	return keep(res, err)
}

// staged decodes the reply of redislua.Claim.
func staged(arr []rueidis.RedisMessage) (l2.Staged, error) {
	var st l2.Staged
	if len(arr) < 2 {
		return st, fmt.Errorf("%d elements", len(arr))
	}
	code, err := arr[0].AsInt64()
	if err != nil {
		return st, err
	}
	seq, err := arr[1].ToString()
	if err != nil {
		return st, err
	}
	if st.Seq, err = redislua.ParseSeq(seq); err != nil {
		return st, err
	}
	switch {
	case code == 0 && len(arr) == 2:
		return st, nil
	case (code == 1 || code == 2) && len(arr) == 3:
		b, err := arr[2].AsBytes()
		if err != nil {
			return st, err
		}
		st.Value = value(b) // never nil, even when empty
		st.Busy = code == 2
		return st, nil
	}
	return st, fmt.Errorf("code %d with %d elements", code, len(arr))
}

// Unstage removes, for each item, the key's queued value if its sequence
// number is still item.Seq, keeping the number under [Store.QueuedKey] for
// [l2.StageMemory], and then gives the key's value expiry item.TTL
// (rounded up to whole milliseconds) with PEXPIRE when it holds the queued
// bytes, or deletes it when item.TTL is not positive; it ends token's claim
// on each key either way. See [l2.Stager]. An item with Seq 0 only ends
// the claim: no queued value has number 0.
//
// Each item takes one call of redislua.Unstage, sent as Stage sends its
// calls. No items, no round trip. Key faults are reported as Stage reports
// them; a key whose value held another type is deleted with its lease, and
// its queued value and claim are left as they were.
func (s *Store) Unstage(ctx context.Context, token l2.Token, items []l2.UnstageItem) error {
	memory := millisArg(l2.StageMemory)
	calls := make([]call, len(items))
	for i, it := range items {
		calls[i] = call{keys: s.stageKeys(it.Key),
			args: []string{string(token[:]), redislua.Seq(it.Seq), millisArg(max(it.TTL, 0)), memory}}
	}
	return s.runStage(ctx, "unstage", unstageScript, calls, func(int, rueidis.RedisResult) error { return nil })
}

// runStage runs the calls of sc, hands each reply that is not an error to
// decode with its position, and returns the operation's error, as
// l2/redisstore's Stage, Claim and Unstage make it:
//
//   - a call that failed with WRONGTYPE is a key fault of its position: its
//     value's key and lease's key (calls[i].keys[0] and [1]; the scripts
//     replace a queued key or a claim of another type themselves) hold
//     nothing the store wrote, and are unlinked (one UNLINK each, sent
//     together, replies ignored) before runStage returns;
//   - a reply that decode cannot read fails the operation, as does, after
//     that, any other error (the first one, wrapped);
//   - otherwise the error is nil, or an [*l2.KeyFaults] of the positions
//     that failed, whose results are left at their zero value.
//
// Only WRONGTYPE counts as a key fault, as for wrap: a script error of
// another kind fails the operation.
func (s *Store) runStage(ctx context.Context, op string, sc script, calls []call, decode func(i int, r rueidis.RedisResult) error) error {
	var (
		unexpected, other error
		faults            *l2.KeyFaults
		broken            []string
	)
	for i, r := range s.run(ctx, sc, calls) {
		err := r.Error()
		switch {
		case err == nil:
			if err := decode(i, r); err != nil && unexpected == nil {
				unexpected = fmt.Errorf("rueidisstore: %s: unexpected answer: %w", op, err)
			}
		case !isWrongType(err):
			if other == nil {
				other = wrap(op, err)
			}
		default:
			broken = append(broken, calls[i].keys[:2]...)
			if faults == nil {
				faults = &l2.KeyFaults{Err: wrap(op, err)}
			}
			faults.Index = append(faults.Index, i)
		}
	}
	if len(broken) > 0 {
		s.unlink(ctx, broken) // the next call on the key tells whether it worked
	}
	switch {
	case unexpected != nil:
		return unexpected
	case other != nil:
		return other
	case faults != nil:
		return faults
	}
	return nil
}

// keep returns the results of a batch operation with its error: all of
// them when err is nil or an [*l2.KeyFaults], none otherwise.
func keep[T any](results []T, err error) ([]T, error) {
	var faults *l2.KeyFaults
	if err != nil && !errors.As(err, &faults) {
		return nil, err
	}
	return results, err
}
