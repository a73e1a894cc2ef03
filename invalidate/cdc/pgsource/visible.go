package pgsource

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// quickLooks is how many times the source looks at the server's
	// snapshot again at once, the query's round trip being the pause,
	// while a transaction received is not yet visible: it usually is
	// within microseconds (on a 2-core machine, 1.5-2% of single-row
	// transactions needed a second look, almost never a third).
	quickLooks = 3
	// firstVisibleWait and lastVisibleWait bound the pauses between two
	// later looks.
	firstVisibleWait = 100 * time.Microsecond
	lastVisibleWait  = 10 * time.Millisecond
	// slowVisible is how long a transaction may stay invisible before the
	// source logs it (a commit waiting for a synchronous standby stays
	// invisible until the standby confirms it).
	slowVisible = time.Second
)

// snapshot is what pg_current_snapshot() says: every transaction that
// precedes xmax and is not in xip is visible to a query that starts now.
// It holds transaction ids on 32 bits, as the replication stream does;
// their order is PostgreSQL's, modulo 2^32.
type snapshot struct {
	xmin, xmax uint32
	xip        []uint32
}

// parseSnapshot parses the text form of a snapshot, "xmin:xmax:xip,...",
// whose ids have 64 bits (an epoch and a 32-bit id).
func parseSnapshot(s string) (snapshot, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return snapshot{}, fmt.Errorf("pgsource: snapshot %q: want xmin:xmax:xip", s)
	}
	var sn snapshot
	var err error
	if sn.xmin, err = parseXid(parts[0]); err != nil {
		return snapshot{}, fmt.Errorf("pgsource: snapshot %q: %w", s, err)
	}
	if sn.xmax, err = parseXid(parts[1]); err != nil {
		return snapshot{}, fmt.Errorf("pgsource: snapshot %q: %w", s, err)
	}
	if parts[2] != "" {
		for f := range strings.SplitSeq(parts[2], ",") {
			x, err := parseXid(f)
			if err != nil {
				return snapshot{}, fmt.Errorf("pgsource: snapshot %q: %w", s, err)
			}
			sn.xip = append(sn.xip, x)
		}
	}
	return sn, nil
}

// parseXid parses a 64-bit transaction id and keeps its low 32 bits.
func parseXid(s string) (uint32, error) {
	x, err := strconv.ParseUint(s, 10, 64)
	return uint32(x), err
}

// precedes reports whether transaction a is older than b, as PostgreSQL
// compares 32-bit ids (TransactionIdPrecedes).
func precedes(a, b uint32) bool { return int32(a-b) < 0 }

// visible reports whether transaction x is visible in the snapshot.
func (sn snapshot) visible(x uint32) bool {
	return precedes(x, sn.xmax) && !slices.Contains(sn.xip, x)
}

// visibility tells when transactions received become visible to new
// queries, through an ordinary connection of its own, opened when first
// needed. It remembers the oldest transaction still running that it saw
// (the snapshot's xmin): every older one is visible without asking again.
type visibility struct {
	src     *Source
	conn    *pgx.Conn
	query   string
	horizon uint32 // every transaction before it is visible
	known   bool   // horizon is set
}

// wait returns once every transaction of xids is visible to a query that
// starts now, pausing with pause between two looks; or an error when the
// server cannot be asked, or ctx ends.
func (v *visibility) wait(ctx context.Context, xids []uint32, pause func(context.Context, time.Duration) error) error {
	if v.allBefore(xids) {
		return nil
	}
	start := time.Now()
	logged := false
	backoff := firstVisibleWait
	for look := 1; ; look++ {
		sn, err := v.snapshot(ctx)
		if err != nil {
			return err
		}
		if !v.known || precedes(v.horizon, sn.xmin) {
			v.horizon, v.known = sn.xmin, true
		}
		hidden := -1
		for i, x := range xids {
			if !sn.visible(x) {
				hidden = i
				break
			}
		}
		if hidden < 0 {
			return nil
		}
		if waited := time.Since(start); waited > slowVisible && !logged {
			v.src.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "pgsource: a committed transaction is not visible yet; its evictions wait (a commit waiting for a synchronous standby?)",
				slog.Uint64("xid", uint64(xids[hidden])), slog.Duration("waited", waited.Round(time.Millisecond)))
			logged = true
		}
		if look <= quickLooks {
			continue
		}
		if err := pause(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, lastVisibleWait)
	}
}

// allBefore reports whether every transaction of xids precedes the
// horizon.
func (v *visibility) allBefore(xids []uint32) bool {
	if !v.known {
		return len(xids) == 0
	}
	for _, x := range xids {
		if !precedes(x, v.horizon) {
			return false
		}
	}
	return true
}

// snapshot asks the server for its current snapshot.
func (v *visibility) snapshot(ctx context.Context) (snapshot, error) {
	if v.conn == nil {
		conn, err := v.src.connect(ctx)
		if err != nil {
			return snapshot{}, err
		}
		v.conn = conn
		// pg_current_snapshot() is PostgreSQL 13's name of what older
		// servers call txid_current_snapshot().
		v.query = "SELECT pg_current_snapshot()::text"
		if major, _ := strconv.Atoi(strings.SplitN(conn.PgConn().ParameterStatus("server_version"), ".", 2)[0]); major > 0 && major < 13 {
			v.query = "SELECT txid_current_snapshot()::text"
		}
	}
	var text string
	if err := v.conn.QueryRow(ctx, v.query).Scan(&text); err != nil {
		v.close()
		if ctx.Err() != nil {
			return snapshot{}, ctx.Err()
		}
		return snapshot{}, fmt.Errorf("pgsource: read the server's snapshot: %w", err)
	}
	return parseSnapshot(text)
}

// close closes the connection, if open.
func (v *visibility) close() {
	if v.conn != nil {
		closeConn(v.conn)
		v.conn = nil
	}
}
