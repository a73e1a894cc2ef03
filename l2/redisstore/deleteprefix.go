package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
)

var _ l2.PrefixDeleter = (*Store)(nil)

// DeletePrefix deletes every key of s that starts with prefix ("" for every
// key of the store or view) and calls fn, unless it is nil, with each batch
// of deleted keys (in the form given to Get) after deleting it. fn's error
// stops the walk and is returned as is. count, which must be positive, is
// both the COUNT hint of SCAN and the largest batch.
//
// It walks the keyspace of every node that holds keys, one node after the
// other: the client itself on a single node, every master of a Cluster
// (ClusterClient.ForEachMaster), every live shard of a Ring
// (Ring.ForEachShard); it returns an error for other clients. On each node,
// SCAN MATCH "{" + prefix of s + prefix + "*" (with the glob characters of
// both prefixes escaped) finds the keys; each batch is then removed with
// UNLINK, batched as in Delete (one UNLINK per slot, in one pipeline, on a
// Cluster). Tag indexes are left alone. Keys derived from a value's key
// ("{tc:user:42}:lease") are deleted with it but not reported.
//
// SCAN may miss keys written while it runs, and a node that fails over
// during the walk may be skipped in part: a caller that needs every key gone
// runs DeletePrefix again.
func (s *Store) DeletePrefix(ctx context.Context, prefix string, count int, fn func(keys []string) error) error {
	if count <= 0 {
		return fmt.Errorf("redisstore: deleteprefix: count must be positive, got %d", count)
	}
	nodes, err := s.nodes(ctx)
	if err != nil {
		return s.wrap(ctx, "deleteprefix", err)
	}
	frame := "{" + s.prefix
	match := escapeGlob(frame+prefix) + "*"
	for _, node := range nodes {
		var cursor uint64
		for {
			rkeys, next, err := node.Scan(ctx, cursor, match, int64(count)).Result()
			if err != nil {
				return s.wrap(ctx, "deleteprefix", err)
			}
			for len(rkeys) > 0 {
				batch := rkeys[:min(count, len(rkeys))]
				rkeys = rkeys[len(batch):]
				if err := s.deleteBatch(ctx, frame, batch, fn); err != nil {
					return err
				}
			}
			if next == 0 {
				break
			}
			cursor = next
		}
	}
	return nil
}

// deleteBatch unlinks the Redis keys rkeys that SCAN found, except tag
// indexes, and reports the logical keys of the values among them to fn.
// frame is "{" + s.prefix, which every key of s starts with.
func (s *Store) deleteBatch(ctx context.Context, frame string, rkeys []string, fn func([]string) error) error {
	doomed := make([]string, 0, len(rkeys))
	var keys []string
	for _, rk := range rkeys {
		if !strings.HasPrefix(rk, frame) || s.isTagIndex(rk) {
			continue
		}
		doomed = append(doomed, rk)
		if strings.HasSuffix(rk, "}") {
			keys = append(keys, rk[len(frame):len(rk)-1])
		} // else a key derived from a value's key: deleted, not reported
	}
	if len(doomed) == 0 {
		return nil
	}
	if err := s.unlink(ctx, doomed); err != nil {
		return s.wrap(ctx, "deleteprefix", err)
	}
	if len(keys) > 0 && fn != nil {
		return fn(keys)
	}
	return nil
}

// isTagIndex reports whether the Redis key rk, which starts with "{" + the
// store's base prefix, is a tag index: its first '|' after the prefix starts
// "|tag|", since namespaces hold no '|', and it ends with the '}' of the
// frame.
func (s *Store) isTagIndex(rk string) bool {
	body := rk[len("{")+len(s.base):]
	i := strings.IndexByte(body, '|')
	return i >= 0 && strings.HasPrefix(body[i:], tagInfix) && strings.HasSuffix(body, "}")
}

// nodes returns a client for every node whose keyspace DeletePrefix walks.
func (s *Store) nodes(ctx context.Context) ([]*redis.Client, error) {
	var (
		mu    sync.Mutex
		nodes []*redis.Client
	)
	collect := func(_ context.Context, c *redis.Client) error {
		mu.Lock()
		nodes = append(nodes, c)
		mu.Unlock()
		return nil
	}
	switch c := s.client.(type) {
	case *redis.Client:
		return []*redis.Client{c}, nil
	case *redis.ClusterClient:
		if err := c.ForEachMaster(ctx, collect); err != nil {
			return nil, err
		}
	case *redis.Ring:
		if err := c.ForEachShard(ctx, collect); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("cannot walk the keyspace behind a %T", s.client)
	}
	return nodes, nil
}

// escapeGlob escapes the characters that SCAN MATCH and KEYS treat as a
// pattern (* ? [ ] \), so that the pattern matches s literally.
func escapeGlob(s string) string {
	const special = `*?[]\`
	if !strings.ContainsAny(s, special) {
		return s
	}
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(special, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
