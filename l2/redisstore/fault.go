package redisstore

import (
	"context"
	"errors"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
)

// batch gathers the errors of the commands of one batch operation, and the
// keys to repair, and makes the operation's error (see end): the batch's
// results stand unless a command failed for a reason other than its keys.
type batch struct {
	s  *Store
	op string
	// index holds the positions (in the caller's keys, items or tags)
	// covered by a command that failed with a key fault; first is the
	// wrapped error of the lowest of them, at firstAt.
	index   []int
	first   error
	firstAt int
	// other is the first error, wrapped, that is not a key fault.
	other error
	// broken holds, for each key that held a wrong type, the Redis keys
	// to unlink: one UNLINK each.
	broken [][]string
}

func (s *Store) batch(op string) *batch {
	return &batch{s: s, op: op}
}

// fail records err, the error of a command sent with ctx that covered the
// positions pos. When err is WRONGTYPE, the Redis keys repair (a value's
// key and its lease's, or a tag index), which then hold nothing the store
// wrote, are unlinked by end.
func (b *batch) fail(ctx context.Context, err error, pos []int, repair ...string) {
	if len(repair) > 0 && isWrongType(err) {
		b.broken = append(b.broken, repair)
	}
	werr := b.s.wrap(ctx, b.op, err) // for every error: it may ask for a reload
	if !keyFault(err) {
		if b.other == nil {
			b.other = werr
		}
		return
	}
	for _, p := range pos {
		if b.first == nil || p < b.firstAt {
			b.first, b.firstAt = werr, p
		}
	}
	b.index = append(b.index, pos...)
}

// end repairs the broken keys and returns the operation's error: nil when
// no command failed, the first error that is not a key fault when there is
// one, else an *l2.KeyFaults of the failed positions.
func (b *batch) end(ctx context.Context) error {
	b.s.unlinkEach(ctx, b.broken)
	switch {
	case b.other != nil:
		return b.other
	case len(b.index) == 0:
		return nil
	}
	slices.Sort(b.index)
	return &l2.KeyFaults{Index: slices.Compact(b.index), Err: b.first}
}

// keep returns the results of a batch operation with its error: all of
// them when err is nil or an *l2.KeyFaults, none otherwise.
func keep[T any](results []T, err error) ([]T, error) {
	var faults *l2.KeyFaults
	if err != nil && !errors.As(err, &faults) {
		return nil, err
	}
	return results, err
}

// unlinkEach sends one UNLINK of each group of Redis keys (keys of one
// slot), all in one round trip per node, and ignores the replies: it
// repairs what it can, and the caller returns its own error anyway.
func (s *Store) unlinkEach(ctx context.Context, groups [][]string) {
	cmds := make([]*redis.IntCmd, len(groups))
	for i, keys := range groups {
		args := make([]any, 1+len(keys))
		args[0] = "unlink"
		for j, k := range keys {
			args[1+j] = k
		}
		cmds[i] = redis.NewIntCmd(ctx, args...)
	}
	exec(ctx, s, cmds)
}
