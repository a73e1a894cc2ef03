package rueidisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/tiercache/tiercache/internal/rediskey"
	"github.com/tiercache/tiercache/internal/redislua"
	"github.com/tiercache/tiercache/l2"
)

var (
	_ l2.Store      = (*Store)(nil)
	_ l2.Namespacer = (*Store)(nil)
	_ l2.Capacity   = (*Store)(nil)
)

// DefaultPrefix is the prefix of every key when Options.Prefix is empty:
// the same as l2/redisstore's.
const DefaultPrefix = "tc:"

// Options configures a Store. The zero value is valid.
type Options struct {
	// Prefix starts every Redis key of the store, followed by ':' when it
	// does not end with one. It must not contain '}'. Default
	// DefaultPrefix.
	Prefix string
}

// Store is an l2.Store on a rueidis client. It is safe for concurrent
// use; it does not own the client (Close it yourself).
type Store struct {
	c      rueidis.Client
	prefix string // Options.Prefix, ending with ':', + the view's ns + ':'
	tags   string // Options.Prefix, ending with ':', + "|tag|"; + ns + "|tag|" for the view ns (see TagKey)
}

// New returns a Store on client. It panics when client is nil or the
// prefix contains '}'. Turn rueidis's client-side cache off
// (ClientOption.DisableCache) unless other code of yours uses it: the
// tiered cache keeps its own L1.
func New(client rueidis.Client, opts *Options) *Store {
	if client == nil {
		panic("rueidisstore: New: nil client")
	}
	prefix := DefaultPrefix
	if opts != nil && opts.Prefix != "" {
		prefix = opts.Prefix
	}
	if strings.Contains(prefix, "}") {
		panic(fmt.Sprintf("rueidisstore: New: Prefix %q contains '}'", prefix))
	}
	if !strings.HasSuffix(prefix, ":") {
		prefix += ":"
	}
	return &Store{c: client, prefix: prefix, tags: prefix + rediskey.TagInfix}
}

// Key returns the Redis key that holds the value of the logical key:
// "{" + prefix + key + "}", a Cluster hash tag, as in l2/redisstore.
func (s *Store) Key(key string) string { return "{" + s.prefix + key + "}" }

// LeaseKey returns the Redis key that holds the lease of the logical key
// while the key holds a value: Key(key) + ":lease".
func (s *Store) LeaseKey(key string) string { return s.Key(key) + rediskey.LeaseSuffix }

// PipelinedCapacity is what [Store.Capacity] returns: rueidis pipelines
// every command on its connections, so calls wait in its pipeline, not for
// a connection. The same as l2/redisstore's PipelinedCapacity.
const PipelinedCapacity = 256

// Capacity returns how many calls the Store serves at once before they
// wait inside it ([l2.Capacity]), which the tiered cache's MaxL2Calls
// defaults to: PipelinedCapacity whatever the client, since rueidis
// pipelines.
func (s *Store) Capacity() int { return PipelinedCapacity }

// Namespace returns a view of the store in which key k is the key
// ns + ":" + k of the store (see l2.Namespacer), and whose tag indexes are
// "{" + prefix + ns + "|tag|" + tag + "}:tags" (see [Store.TagKey]). ns
// must not contain '{' or '}', nor '|', or the indexes of two namespaces
// could meet.
func (s *Store) Namespace(ns string) l2.Store {
	if strings.ContainsAny(ns, "{}") {
		panic(fmt.Sprintf("rueidisstore: Namespace: %q contains a brace", ns))
	}
	return &Store{c: s.c, prefix: s.prefix + ns + ":", tags: s.prefix + ns + rediskey.TagInfix}
}

// Abilities declares Namespacer, Conditional, Leaser, LeaseReader,
// Tagger, PrefixDeleter and Stager: every optional interface of l2, as
// l2/redisstore.
func (s *Store) Abilities() l2.Ability {
	return l2.Namespaces | l2.ConditionalWrites | l2.Leases | l2.LeaseReads | l2.Tags | l2.Prefixes | l2.Staging
}

// Get returns the value stored under key, or l2.ErrMiss (also while the
// key holds a lease in place of a value).
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.c.Do(ctx, s.c.B().Get().Key(s.Key(key)).Build()).AsBytes()
	switch {
	case rueidis.IsRedisNil(err):
		return nil, l2.ErrMiss
	case err != nil:
		return nil, wrap("get", err)
	case redislua.IsLease(b):
		return nil, l2.ErrMiss
	}
	return value(b), nil
}

// GetMany returns the values of keys, in their order, with nil for misses:
// one MGET per hash slot (rueidis.MGet), sent together.
func (s *Store) GetMany(ctx context.Context, keys []string) ([][]byte, error) {
	vals := make([][]byte, len(keys))
	if len(keys) == 0 {
		return vals, nil
	}
	rkeys := make([]string, len(keys))
	for i, k := range keys {
		rkeys[i] = s.Key(k)
	}
	got, err := rueidis.MGet(s.c, ctx, rkeys)
	if err != nil {
		return nil, wrap("getmany", err)
	}
	var handed map[string]bool // keys whose bytes a slot holds: a duplicate gets a copy
	for i, rk := range rkeys {
		m, ok := got[rk]
		if !ok {
			continue
		}
		b, err := m.AsBytes()
		if rueidis.IsRedisNil(err) || err != nil || redislua.IsLease(b) {
			continue // nil: a miss; another type: MGET answers nil too
		}
		if handed[rk] {
			b = slices.Clone(b)
		} else if len(keys) > 1 {
			if handed == nil {
				handed = make(map[string]bool, len(keys))
			}
			handed[rk] = true
		}
		vals[i] = value(b)
	}
	return vals, nil
}

// Set stores value under key with SET PX for ttl, which must be positive.
func (s *Store) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("rueidisstore: set: ttl must be positive, got %v", ttl)
	}
	return wrap("set", s.c.Do(ctx, s.setCmd(key, v, ttl)).Error())
}

// SetMany stores every item with one SET PX each, sent together. It
// checks every TTL first and writes nothing when one is not positive.
func (s *Store) SetMany(ctx context.Context, items []l2.Item) error {
	for i := range items {
		if items[i].TTL <= 0 {
			return fmt.Errorf("rueidisstore: setmany: item %d: ttl must be positive, got %v", i, items[i].TTL)
		}
	}
	cmds := make(rueidis.Commands, len(items))
	for i, it := range items {
		cmds[i] = s.setCmd(it.Key, it.Value, it.TTL)
	}
	return firstErr("setmany", s.c.DoMulti(ctx, cmds...))
}

// Delete removes the keys, with one UNLINK each, sent together.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	rkeys := make([]string, len(keys))
	for i, k := range keys {
		rkeys[i] = s.Key(k)
	}
	return firstErr("delete", s.unlink(ctx, rkeys))
}

// unlink removes the Redis keys rkeys, one UNLINK each, sent together
// (each to its slot's node on a Cluster), and returns their results.
func (s *Store) unlink(ctx context.Context, rkeys []string) []rueidis.RedisResult {
	cmds := make(rueidis.Commands, len(rkeys))
	for i, rk := range rkeys {
		cmds[i] = s.c.B().Unlink().Key(rk).Build()
	}
	return s.c.DoMulti(ctx, cmds...)
}

func (s *Store) setCmd(key string, v []byte, ttl time.Duration) rueidis.Completed {
	return s.c.B().Set().Key(s.Key(key)).Value(rueidis.BinaryString(v)).PxMilliseconds(millis(ttl)).Build()
}

// value returns b, or an empty non-nil slice for an empty value (a hit).
func value(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// millis returns ttl in whole milliseconds, rounded up.
func millis(ttl time.Duration) int64 {
	ms := int64(ttl / time.Millisecond)
	if ttl%time.Millisecond != 0 {
		ms++
	}
	return ms
}

func millisArg(ttl time.Duration) string { return strconv.FormatInt(millis(ttl), 10) }

// wrap names the operation in err, translates a closed client to
// l2.ErrClosed and a reply about the key (WRONGTYPE) to l2.ErrKeyFault.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, rueidis.ErrClosing):
		return fmt.Errorf("rueidisstore: %s: %w: %w", op, l2.ErrClosed, err)
	case strings.HasPrefix(err.Error(), "WRONGTYPE"):
		return fmt.Errorf("rueidisstore: %s: %w: %w", op, l2.ErrKeyFault, err)
	}
	return fmt.Errorf("rueidisstore: %s: %w", op, err)
}

// firstErr returns the first error of results, wrapped.
func firstErr(op string, results []rueidis.RedisResult) error {
	for _, r := range results {
		if err := r.Error(); err != nil && !rueidis.IsRedisNil(err) {
			return wrap(op, err)
		}
	}
	return nil
}
