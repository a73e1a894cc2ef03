package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/tiercache/tiercache/internal/rediskey"
	"github.com/tiercache/tiercache/internal/redislua"
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
// both prefixes escaped) finds the keys, which their last bytes tell apart
// (see [Store]): values (ending with '}') are deleted and reported, leases
// (ending with "}:lease") deleted and not reported; tag indexes (ending
// with "}:tags"), the keys of queued values and their claims (ending with
// "}:queued" and "}:claim", see [Store.Stage]: a write not yet in the
// source of truth outlives its value) and keys of any other shape, which
// the store did not write, are left alone. A value key that holds a lease
// in place of a value (see GetLease) is deleted and not reported: the
// first bytes of each batch's value keys are read first (GETRANGE, in one
// round trip per node). Each batch is removed with UNLINK, batched as in
// Delete (one UNLINK per slot, in one pipeline, on a Cluster).
//
// SCAN may miss keys written while it runs, and a node that fails over
// during the walk may be skipped in part: a caller that needs every key gone
// runs DeletePrefix again. An UNLINK that fails with a key fault (a slot
// being migrated) does not stop the walk: its keys are neither deleted nor
// reported, and DeletePrefix returns an error wrapping [l2.ErrKeyFault] at
// the end.
func (s *Store) DeletePrefix(ctx context.Context, prefix string, count int, fn func(keys []string) error) error {
	if count <= 0 {
		return fmt.Errorf("redisstore: deleteprefix: count must be positive, got %d", count)
	}
	nodes, err := s.nodes(ctx)
	if err != nil {
		return s.wrap(ctx, "deleteprefix", err)
	}
	frame := "{" + s.prefix
	match := rediskey.EscapeGlob(frame+prefix) + "*"
	var fault error // the first key fault
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
				f, err := s.deleteBatch(ctx, frame, batch, fn)
				if err != nil {
					return err
				}
				if fault == nil {
					fault = f
				}
			}
			if next == 0 {
				break
			}
			cursor = next
		}
	}
	return fault
}

// deleteBatch unlinks the values and leases among the Redis keys rkeys
// that SCAN found, and reports the logical keys of the values to fn. frame
// is "{" + s.prefix, which every key of s starts with. When the UNLINKs
// that failed all failed with a key fault, it reports the values of the
// others and returns the first fault (wrapping l2.ErrKeyFault) as fault;
// err is fn's error or another error of an UNLINK.
func (s *Store) deleteBatch(ctx context.Context, frame string, rkeys []string, fn func([]string) error) (fault, err error) {
	doomed := make([]string, 0, len(rkeys))
	for _, rk := range rkeys {
		if k := rediskey.KindOf(rk); strings.HasPrefix(rk, frame) && (k == rediskey.Value || k == rediskey.Lease) {
			doomed = append(doomed, rk)
		}
	}
	if len(doomed) == 0 {
		return nil, nil
	}
	leases := s.placeholders(ctx, doomed)
	b := s.batch("deleteprefix")
	s.unlink(ctx, b, doomed)
	var faults *l2.KeyFaults
	uerr := b.end(ctx)
	if uerr != nil && !errors.As(uerr, &faults) {
		return nil, uerr
	}
	failed := l2.Faulted(uerr)
	var keys []string
	for i, rk := range doomed {
		if rediskey.KindOf(rk) == rediskey.Value && !failed[i] && !leases[i] {
			keys = append(keys, rk[len(frame):len(rk)-1])
		}
	}
	if len(keys) > 0 && fn != nil {
		if err := fn(keys); err != nil {
			return nil, err
		}
	}
	if faults != nil {
		return faults.Err, nil
	}
	return nil, nil
}

// placeholders reports which of the keys rkeys are value keys that hold a
// lease in place of a value (see GetLease): they are deleted, but not
// reported as keys. It reads the first bytes of each value key, in one
// round trip per node; a key it cannot read counts as a value.
func (s *Store) placeholders(ctx context.Context, rkeys []string) []bool {
	cmds := make([]*redis.StringCmd, len(rkeys))
	for i, rk := range rkeys {
		if rediskey.KindOf(rk) == rediskey.Value {
			cmds[i] = redis.NewStringCmd(ctx, "getrange", rk, 0, redislua.LeaseLen)
		}
	}
	sent := slices.DeleteFunc(slices.Clone(cmds), func(c *redis.StringCmd) bool { return c == nil })
	exec(ctx, s, sent)
	leases := make([]bool, len(rkeys))
	for i, cmd := range cmds {
		if cmd != nil {
			b, err := cmd.Bytes()
			leases[i] = err == nil && redislua.IsLease(b)
		}
	}
	return leases
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
