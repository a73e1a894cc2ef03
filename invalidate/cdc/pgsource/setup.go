package pgsource

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// closeTimeout bounds the goodbye of a connection being closed.
const closeTimeout = time.Second

// connect opens an ordinary connection (not a replication one).
func (s *Source) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.cfg.sql.Copy())
	if err != nil {
		return nil, fmt.Errorf("pgsource: connect: %w", err)
	}
	return conn, nil
}

// closeConn closes an ordinary connection, within closeTimeout.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = conn.Close(ctx) // nothing is left to lose on it
}

// slotState is what the source needs to know of its slot before streaming.
type slotState struct {
	database      string        // the database of the connection, the slot's
	confirmed     pglogrepl.LSN // the slot's confirmed_flush_lsn: where streaming starts
	senderTimeout time.Duration // the server's wal_sender_timeout (0: none)
}

// prepare looks at the database through an ordinary connection: it
// creates the publication, then the slot, when they are missing and the
// options say so, checks that the slot can serve, and, on the first call
// only, logs the warnings of Check.
func (s *Source) prepare(ctx context.Context) (slotState, error) {
	conn, err := s.connect(ctx)
	if err != nil {
		return slotState{}, err
	}
	defer closeConn(conn)
	var st slotState
	var timeoutMS int64
	if err := conn.QueryRow(ctx, "SELECT current_database(), setting::bigint FROM pg_settings WHERE name = 'wal_sender_timeout'").
		Scan(&st.database, &timeoutMS); err != nil {
		return st, fmt.Errorf("pgsource: %w", err)
	}
	st.senderTimeout = time.Duration(timeoutMS) * time.Millisecond
	if !s.checked {
		warnings, err := s.check(ctx, conn)
		if err != nil {
			return st, err
		}
		for _, w := range warnings {
			s.cfg.Logger.Warn(w)
		}
		s.checked = true
	}
	// The publication first: a slot created before it could never stream it.
	if err := s.ensurePublication(ctx, conn); err != nil {
		return st, err
	}
	st.confirmed, err = s.ensureSlot(ctx, conn, st.database)
	return st, err
}

// ensurePublication creates the publication when it is missing and
// Options.CreatePublication is set.
func (s *Source) ensurePublication(ctx context.Context, conn *pgx.Conn) error {
	var exists bool
	err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_publication WHERE pubname = $1)", s.cfg.Publication).Scan(&exists)
	switch {
	case err != nil:
		return fmt.Errorf("pgsource: look for publication %q: %w", s.cfg.Publication, err)
	case exists:
		return nil
	case !s.cfg.CreatePublication:
		return fatal(fmt.Errorf("%w: %q (create it, or set CreatePublication)", ErrNoPublication, s.cfg.Publication))
	}
	tables := make([]string, len(s.cfg.tables))
	for i, t := range s.cfg.tables {
		tables[i] = quoteTable(t)
	}
	create := "CREATE PUBLICATION " + pgx.Identifier{s.cfg.Publication}.Sanitize() + " FOR TABLE " + strings.Join(tables, ", ")
	_, err = conn.Exec(ctx, create)
	switch {
	case err == nil:
		s.cfg.Logger.Info("pgsource: created publication", "publication", s.cfg.Publication, "tables", s.cfg.tables)
	case isCode(err, "42710"): // another source created it meanwhile
	default:
		return fmt.Errorf("pgsource: %s: %w", create, err)
	}
	return nil
}

// ensureSlot creates the slot when it is missing and Options.CreateSlot is
// set, checks that it is a logical pgoutput slot of database, and returns
// its confirmed position.
func (s *Source) ensureSlot(ctx context.Context, conn *pgx.Conn, database string) (pglogrepl.LSN, error) {
	for range 2 { // a second look when another source created the slot meanwhile
		var plugin, kind, db, confirmed *string
		err := conn.QueryRow(ctx, "SELECT plugin, slot_type, database, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
			s.cfg.Slot).Scan(&plugin, &kind, &db, &confirmed)
		if err == nil {
			if deref(kind) != "logical" || deref(plugin) != "pgoutput" || deref(db) != database || confirmed == nil {
				return 0, fatal(fmt.Errorf("%w: %q is a %s slot of plugin %q in database %q; want a logical slot of pgoutput in %q",
					ErrBadSlot, s.cfg.Slot, deref(kind), deref(plugin), deref(db), database))
			}
			return parseLSN(*confirmed)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return 0, fmt.Errorf("pgsource: look for slot %q: %w", s.cfg.Slot, err)
		}
		if !s.cfg.CreateSlot {
			return 0, fatal(fmt.Errorf("%w: %q (create it, or set CreateSlot)", ErrNoSlot, s.cfg.Slot))
		}
		// A permanent slot: a temporary one would go with the connection,
		// and with it the changes not yet applied.
		var lsn string
		err = conn.QueryRow(ctx, "SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')", s.cfg.Slot).Scan(&lsn)
		if err == nil {
			s.cfg.Logger.Info("pgsource: created replication slot", "slot", s.cfg.Slot, "position", lsn)
			return parseLSN(lsn)
		}
		if !isCode(err, "42710") {
			return 0, fmt.Errorf("pgsource: create slot %q: %w", s.cfg.Slot, err)
		}
	}
	return 0, fmt.Errorf("pgsource: slot %q was created and dropped meanwhile", s.cfg.Slot)
}

func parseLSN(s string) (pglogrepl.LSN, error) {
	lsn, err := pglogrepl.ParseLSN(s)
	if err != nil {
		return 0, fmt.Errorf("pgsource: %w", err)
	}
	return lsn, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// isCode reports whether err is a server error of SQLSTATE code.
func isCode(err error, code string) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	return ok && pgErr.Code == code
}

// quoteTable quotes a table named "schema.name" or "name" as an SQL
// identifier, keeping its case.
func quoteTable(t string) string {
	if schema, name, ok := strings.Cut(t, "."); ok {
		return pgx.Identifier{schema, name}.Sanitize()
	}
	return pgx.Identifier{t}.Sanitize()
}
