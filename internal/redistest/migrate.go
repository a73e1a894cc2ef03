package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/redis/go-redis/v9"
)

const (
	// migrateTimeout is MIGRATE's timeout, in milliseconds, for one batch of keys.
	migrateTimeout = 5000
	// migrateBatch is how many keys Finish moves with one MIGRATE.
	migrateBatch = 100
)

// Migration is the move of one hash slot of a [Cluster] from its master (the source) to another master
// (the target), step by step, as redis-cli --cluster reshard does it. [Cluster.BeginMigration] marks the
// slot MIGRATING on the source and IMPORTING on the target; [Migration.Move] moves keys with MIGRATE;
// [Migration.Finish] moves the keys left and gives the slot to the target on every master.
//
// In between, the source serves the slot's keys it still holds, and answers ASK for the others (which
// the target serves after ASKING) and TRYAGAIN for a command on several keys of which some have moved
// and some have not. Clients see what they would see during a real resharding.
type Migration struct {
	slot     int
	src, dst redis.ClusterNode // ID and Addr
	masters  []string          // the address of every master
	c        *Cluster
}

// BeginMigration starts to move slot from its master to another master: the next one, in the order
// of the slots they serve. No key moves yet.
func (c *Cluster) BeginMigration(ctx context.Context, slot int) (*Migration, error) {
	if slot < 0 || slot >= 16384 {
		return nil, fmt.Errorf("redistest: BeginMigration: slot %d out of range", slot)
	}
	slots, err := c.slots(ctx)
	if err != nil {
		return nil, fmt.Errorf("redistest: BeginMigration of slot %d: %w", slot, err)
	}
	slices.SortFunc(slots, func(a, b redis.ClusterSlot) int { return a.Start - b.Start })
	m := &Migration{slot: slot, c: c}
	src := -1
	for _, r := range slots {
		if len(r.Nodes) == 0 {
			continue
		}
		if !slices.Contains(m.masters, r.Nodes[0].Addr) {
			m.masters = append(m.masters, r.Nodes[0].Addr)
		}
		if r.Start <= slot && slot <= r.End {
			m.src = r.Nodes[0]
			src = slices.Index(m.masters, m.src.Addr)
		}
	}
	if src < 0 || len(m.masters) < 2 {
		return nil, fmt.Errorf("redistest: BeginMigration: no master serves slot %d, or no other master (CLUSTER SLOTS: %+v)", slot, slots)
	}
	dstAddr := m.masters[(src+1)%len(m.masters)]
	for _, r := range slots {
		if len(r.Nodes) > 0 && r.Nodes[0].Addr == dstAddr {
			m.dst = r.Nodes[0]
			break
		}
	}
	// The target first, as redis-cli does: a client sent there by ASK must find it importing.
	if err := setSlot(ctx, m.dst.Addr, slot, "IMPORTING", m.src.ID); err != nil {
		return nil, err
	}
	if err := setSlot(ctx, m.src.Addr, slot, "MIGRATING", m.dst.ID); err != nil {
		return nil, errors.Join(err, setSlot(ctx, m.dst.Addr, slot, "STABLE"))
	}
	return m, nil
}

// MigrateSlot moves slot and all its keys from its master to another master (see [Cluster.BeginMigration]
// and [Migration.Finish]), and returns the address of the new master.
func (c *Cluster) MigrateSlot(ctx context.Context, slot int) (string, error) {
	m, err := c.BeginMigration(ctx, slot)
	if err != nil {
		return "", err
	}
	return m.Target(), m.Finish(ctx)
}

// Slot returns the slot that m moves.
func (m *Migration) Slot() int { return m.slot }

// Source returns the address of the master that the slot leaves.
func (m *Migration) Source() string { return m.src.Addr }

// Target returns the address of the master that the slot moves to.
func (m *Migration) Target() string { return m.dst.Addr }

// Move moves the keys, which must be in the slot, from the source to the target with one MIGRATE (as
// the admin user, AUTH2). Keys that the source does not hold are skipped.
func (m *Migration) Move(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	host, port, err := net.SplitHostPort(m.dst.Addr)
	if err != nil {
		return fmt.Errorf("redistest: Move: %w", err)
	}
	args := []any{"MIGRATE", host, port, "", 0, migrateTimeout, "AUTH2", adminUser, adminPassword, "KEYS"}
	for _, k := range keys {
		args = append(args, k)
	}
	cl := adminNodeClient(m.src.Addr)
	defer func() { _ = cl.Close() }()
	res, err := cl.Do(ctx, args...).Text()
	if err != nil || (res != "OK" && res != "NOKEY") {
		return fmt.Errorf("redistest: MIGRATE of %d keys of slot %d from %s to %s = %q, %w", len(keys), m.slot, m.src.Addr, m.dst.Addr, res, err)
	}
	return nil
}

// Finish moves the keys that the source still holds in the slot, gives the slot to the target on every
// master (the target first, then the source, then the others), and waits until every running node
// reports the target as the slot's master.
func (m *Migration) Finish(ctx context.Context) error {
	cl := adminNodeClient(m.src.Addr)
	defer func() { _ = cl.Close() }()
	for {
		keys, err := cl.ClusterGetKeysInSlot(ctx, m.slot, migrateBatch).Result()
		if err != nil {
			return fmt.Errorf("redistest: CLUSTER GETKEYSINSLOT %d on %s: %w", m.slot, m.src.Addr, err)
		}
		if len(keys) == 0 {
			break
		}
		if err := m.Move(ctx, keys...); err != nil {
			return err
		}
	}
	order := []string{m.dst.Addr, m.src.Addr}
	for _, addr := range m.masters {
		if !slices.Contains(order, addr) {
			order = append(order, addr)
		}
	}
	for _, addr := range order {
		if err := setSlot(ctx, addr, m.slot, "NODE", m.dst.ID); err != nil {
			return err
		}
	}

	ctx, cancel := context.WithTimeout(ctx, clusterTimeout)
	defer cancel()
	for {
		err := m.c.owns(ctx, m.slot, m.dst.Addr)
		if err == nil {
			return nil
		}
		if serr := sleep(ctx, clusterPollInterval); serr != nil {
			return fmt.Errorf("redistest: slot %d moved to %s: %w (last: %w)", m.slot, m.dst.Addr, serr, err)
		}
	}
}

// setSlot sends CLUSTER SETSLOT slot args... to the node at addr.
func setSlot(ctx context.Context, addr string, slot int, args ...any) error {
	cl := adminNodeClient(addr)
	defer func() { _ = cl.Close() }()
	if err := cl.Do(ctx, append([]any{"CLUSTER", "SETSLOT", slot}, args...)...).Err(); err != nil {
		return fmt.Errorf("redistest: CLUSTER SETSLOT %d %v on %s: %w", slot, args, addr, err)
	}
	return nil
}

// slots returns the CLUSTER SLOTS of a running node.
func (c *Cluster) slots(ctx context.Context) ([]redis.ClusterSlot, error) {
	var errs []error
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		cl := adminNodeClient(n.Addr())
		//nolint:staticcheck // SA1019: go-redis loads its slot map from CLUSTER SLOTS: the tests want that view
		slots, err := cl.ClusterSlots(ctx).Result()
		_ = cl.Close()
		if err == nil {
			return slots, nil
		}
		errs = append(errs, fmt.Errorf("CLUSTER SLOTS on %s: %w", n.Addr(), err))
	}
	return nil, fmt.Errorf("no running node answers: %w", errors.Join(errs...))
}

// owns returns nil when every running node reports the node at addr as the master of slot.
func (c *Cluster) owns(ctx context.Context, slot int, addr string) error {
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		cl := adminNodeClient(n.Addr())
		//nolint:staticcheck // SA1019: go-redis loads its slot map from CLUSTER SLOTS: the tests want that view
		slots, err := cl.ClusterSlots(ctx).Result()
		_ = cl.Close()
		if err != nil {
			return fmt.Errorf("CLUSTER SLOTS on %s: %w", n.Addr(), err)
		}
		master := ""
		for _, r := range slots {
			if r.Start <= slot && slot <= r.End && len(r.Nodes) > 0 {
				master = r.Nodes[0].Addr
			}
		}
		if master != addr {
			return fmt.Errorf("%s sees %q as the master of slot %d, not %s", n.Addr(), master, slot, addr)
		}
	}
	return nil
}
