package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/rediskey"
	"github.com/tiercache/tiercache/internal/redislua"
	"github.com/tiercache/tiercache/l2"
)

var _ l2.Tagger = (*Store)(nil)

// tagScript is redislua.Tag, shared with l2/rueidisstore.
var tagScript = redis.NewScript(redislua.Tag)

// TagKey returns the Redis key of the index of tag: "{" + prefix + "|tag|" +
// tag + "}:tags" for the Store, "{" + prefix + ns + "|tag|" + tag + "}:tags"
// for the view Namespace(ns). It never equals the key of a value or of a
// lease, whatever the tag and the key. See [Store].
func (s *Store) TagKey(tag string) string {
	return "{" + s.tags + tag + "}" + rediskey.TagSuffix
}

// Tag adds every key of keys to the index of every tag of tags, and makes
// each index live at least ttl (which must be positive, rounded up to whole
// milliseconds) from now, never shortening its lifetime. No tags or no
// keys: no round trip.
//
// Each tag takes one call of a Lua script (SADD, PTTL, PEXPIRE) on its own
// key: one command for one tag, one pipeline for several, with EVALSHA,
// then EVAL for the calls a server answered NOSCRIPT. On error some indexes
// may have been updated.
//
// An index that holds another type than a set (WRONGTYPE) holds nothing the
// store wrote: Tag deletes it and runs that tag's script once more, in two
// more round trips (UNLINK, then the script). When the calls that failed all
// failed with a key fault (again, or during a slot migration), the other
// tags' indexes are updated and the error is an [*l2.KeyFaults] of the
// failed tags.
func (s *Store) Tag(ctx context.Context, tags, keys []string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("redisstore: tag: ttl must be positive, got %v", ttl)
	}
	if len(tags) == 0 || len(keys) == 0 {
		return nil
	}
	args := make([]any, 1+len(keys))
	args[0] = millis(ttl)
	for i, k := range keys {
		args[1+i] = k
	}
	calls := make([]call, len(tags))
	for i, tag := range tags {
		calls[i] = scriptCall(tagScript, []string{s.TagKey(tag)}, args...)
	}
	s.send(ctx, calls)
	var redo []int
	for i := range calls {
		if isWrongType(calls[i].cmd.Err()) {
			redo = append(redo, i)
		}
	}
	if len(redo) > 0 {
		broken := make([][]string, len(redo))
		again := make([]call, len(redo))
		for j, i := range redo {
			broken[j] = calls[i].keys
			again[j] = calls[i]
		}
		s.unlinkEach(ctx, broken)
		s.send(ctx, again)
		for j, i := range redo {
			calls[i] = again[j]
		}
	}
	b := s.batch("tag")
	for i := range calls {
		if err := calls[i].cmd.Err(); err != nil {
			b.fail(ctx, err, []int{i})
		}
	}
	return b.end(ctx)
}

// PopTagged removes up to count (which must be positive) random keys from
// the index of tag with SPOP and returns them: none when the index is empty
// or absent. Redis deletes the set once it is empty. An index that holds
// another type than a set (WRONGTYPE) is deleted, and PopTagged returns an
// error wrapping [l2.ErrKeyFault]: the next call finds no index.
func (s *Store) PopTagged(ctx context.Context, tag string, count int) ([]string, error) {
	if count <= 0 {
		return nil, fmt.Errorf("redisstore: poptagged: count must be positive, got %d", count)
	}
	tk := s.TagKey(tag)
	keys, err := s.client.SPopN(ctx, tk, int64(count)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		if isWrongType(err) {
			s.unlinkEach(ctx, [][]string{{tk}})
		}
		return nil, s.wrap(ctx, "poptagged", err)
	}
	return keys, nil
}
