package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/rediskey"
	"github.com/tiercache/tiercache/internal/redislua"
	"github.com/tiercache/tiercache/l2"
)

var (
	_ l2.Store    = (*Store)(nil)
	_ l2.Capacity = (*Store)(nil)
)

// Store is an [l2.Store] over a go-redis client. Create it with [New]; it is
// safe for concurrent use. It does not own the client: closing the client is
// the caller's job, after which operations fail with [l2.ErrClosed].
//
// A Store and its views implement every optional interface of l2
// ([Store.Abilities] is [l2.All]): [l2.Namespacer], [l2.Conditional],
// [l2.Leaser], [l2.Tagger], [l2.PrefixDeleter] and [l2.Stager].
//
// Every Redis key of a Store ends in a way that tells its kind, whatever the
// logical key or tag: the value of key k is "{" + prefix + k + "}"
// ([Store.Key], ending with '}'), its lease that key + ":lease"
// ([Store.LeaseKey]), its queued value that key + ":queued"
// ([Store.QueuedKey]), the claim of its queued value that key + ":claim"
// ([Store.ClaimKey]), and the index of tag T, a Redis set of keys (in the
// form given to the Store or view), "{" + prefix + "|tag|" + T + "}:tags"
// for the Store and "{" + prefix + ns + "|tag|" + T + "}:tags" for the view
// Namespace(ns) ([Store.TagKey]). So every key string may be written,
// "|tag|x" included, and DeletePrefix never takes a tag index, a queued
// value or a claim for a value, nor a value for a tag index. Since namespaces hold no '|' (the tiered
// cache's names hold none), tag indexes of two namespaces never meet. The
// Store and its view Namespace("") share their tag indexes.
type Store struct {
	client redis.UniversalClient
	base   string // Options.Prefix, or DefaultPrefix, ending with ':'
	prefix string // base for the store, base + ns + ":" for the view ns
	tags   string // base + "|tag|" for the store, base + ns + "|tag|" for the view ns
	topo   topology
	// reload asks a Cluster client to reload its slot map (see wrap); nil
	// for other clients.
	reload func(context.Context)
	// capacity is what Capacity returns.
	capacity int
	// single sends the commands that go alone (not in a pipeline of the
	// Store's own): the client's AutoPipeliner (see
	// Options.NoAutoPipeline), or the client itself.
	single sender
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
// New appends ':' to a Prefix that does not end with one (see
// [Options.Prefix]). It panics when client is nil or when opts.Prefix
// contains '}'.
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
	if !strings.HasSuffix(prefix, ":") {
		prefix += ":"
	}
	s := &Store{client: client, base: prefix, prefix: prefix, tags: prefix + rediskey.TagInfix, topo: perKey}
	pipe := opts == nil || !opts.NoAutoPipeline
	switch c := client.(type) {
	case *redis.Client:
		s.topo = oneNode
		s.capacity = c.Options().PoolSize
		if pipe && !c.Options().ContextTimeoutEnabled {
			s.single = autoPipeliner(c, c.AutoPipeline)
		}
	case *redis.ClusterClient:
		s.topo = cluster
		s.reload = c.ReloadState
		s.capacity = c.Options().PoolSize
		// No AutoPipeliner on a Cluster yet: see Options.NoAutoPipeline.
	}
	if s.single == nil {
		s.single = client
	} else {
		s.capacity = max(s.capacity, PipelinedCapacity)
	}
	return s
}

// autoPipeliner returns a sender over client and the AutoPipeliner that
// newAP returns, or nil when the client cannot make one (its
// Options.AutoPipelineOptions are invalid).
func autoPipeliner(client sender, newAP func() (*redis.AutoPipeliner, error)) sender {
	ap, err := newAP()
	if err != nil || ap == nil {
		return nil
	}
	return piped{ap: ap, client: client, busy: new(atomic.Int64)}
}

// PipelinedCapacity is the least that Capacity returns for a Store that
// auto-pipelines (see Options.NoAutoPipeline): its commands wait in the
// AutoPipeliner's batches, not for a connection.
const PipelinedCapacity = 256

// Capacity returns how many calls the Store serves at once before they
// wait for a connection ([l2.Capacity]): the client's PoolSize (per node
// on a Cluster), or at least PipelinedCapacity when it auto-pipelines; 0
// for a Ring or another client, whose pool it does not know.
func (s *Store) Capacity() int { return s.capacity }

// Key returns the Redis key that holds the value of the logical key:
// "{" + prefix + key + "}". The whole key is a Cluster hash tag, so that keys
// derived from it later by appending a suffix ("{tc:user:42}:lease") live in
// the same slot. See the package documentation.
func (s *Store) Key(key string) string {
	return "{" + s.prefix + key + "}"
}

// Get returns the value stored under key, or [l2.ErrMiss] (also while the
// key holds a lease in place of a value: see GetLease). When the key
// holds another type than a string (WRONGTYPE), Get deletes it and its
// lease and returns an error wrapping [l2.ErrKeyFault]: the next Get
// misses.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	rk := s.Key(key)
	cmd := redis.NewStringCmd(ctx, "get", rk)
	_ = s.single.Process(ctx, cmd)
	b, err := cmd.Bytes()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return nil, l2.ErrMiss
		}
		if isWrongType(err) {
			s.unlinkEach(ctx, [][]string{{rk, rk + rediskey.LeaseSuffix}})
		}
		return nil, s.wrap(ctx, "get", err)
	}
	if _, ok := redislua.Holder(b); ok { // a lease, no value (see GetLease)
		return nil, l2.ErrMiss
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
//
// MGET answers nil for a key that holds another type than a string: a
// miss. When the commands that failed all failed with a key fault (an MGET
// refused during a slot migration, or a GET answered WRONGTYPE on a Ring,
// whose key and lease are then deleted), GetMany returns the values of the
// other keys and an [*l2.KeyFaults] of the keys those commands covered.
func (s *Store) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	vals := make([][]byte, len(keys))
	if len(keys) == 0 {
		return vals, nil
	}
	rkeys := s.redisKeys(keys)
	b := s.batch("getmany")

	if s.topo == perKey {
		cmds := make([]*redis.StringCmd, len(rkeys))
		for i, k := range rkeys {
			cmds[i] = redis.NewStringCmd(ctx, "get", k)
		}
		exec(ctx, s, cmds)
		for i, cmd := range cmds {
			v, err := cmd.Bytes()
			switch {
			case errors.Is(err, redis.Nil):
			case err != nil:
				b.fail(ctx, err, []int{i}, rkeys[i], rkeys[i]+rediskey.LeaseSuffix)
			case v == nil:
				vals[i] = []byte{}
			default:
				if _, ok := redislua.Holder(v); !ok {
					vals[i] = v
				}
			}
		}
		return keep(vals, b.end(ctx))
	}

	groups := s.groups(rkeys)
	for g, cmd := range sendGrouped(ctx, s, redis.NewSliceCmd, "mget", rkeys, groups) {
		res, err := cmd.Result()
		if err != nil {
			b.fail(ctx, err, groups[g])
			continue
		}
		if len(res) != len(groups[g]) {
			return nil, fmt.Errorf("redisstore: getmany: MGET of %d keys returned %d values", len(groups[g]), len(res))
		}
		for j, v := range res {
			switch v := v.(type) {
			case nil:
			case string:
				if b := stringBytes(v); !redislua.IsLease(b) {
					vals[groups[g][j]] = b
				}
			default:
				return nil, fmt.Errorf("redisstore: getmany: unexpected MGET value of type %T", v)
			}
		}
	}
	return keep(vals, b.end(ctx))
}

// Set stores value under key with SET PX for ttl, which must be positive; a
// ttl that is not a whole number of milliseconds is rounded up.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("redisstore: set: ttl must be positive, got %v", ttl)
	}
	if err := s.single.Process(ctx, s.setCmd(ctx, key, value, ttl)); err != nil {
		return s.wrap(ctx, "set", err)
	}
	return nil
}

// SetMany stores every item with one SET PX each, all in one pipeline, which
// a Cluster client splits per node. It checks every TTL first and writes
// nothing when one is not positive. On another error some items may have
// been written; when the SETs that failed all failed with a key fault, the
// error is an [*l2.KeyFaults] of their items, and the others were written.
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
	b := s.batch("setmany")
	for i, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			b.fail(ctx, err, []int{i})
		}
	}
	return b.end(ctx)
}

// Delete removes the keys with UNLINK (the memory is freed in the
// background): one command on a single node, one per hash slot in one
// pipeline on a Cluster, one per key in one pipeline on a Ring. No keys, no
// round trip. When the commands that failed all failed with a key fault (an
// UNLINK of a slot refused during its migration), the others' keys are
// deleted and the error is an [*l2.KeyFaults] of the keys those commands
// covered.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	b := s.batch("delete")
	s.unlink(ctx, b, s.redisKeys(keys))
	return b.end(ctx)
}

// unlink removes the Redis keys rkeys, batched as Delete documents, and
// hands b the error of each command that failed, with the positions in
// rkeys of the keys it covered.
func (s *Store) unlink(ctx context.Context, b *batch, rkeys []string) {
	groups := s.groups(rkeys)
	for g, cmd := range sendGrouped(ctx, s, redis.NewIntCmd, "unlink", rkeys, groups) {
		if err := cmd.Err(); err != nil {
			b.fail(ctx, err, groups[g])
		}
	}
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
// indexes are "{" + prefix + ns + "|tag|" + tag + "}:tags" (see
// [Store.TagKey]); ns must not contain '|', or the indexes of two
// namespaces could meet. The view shares s's client. It panics when ns
// contains '{' or '}', like New.
func (s *Store) Namespace(ns string) l2.Store {
	if strings.ContainsAny(ns, "{}") {
		panic(fmt.Sprintf("redisstore: Namespace: %q contains a brace", ns))
	}
	v := *s
	v.prefix = s.prefix + ns + ":"
	v.tags = s.prefix + ns + rediskey.TagInfix
	return &v
}

// Abilities returns [l2.All]: a Store and each of its views implement
// every optional interface of l2 (see the package documentation).
func (s *Store) Abilities() l2.Ability { return l2.All }

// stringBytes returns the bytes of an MGET value without copying them:
// never nil, even for "" (an empty value is a hit). go-redis hands each
// value over as a string that nothing else refers to once the command is
// dropped, and its own StringCmd.Bytes returns a GET's value the same way,
// so the slice is the caller's. A copy would double what reading a large
// value costs.
func stringBytes(s string) []byte {
	if len(s) == 0 {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
