package redistest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

const (
	// clusterMasters is the number of masters; each has one replica.
	clusterMasters = 3
	// clusterTimeout bounds the whole start of a cluster.
	clusterTimeout = 20 * time.Second
	// clusterPollInterval is the pause between two readiness checks of a cluster.
	clusterPollInterval = 20 * time.Millisecond
)

// Cluster is a Redis Cluster of 3 masters and 3 replicas, each a redis-server child process on 127.0.0.1.
type Cluster struct {
	nodes []*Server // masters first; nodes[clusterMasters+i] replicates nodes[i]
}

// StartCluster starts 6 cluster-enabled servers, assigns the 16384 slots to 3 masters, gives each
// master a replica, and waits until every node reports cluster_state:ok with the same CLUSTER SLOTS view
// and every replica is linked to its master and synced. The first command of a fresh
// [redis.ClusterClient] then works. It takes a little over 2 s. Call Close to remove the cluster.
func StartCluster() (*Cluster, error) {
	bin, err := findServer()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(clusterTimeout)

	nodes := make([]*Server, 2*clusterMasters)
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { nodes[i], errs[i] = startServer(bin, randomPort, clusterArgs) })
	}
	wg.Wait()
	c := &Cluster{}
	for _, n := range nodes {
		if n != nil {
			c.nodes = append(c.nodes, n)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(err, c.Close())
	}

	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := c.setup(ctx); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

// NewCluster calls [Require], starts a cluster with [StartCluster] and closes it with t.Cleanup. It fails
// t when the cluster does not start.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	Require(t)
	c, err := StartCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		checkDenied(t, c.nodes...)
		if err := c.Close(); err != nil {
			t.Errorf("close redis cluster: %v", err)
		}
	})
	return c
}

// Addrs returns the addresses of the 6 nodes, masters first. Replica Addrs()[3+i] replicates master
// Addrs()[i] (until a failover).
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Nodes returns the nodes in the order of Addrs, to stop or restart one of them (a stopped master's
// replica takes over after about 2 s: the node timeout is 1 s). A restarted node keeps its cluster
// configuration but no data.
func (c *Cluster) Nodes() []*Server {
	return slices.Clone(c.nodes)
}

// Close stops every node and removes their directories. It is idempotent.
func (c *Cluster) Close() error {
	errs := make([]error, len(c.nodes))
	for i, n := range c.nodes {
		errs[i] = n.Close()
	}
	return errors.Join(errs...)
}

// clusterArgs returns the cluster-mode arguments of a node whose directory is dir.
func clusterArgs(dir string) []string {
	return []string{
		"--cluster-enabled", "yes",
		"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
		"--cluster-node-timeout", "1000",
		"--repl-diskless-sync", "yes",
		"--repl-diskless-sync-delay", "0",
		// CLUSTER SLOTS lists a replica only once its replication offset is not 0, and without writes
		// the offset moves only when the master pings its replicas (every 10 s by default).
		"--repl-ping-replica-period", "1",
		// Replicas sync as the admin user: the default user may not.
		"--masteruser", adminUser,
		"--masterauth", adminPassword,
	}
}

// setup wires the started nodes into a cluster and waits until it is ready.
func (c *Cluster) setup(ctx context.Context) error {
	clients := make([]*redis.Client, len(c.nodes))
	for i, n := range c.nodes {
		clients[i] = adminNodeClient(n.Addr())
	}
	defer func() {
		for _, cl := range clients {
			_ = cl.Close()
		}
	}()

	// Distinct config epochs before any MEET, so that no epoch collision has to be resolved.
	for i, cl := range clients {
		if err := cl.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err(); err != nil {
			return c.nodeErr(i, "CLUSTER SET-CONFIG-EPOCH", err)
		}
	}
	for i, r := range masterSlots() {
		if err := clients[i].Do(ctx, "CLUSTER", "ADDSLOTSRANGE", r[0], r[1]).Err(); err != nil {
			return c.nodeErr(i, "CLUSTER ADDSLOTSRANGE", err)
		}
	}
	for i := 1; i < len(c.nodes); i++ {
		if err := clients[0].ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(c.nodes[i].port)).Err(); err != nil {
			return c.nodeErr(0, "CLUSTER MEET", err)
		}
	}
	for i := range clusterMasters {
		id, err := clients[i].ClusterMyID(ctx).Result()
		if err != nil {
			return c.nodeErr(i, "CLUSTER MYID", err)
		}
		if err := replicate(ctx, clients[clusterMasters+i], id); err != nil {
			return c.nodeErr(clusterMasters+i, "CLUSTER REPLICATE "+id, err)
		}
	}
	return c.waitReady(ctx, clients)
}

// adminNodeClient returns a client of the one node at addr, as the admin user, that fails fast: the
// cluster's own administration goes through it.
func adminNodeClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:            addr,
		Username:        adminUser,
		Password:        adminPassword,
		Protocol:        2,
		DisableIdentity: true,
		MaxRetries:      -1,
		PoolSize:        1,
		DialTimeout:     time.Second,
		DialerRetries:   1,
		ReadTimeout:     2 * time.Second,
		WriteTimeout:    2 * time.Second,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	})
}

// masterSlots holds the slot range of each master.
func masterSlots() [clusterMasters][2]int {
	return [clusterMasters][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
}

// replicate makes cl a replica of node id, retrying while cl has not heard of id yet.
func replicate(ctx context.Context, cl *redis.Client, id string) error {
	for {
		err := cl.ClusterReplicate(ctx, id).Err()
		if err == nil || !strings.HasPrefix(err.Error(), "ERR Unknown node") {
			return err
		}
		if serr := sleep(ctx, clusterPollInterval); serr != nil {
			return fmt.Errorf("%w (last answer: %w)", serr, err)
		}
	}
}

// waitReady polls until the cluster is ready or ctx ends; the error names what was not ready.
func (c *Cluster) waitReady(ctx context.Context, clients []*redis.Client) error {
	for {
		node, err := c.check(ctx, clients)
		if err == nil {
			return nil
		}
		if serr := sleep(ctx, clusterPollInterval); serr != nil {
			return c.nodeErr(node, "cluster not ready", fmt.Errorf("%w: %w", serr, err))
		}
	}
}

// check returns nil when the cluster is ready, else the index of a node that is not and why.
func (c *Cluster) check(ctx context.Context, clients []*redis.Client) (int, error) {
	var want string
	for i, cl := range clients {
		info, err := cl.ClusterInfo(ctx).Result()
		if err != nil {
			return i, err
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return i, fmt.Errorf("%s", infoLine(info, "cluster_state"))
		}
		//nolint:staticcheck // SA1019: a fresh ClusterClient reads CLUSTER SLOTS: wait until that view agrees
		slots, err := cl.ClusterSlots(ctx).Result()
		if err != nil {
			return i, err
		}
		view, err := slotsView(slots)
		if err != nil {
			return i, err
		}
		if i == 0 {
			want = view
		} else if view != want {
			return i, fmt.Errorf("CLUSTER SLOTS differs from %s's: %s, not %s", c.nodes[0].Addr(), view, want)
		}
	}
	for i := clusterMasters; i < len(clients); i++ {
		info, err := clients[i].Info(ctx, "replication").Result()
		if err != nil {
			return i, err
		}
		for _, line := range []string{"role:slave", "master_link_status:up", "master_sync_in_progress:0"} {
			if !strings.Contains(info, "\r\n"+line+"\r\n") {
				return i, fmt.Errorf("replica not synced: want %s, have %s", line,
					infoLine(info, strings.SplitN(line, ":", 2)[0]))
			}
		}
	}
	return 0, nil
}

// slotsView renders CLUSTER SLOTS in a canonical form and checks that it shows every master with one
// replica.
func slotsView(slots []redis.ClusterSlot) (string, error) {
	slots = slices.Clone(slots)
	slices.SortFunc(slots, func(a, b redis.ClusterSlot) int { return a.Start - b.Start })
	if len(slots) != clusterMasters {
		return "", fmt.Errorf("CLUSTER SLOTS has %d ranges, want %d", len(slots), clusterMasters)
	}
	var b strings.Builder
	for _, s := range slots {
		if len(s.Nodes) != 2 {
			return "", fmt.Errorf("CLUSTER SLOTS range %d-%d has %d nodes, want a master and a replica",
				s.Start, s.End, len(s.Nodes))
		}
		fmt.Fprintf(&b, "[%d-%d", s.Start, s.End)
		for _, n := range s.Nodes {
			fmt.Fprintf(&b, " %s@%s", n.ID, n.Addr)
		}
		b.WriteString("]")
	}
	return b.String(), nil
}

// infoLine returns the line of an INFO answer that starts with field, or a note that it is missing.
func infoLine(info, field string) string {
	for line := range strings.Lines(info) {
		if strings.HasPrefix(line, field+":") {
			return strings.TrimSpace(line)
		}
	}
	return field + " missing"
}

// nodeErr wraps err with the node's address, the step and the tail of the node's log.
func (c *Cluster) nodeErr(i int, step string, err error) error {
	n := c.nodes[i]
	return fmt.Errorf("redistest: cluster node %s: %s: %w\n%s", n.Addr(), step, err, n.logTail())
}

// sleep pauses for d, or returns ctx's error if ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
