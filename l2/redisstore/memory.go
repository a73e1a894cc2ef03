package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Roles of a node in [NodeMemory].Role.
const (
	RoleMaster  = "master"
	RoleReplica = "replica"
)

// NodeMemory is what one Redis server reports in INFO memory, stats and
// replication. A field that the server did not report, or reported in a
// form that is not a number, is zero (or "").
type NodeMemory struct {
	// Addr is the node's address as the client dials it: the Addr of its
	// redis.Options. For a Sentinel failover client (redis.NewFailoverClient),
	// which dials whatever master the sentinels name, it is go-redis's name
	// for that client, "FailoverClient".
	Addr string
	// Role is RoleMaster or RoleReplica (Redis's "slave" is normalised);
	// another role is kept as the server words it.
	Role string
	// Used and Peak are used_memory and used_memory_peak: the bytes that
	// Redis's allocator holds now, and the most it has held since the
	// server started.
	Used, Peak int64
	// MaxMemory is maxmemory, in bytes; 0 means no limit.
	MaxMemory int64
	// Policy is maxmemory_policy: what Redis does when Used reaches
	// MaxMemory ("volatile-lru", "allkeys-lru", "noeviction"...).
	Policy string
	// EvictedKeys and ExpiredKeys are evicted_keys and expired_keys: the
	// keys removed to make room, and those removed because they expired,
	// since the server started (or its statistics were reset).
	EvictedKeys, ExpiredKeys int64
}

// NodeError is the error of one node that [Memory] could not read. Memory
// returns one for each such node, joined (errors.Join) with the others;
// find them with errors.As, or by walking the joined errors.
type NodeError struct {
	// Addr is the node's address, as in [NodeMemory].Addr.
	Addr string
	// Err is the error of the node's INFO call.
	Err error
}

// Error names the node and its error.
func (e *NodeError) Error() string {
	if e.Err == nil {
		return "redisstore: memory of " + e.Addr + ": no answer"
	}
	return "redisstore: memory of " + e.Addr + ": " + e.Err.Error()
}

// Unwrap returns the error of the node's INFO call.
func (e *NodeError) Unwrap() error { return e.Err }

// infoSections are the sections of INFO that Memory asks for. Asking for
// several sections in one INFO takes Redis 7.0 or later.
var infoSections = []string{"memory", "stats", "replication"}

// Memory returns the memory of every server behind client, masters first,
// then by address: the one node of a *redis.Client (a Sentinel failover
// client, redis.NewFailoverClient, is one: the current master), every
// master and replica that a *redis.ClusterClient knows
// (ClusterClient.ForEachShard), or every shard of a *redis.Ring that the
// Ring does not hold for down (Ring.ForEachShard skips those). It returns
// an error for other clients.
//
// It sends one INFO memory stats replication (Redis 7.0 or later) to each
// node, in parallel on a Cluster or a Ring, bounded by ctx. The nodes that
// answered are returned even when others did not: the error then joins a
// [*NodeError] for each node that failed. When the nodes cannot be listed
// at all (a Cluster client that cannot load its slot map, a Ring whose
// shards are all down), no node is returned and the error says why. The
// Redis user needs the ACL rule +info.
func Memory(ctx context.Context, client redis.UniversalClient) ([]NodeMemory, error) {
	var (
		mu    sync.Mutex
		nodes []NodeMemory
		errs  []*NodeError
	)
	read := func(ctx context.Context, c *redis.Client) error {
		n, err := nodeMemory(ctx, c)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		} else {
			nodes = append(nodes, n)
		}
		return nil // the other nodes go on
	}
	var err error
	switch c := client.(type) {
	case *redis.Client:
		err = read(ctx, c)
	case *redis.ClusterClient:
		err = c.ForEachShard(ctx, read)
	case *redis.Ring:
		err = c.ForEachShard(ctx, read)
		if err == nil && len(nodes) == 0 && len(errs) == 0 {
			err = errors.New("every shard of the Ring is down")
		}
	default:
		err = fmt.Errorf("cannot list the nodes behind a %T", client)
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: memory: %w", err)
	}
	slices.SortFunc(nodes, func(a, b NodeMemory) int {
		return cmp.Or(cmp.Compare(roleOrder(a.Role), roleOrder(b.Role)), strings.Compare(a.Addr, b.Addr))
	})
	slices.SortFunc(errs, func(a, b *NodeError) int { return strings.Compare(a.Addr, b.Addr) })
	joined := make([]error, len(errs))
	for i, e := range errs {
		joined[i] = e
	}
	return nodes, errors.Join(joined...)
}

// nodeMemory sends INFO to the one node behind c.
func nodeMemory(ctx context.Context, c *redis.Client) (NodeMemory, *NodeError) {
	addr := c.Options().Addr
	text, err := c.Info(ctx, infoSections...).Result()
	if err != nil {
		return NodeMemory{}, &NodeError{Addr: addr, Err: err}
	}
	m := parseInfo(text)
	m.Addr = addr
	return m, nil
}

// roleOrder sorts masters before replicas, and both before other roles.
func roleOrder(role string) int {
	switch role {
	case RoleMaster:
		return 0
	case RoleReplica:
		return 1
	}
	return 2
}

// parseInfo reads the fields of NodeMemory (but Addr) from the text of an
// INFO reply: "key:value" lines, separated by "\r\n" (or "\n"), among
// "# Section" headers and blank lines. Headers, unknown keys and lines
// without ':' are skipped; a number that does not parse, or is negative,
// leaves its field zero. Strings are made valid UTF-8, so that they can be
// used as label values.
func parseInfo(text string) NodeMemory {
	var m NodeMemory
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch key {
		case "used_memory":
			m.Used = parseCount(value)
		case "used_memory_peak":
			m.Peak = parseCount(value)
		case "maxmemory":
			m.MaxMemory = parseCount(value)
		case "maxmemory_policy":
			m.Policy = cleanString(value)
		case "evicted_keys":
			m.EvictedKeys = parseCount(value)
		case "expired_keys":
			m.ExpiredKeys = parseCount(value)
		case "role":
			m.Role = cleanString(value)
			if m.Role == "slave" {
				m.Role = RoleReplica
			}
		}
	}
	return m
}

// parseCount parses a non-negative decimal integer, or returns 0.
func parseCount(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// cleanString trims s and replaces its invalid UTF-8.
func cleanString(s string) string {
	return strings.ToValidUTF8(strings.TrimSpace(s), "\uFFFD")
}

// Warnings returns what the README's production checklist asks to fix on
// this node, one human-readable sentence per problem, each naming the node;
// nil when there is none:
//
//   - maxmemory is not set (0): Redis grows until the host runs out of
//     memory, and never evicts;
//   - the policy is noeviction: once Used reaches MaxMemory, Redis refuses
//     writes (OOM) instead of evicting cached values;
//   - the policy is allkeys-* (allkeys-lru, allkeys-lfu, allkeys-random):
//     Redis may evict write-behind's queued values, which have no expiry
//     until they are written to the database, and a read may then load
//     the older row. A volatile-* policy evicts only keys with an expiry:
//     cached values, and never a queued one.
//
// Replicas are checked as masters are: a replica becomes a master on
// failover, with its own configuration.
func (m NodeMemory) Warnings() []string {
	node := "redis " + m.Addr
	if m.Role != "" {
		node += " (" + m.Role + ")"
	}
	var w []string
	if m.MaxMemory == 0 {
		w = append(w, node+": maxmemory is not set: Redis grows until the host runs out of memory and never evicts; "+
			"set maxmemory, with a volatile-* policy (volatile-lru or volatile-lfu)")
	}
	switch {
	case m.Policy == "noeviction":
		w = append(w, node+": maxmemory-policy is noeviction: once memory is full, Redis refuses writes (OOM) "+
			"instead of evicting cached values; use volatile-lru or volatile-lfu")
	case strings.HasPrefix(m.Policy, "allkeys-"):
		w = append(w, node+": maxmemory-policy is "+m.Policy+": Redis may evict write-behind's queued values, "+
			"which have no expiry until they reach the database, and a read may then load an older row; "+
			"use volatile-lru or volatile-lfu, which evict only keys with an expiry")
	}
	return w
}
