package rueidisstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/redis/rueidis"

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
// other: every master of a Cluster (the nodes of client.Nodes() that
// answer "role:master" to INFO replication, or its only node), the client
// itself otherwise (standalone or Sentinel: its primary). On each node, SCAN MATCH "{" +
// prefix of s + prefix + "*" (with the glob characters of both prefixes
// escaped) finds the keys, which their last bytes tell apart, as in
// l2/redisstore: values (ending with '}') are deleted and reported, leases
// (ending with "}:lease") deleted and not reported; tag indexes (ending
// with "}:tags"), queued values and their claims (ending with "}:queued"
// and "}:claim": see Stage) and keys of any other shape, which the store
// did not write, are left alone. A value key that holds a lease in
// place of a value (see GetLease) is deleted and not reported: the first
// bytes of each batch's value keys are read first (GETRANGE, sent
// together). Each batch is removed as Delete removes keys (one UNLINK per
// key, sent together, each to its slot's node on a Cluster).
//
// SCAN may miss keys written while it runs, and a node that fails over
// during the walk may be skipped in part: a caller that needs every key gone
// runs DeletePrefix again. A node whose role INFO cannot tell fails the
// walk before it starts. An UNLINK that fails with a key fault does not stop
// the walk: its keys are neither deleted nor reported, and DeletePrefix
// returns an error wrapping [l2.ErrKeyFault] at the end.
func (s *Store) DeletePrefix(ctx context.Context, prefix string, count int, fn func(keys []string) error) error {
	if count <= 0 {
		return fmt.Errorf("rueidisstore: deleteprefix: count must be positive, got %d", count)
	}
	nodes, err := s.masters(ctx)
	if err != nil {
		return wrap("deleteprefix", err)
	}
	frame := "{" + s.prefix
	match := rediskey.EscapeGlob(frame+prefix) + "*"
	var fault error // the first key fault
	for _, node := range nodes {
		var cursor uint64
		for {
			scan := node.B().Scan().Cursor(cursor).Match(match).Count(int64(count)).Build()
			entry, err := node.Do(ctx, scan).AsScanEntry()
			if err != nil {
				return wrap("deleteprefix", err)
			}
			rkeys := entry.Elements
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
			if entry.Cursor == 0 {
				break
			}
			cursor = entry.Cursor
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
	unlinked := s.unlink(ctx, doomed)
	var keys []string
	for i, rk := range doomed {
		if err := unlinked[i].Error(); err != nil {
			werr := wrap("deleteprefix", err)
			if !errors.Is(werr, l2.ErrKeyFault) {
				return nil, werr
			}
			if fault == nil {
				fault = werr
			}
			continue
		}
		if rediskey.KindOf(rk) == rediskey.Value && !leases[i] {
			keys = append(keys, rk[len(frame):len(rk)-1])
		}
	}
	if len(keys) > 0 && fn != nil {
		if err := fn(keys); err != nil {
			return nil, err
		}
	}
	return fault, nil
}

// placeholders reports which of the keys rkeys are value keys that hold a
// lease in place of a value (see GetLease): they are deleted, but not
// reported as keys. It reads the first bytes of each value key, with one
// GETRANGE each, sent together; a key it cannot read counts as a value.
func (s *Store) placeholders(ctx context.Context, rkeys []string) []bool {
	var (
		cmds rueidis.Commands
		at   []int // the position in rkeys of each command's key
	)
	for i, rk := range rkeys {
		if rediskey.KindOf(rk) == rediskey.Value {
			cmds = append(cmds, s.c.B().Getrange().Key(rk).Start(0).End(int64(redislua.LeaseLen)).Build())
			at = append(at, i)
		}
	}
	leases := make([]bool, len(rkeys))
	for j, r := range s.c.DoMulti(ctx, cmds...) {
		b, err := r.AsBytes()
		leases[at[j]] = err == nil && redislua.IsLease(b)
	}
	return leases
}

// masters returns a client for every node whose keyspace DeletePrefix
// walks: the client itself, unless it is a Cluster client; the only node
// of a Cluster client that knows one (rueidis makes one for any server
// that answers CLUSTER SLOTS, miniredis included); else every node of the
// Cluster that says it is a master (INFO replication, one round trip per
// node). client.Nodes() lists the replicas too, whose keys are their
// masters': scanning them would report keys twice.
func (s *Store) masters(ctx context.Context) ([]rueidis.Client, error) {
	if s.c.Mode() != rueidis.ClientModeCluster {
		return []rueidis.Client{s.c}, nil
	}
	all := s.c.Nodes()
	if len(all) == 1 {
		return slices.Collect(maps.Values(all)), nil
	}
	var masters []rueidis.Client
	for _, addr := range slices.Sorted(maps.Keys(all)) {
		node := all[addr]
		info, err := node.Do(ctx, node.B().Info().Section("replication").Build()).ToString()
		if err != nil {
			return nil, fmt.Errorf("role of %s: %w", addr, err)
		}
		if isMaster(info) {
			masters = append(masters, node)
		}
	}
	if len(masters) == 0 {
		return nil, fmt.Errorf("none of the %d nodes of the Cluster is a master", len(all))
	}
	return masters, nil
}

// isMaster reports whether info, the reply of INFO replication, says
// "role:master".
func isMaster(info string) bool {
	for line := range strings.Lines(info) {
		if strings.TrimSpace(line) == "role:master" {
			return true
		}
	}
	return false
}
