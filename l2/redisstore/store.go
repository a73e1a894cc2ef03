package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/l2"
)

var _ l2.Store = (*Store)(nil)

// Store is an [l2.Store] over a go-redis client. Create it with [New]; it is
// safe for concurrent use. It does not own the client: closing the client is
// the caller's job, after which operations fail with [l2.ErrClosed].
//
// A Store and its views implement every optional interface of l2
// ([Store.Abilities] is [l2.All]): [l2.Namespacer], [l2.Conditional],
// [l2.Leaser], [l2.Tagger] and [l2.PrefixDeleter]. The index of tag T is a
// Redis set of keys (in the form given to the Store or view), stored under
// "{" + prefix + "|tag|" + T + "}" for the Store and
// "{" + prefix + ns + "|tag|" + T + "}" for the view Namespace(ns)
// ([Store.TagKey]). Since namespaces hold no '|' (the tiered cache's names
// hold none), keys of the Store itself whose first '|' starts "|tag|"
// ("|tag|x", "ns|tag|x") are reserved for tag indexes: do not write them;
// DeletePrefix skips them. The Store and its view Namespace("") share their
// tag indexes.
type Store struct {
	client redis.UniversalClient
	base   string // Options.Prefix, or DefaultPrefix
	prefix string // base for the store, base + ns + ":" for the view ns
	tags   string // base + "|tag|" for the store, base + ns + "|tag|" for the view ns
	topo   topology
	// reload asks a Cluster client to reload its slot map (see wrap); nil
	// for other clients.
	reload func(context.Context)
}

// topology is how the Store batches multi-key operations.
type topology uint8

const (
	// oneNode: every key lives on one server (*redis.Client, including a
	// Sentinel failover client), so one command serves any set of keys.
	oneNode topology = iota
	// cluster: one command per hash slot, all of them in one pipeline that
	// go-redis splits per node and sends to the nodes in parallel.
	cluster
	// perKey: an unknown sharding (*redis.Ring, wrappers): one command per
	// key in one pipeline, which the client routes key by key.
	perKey
)

// New returns a Store that keeps its values in the Redis behind client, which
// may be a *redis.Client (one node, or Sentinel through
// redis.NewFailoverClient), a *redis.ClusterClient or a *redis.Ring. opts
// may be nil; New does not keep it.
//
// New panics when client is nil or when opts.Prefix contains '}'.
func New(client redis.UniversalClient, opts *Options) *Store {
	if client == nil {
		panic("redisstore: New: nil client")
	}
	prefix := DefaultPrefix
	if opts != nil && opts.Prefix != "" {
		prefix = opts.Prefix
	}
	if strings.Contains(prefix, "}") {
		panic(fmt.Sprintf("redisstore: New: Prefix %q contains '}'", prefix))
	}
	s := &Store{client: client, base: prefix, prefix: prefix, tags: prefix + tagInfix, topo: perKey}
	switch c := client.(type) {
	case *redis.Client:
		s.topo = oneNode
	case *redis.ClusterClient:
		s.topo = cluster
		s.reload = c.ReloadState
	}
	return s
}

// Key returns the Redis key that holds the value of the logical key:
// "{" + prefix + key + "}". The whole key is a Cluster hash tag, so that keys
// derived from it later by appending a suffix ("{tc:user:42}:lease") live in
// the same slot. See the package documentation.
func (s *Store) Key(key string) string {
	return "{" + s.prefix + key + "}"
}

// Get returns the value stored under key, or [l2.ErrMiss].
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.client.Get(ctx, s.Key(key)).Bytes()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return nil, l2.ErrMiss
		}
		return nil, s.wrap(ctx, "get", err)
	}
	if b == nil {
		b = []byte{} // an empty value is a hit
	}
	return b, nil
}

// GetMany returns the values of keys, in their order, with nil for misses.
// It makes one round trip per node: one MGET on a single node, one MGET per
// hash slot in one pipeline on a Cluster, one GET per key in one pipeline on
// a Ring. No keys, no round trip.
func (s *Store) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	vals := make([][]byte, len(keys))
	if len(keys) == 0 {
		return vals, nil
	}
	rkeys := s.redisKeys(keys)

	if s.topo == perKey {
		cmds := make([]*redis.StringCmd, len(rkeys))
		for i, k := range rkeys {
			cmds[i] = redis.NewStringCmd(ctx, "get", k)
		}
		exec(ctx, s, cmds)
		for i, cmd := range cmds {
			b, err := cmd.Bytes()
			switch {
			case errors.Is(err, redis.Nil):
			case err != nil:
				return nil, s.wrap(ctx, "getmany", err)
			case b == nil:
				vals[i] = []byte{}
			default:
				vals[i] = b
			}
		}
		return vals, nil
	}

	groups := s.groups(rkeys)
	for g, cmd := range sendGrouped(ctx, s, redis.NewSliceCmd, "mget", rkeys, groups) {
		res, err := cmd.Result()
		if err != nil {
			return nil, s.wrap(ctx, "getmany", err)
		}
		if len(res) != len(groups[g]) {
			return nil, fmt.Errorf("redisstore: getmany: MGET of %d keys returned %d values", len(groups[g]), len(res))
		}
		for j, v := range res {
			switch v := v.(type) {
			case nil:
			case string:
				vals[groups[g][j]] = []byte(v) // never nil, even for ""
			default:
				return nil, fmt.Errorf("redisstore: getmany: unexpected MGET value of type %T", v)
			}
		}
	}
	return vals, nil
}

// Set stores value under key with SET PX for ttl, which must be positive; a
// ttl that is not a whole number of milliseconds is rounded up.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("redisstore: set: ttl must be positive, got %v", ttl)
	}
	if err := s.client.Process(ctx, s.setCmd(ctx, key, value, ttl)); err != nil {
		return s.wrap(ctx, "set", err)
	}
	return nil
}

// SetMany stores every item with one SET PX each, all in one pipeline, which
// a Cluster client splits per node. It checks every TTL first and writes
// nothing when one is not positive. On another error some items may have
// been written.
func (s *Store) SetMany(ctx context.Context, items []l2.Item) error {
	for i := range items {
		if items[i].TTL <= 0 {
			return fmt.Errorf("redisstore: setmany: item %d: ttl must be positive, got %v", i, items[i].TTL)
		}
	}
	if len(items) == 0 {
		return nil
	}
	cmds := make([]*redis.StatusCmd, len(items))
	for i, it := range items {
		cmds[i] = s.setCmd(ctx, it.Key, it.Value, it.TTL)
	}
	exec(ctx, s, cmds)
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			return s.wrap(ctx, "setmany", err)
		}
	}
	return nil
}

// Delete removes the keys with UNLINK (the memory is freed in the
// background): one command on a single node, one per hash slot in one
// pipeline on a Cluster, one per key in one pipeline on a Ring. No keys, no
// round trip.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := s.unlink(ctx, s.redisKeys(keys)); err != nil {
		return s.wrap(ctx, "delete", err)
	}
	return nil
}

// unlink removes the Redis keys rkeys, batched as Delete documents, and
// returns the first error.
func (s *Store) unlink(ctx context.Context, rkeys []string) error {
	for _, cmd := range sendGrouped(ctx, s, redis.NewIntCmd, "unlink", rkeys, s.groups(rkeys)) {
		if err := cmd.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) setCmd(ctx context.Context, key string, value []byte, ttl time.Duration) *redis.StatusCmd {
	if value == nil {
		value = []byte{}
	}
	return redis.NewStatusCmd(ctx, "set", s.Key(key), value, "px", millis(ttl))
}

// millis returns ttl in whole milliseconds, rounded up.
func millis(ttl time.Duration) int64 {
	ms := int64(ttl / time.Millisecond)
	if ttl%time.Millisecond != 0 {
		ms++
	}
	return ms
}

func (s *Store) redisKeys(keys []string) []string {
	rkeys := make([]string, len(keys))
	for i, k := range keys {
		rkeys[i] = s.Key(k)
	}
	return rkeys
}

// groups splits the indexes of rkeys into the groups that one command may
// serve: all of them on one node, one group per hash slot on a Cluster, one
// per key otherwise. The groups share one backing array.
func (s *Store) groups(rkeys []string) [][]int {
	order := make([]int, len(rkeys))
	for i := range order {
		order[i] = i
	}
	switch s.topo {
	case oneNode:
		return [][]int{order}
	case cluster:
		slots := make([]uint16, len(rkeys))
		for i, k := range rkeys {
			slots[i] = keySlot(k)
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(slots[a], slots[b]) })
		var groups [][]int
		start := 0
		for i := 1; i <= len(order); i++ {
			if i == len(order) || slots[order[i]] != slots[order[start]] {
				groups = append(groups, order[start:i:i])
				start = i
			}
		}
		return groups
	default:
		groups := make([][]int, len(order))
		for i := range order {
			groups[i] = order[i : i+1 : i+1]
		}
		return groups
	}
}

var _ l2.Namespacer = (*Store)(nil)

// Namespace returns a view of s whose key k is s's key ns + ":" + k, stored
// under "{" + prefix + ns + ":" + k + "}" with one allocation. Its tag
// indexes are "{" + prefix + ns + "|tag|" + tag + "}" (see [Store.TagKey]).
// The view shares s's client. It panics when ns contains '{' or '}', like
// New.
func (s *Store) Namespace(ns string) l2.Store {
	if strings.ContainsAny(ns, "{}") {
		panic(fmt.Sprintf("redisstore: Namespace: %q contains a brace", ns))
	}
	v := *s
	v.prefix = s.prefix + ns + ":"
	v.tags = s.prefix + ns + tagInfix
	return &v
}

// Abilities returns [l2.All]: a Store and each of its views implement
// every optional interface of l2 (see the package documentation).
func (s *Store) Abilities() l2.Ability { return l2.All }
