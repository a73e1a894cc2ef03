package rueidisstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/tiercache/tiercache/internal/rediskey"
	"github.com/tiercache/tiercache/internal/redislua"
	"github.com/tiercache/tiercache/l2"
)

var _ l2.Tagger = (*Store)(nil)

// tagScript is l2/redisstore's: see redislua.Tag.
var tagScript = newScript(redislua.Tag)

// TagKey returns the Redis key of the index of tag, as in l2/redisstore:
// "{" + prefix + "|tag|" + tag + "}:tags" for the Store, "{" + prefix + ns
// + "|tag|" + tag + "}:tags" for the view Namespace(ns). It never equals
// the key of a value or of a lease, whatever the tag and the key. The
// Store and its view Namespace("") share their tag indexes.
func (s *Store) TagKey(tag string) string {
	return "{" + s.tags + tag + "}" + rediskey.TagSuffix
}

// Tag adds every key of keys to the index of every tag of tags, and makes
// each index live at least ttl (which must be positive, rounded up to whole
// milliseconds) from now, never shortening its lifetime (see [l2.Tagger]).
// No tags or no keys: no round trip.
//
// Each tag takes one call of redislua.Tag (SADD, PTTL, PEXPIRE) on its
// own key, all of them sent together (each to its slot's node on a
// Cluster), with EVALSHA, then EVAL for the calls a server answered
// NOSCRIPT. On error some indexes may have been updated.
//
// An index that holds another type than a set (WRONGTYPE) holds nothing the
// store wrote: Tag deletes it and runs that tag's script once more, in two
// more round trips (UNLINK, then the script). When the calls that failed
// all failed with WRONGTYPE again, the other tags' indexes are updated and
// the error is an [*l2.KeyFaults] of the failed tags.
func (s *Store) Tag(ctx context.Context, tags, keys []string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("rueidisstore: tag: ttl must be positive, got %v", ttl)
	}
	if len(tags) == 0 || len(keys) == 0 {
		return nil
	}
	args := make([]string, 1+len(keys))
	args[0] = millisArg(ttl)
	copy(args[1:], keys)
	calls := make([]call, len(tags))
	for i, tag := range tags {
		calls[i] = call{keys: []string{s.TagKey(tag)}, args: args}
	}
	res := s.run(ctx, tagScript, calls)

	var redo []int
	for i, r := range res {
		if isWrongType(r.Error()) {
			redo = append(redo, i)
		}
	}
	if len(redo) > 0 {
		broken := make([]string, len(redo))
		again := make([]call, len(redo))
		for j, i := range redo {
			broken[j] = calls[i].keys[0]
			again[j] = calls[i]
		}
		s.unlink(ctx, broken) // the script tells whether it worked
		for j, r := range s.run(ctx, tagScript, again) {
			res[redo[j]] = r
		}
	}

	var faults *l2.KeyFaults
	for i, r := range res {
		err := r.Error()
		switch {
		case err == nil:
		case !isWrongType(err):
			return wrap("tag", err)
		case faults == nil:
			faults = &l2.KeyFaults{Index: []int{i}, Err: wrap("tag", err)}
		default:
			faults.Index = append(faults.Index, i)
		}
	}
	if faults != nil {
		return faults
	}
	return nil
}

// PopTagged removes up to count (which must be positive) random keys from
// the index of tag with SPOP and returns them: none when the index is empty
// or absent. Redis deletes the set once it is empty. An index that holds
// another type than a set (WRONGTYPE) is deleted, and PopTagged returns an
// error wrapping [l2.ErrKeyFault]: the next call finds no index.
func (s *Store) PopTagged(ctx context.Context, tag string, count int) ([]string, error) {
	if count <= 0 {
		return nil, fmt.Errorf("rueidisstore: poptagged: count must be positive, got %d", count)
	}
	tk := s.TagKey(tag)
	keys, err := s.c.Do(ctx, s.c.B().Spop().Key(tk).Count(int64(count)).Build()).AsStrSlice()
	switch {
	case rueidis.IsRedisNil(err):
		return nil, nil
	case isWrongType(err):
		s.unlink(ctx, []string{tk})
		return nil, fmt.Errorf("rueidisstore: poptagged: %w: %w", l2.ErrKeyFault, err)
	case err != nil:
		return nil, wrap("poptagged", err)
	}
	return keys, nil
}

// isWrongType reports whether err is a WRONGTYPE reply, from the command
// itself or from a command that a script called ("WRONGTYPE ... script:
// ..." from Redis 7 on, "ERR Error running script ... WRONGTYPE ..."
// before): the key holds nothing the store wrote.
func isWrongType(err error) bool {
	reply, ok := rueidis.IsRedisErr(err)
	return ok && strings.Contains(reply.Error(), "WRONGTYPE")
}
