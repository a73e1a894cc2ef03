package pgsource

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Check looks at the tables of the engine's rules in the database and
// returns a warning for each thing that would keep changes from being
// evicted:
//
//   - a rule whose templates use columns outside the table's replica
//     identity (the primary key, with REPLICA IDENTITY DEFAULT), while the
//     identity is not FULL: the old row of an update or a delete then
//     carries only the key, so what its other columns mapped to (a tag
//     "company:{company_id}", a key "{email}") is not evicted;
//   - a table without a replica identity (no primary key, or REPLICA
//     IDENTITY NOTHING): once published, UPDATE and DELETE on it fail;
//   - a table that does not exist, or that the publication does not list
//     (nor would list, when the source creates it).
//
// Columns read by a rule's KeyFunc or TagFunc are not known and not
// checked. Run logs these warnings once, when it first connects.
func (s *Source) Check(ctx context.Context) ([]string, error) {
	conn, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer closeConn(conn)
	return s.check(ctx, conn)
}

// tableInfo is what Check learns of a table.
type tableInfo struct {
	exists    bool
	name      string   // schema.name, as the catalog spells it
	identity  string   // relreplident: d(efault), n(othing), f(ull), i(ndex)
	key       []string // the replica identity's columns (none for f and n)
	published bool
}

var identityNames = map[string]string{"d": "DEFAULT", "n": "NOTHING", "f": "FULL", "i": "USING INDEX"}

func (s *Source) check(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	var pubExists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_publication WHERE pubname = $1)",
		s.cfg.Publication).Scan(&pubExists); err != nil {
		return nil, fmt.Errorf("pgsource: check: %w", err)
	}
	var warnings []string
	warn := func(format string, args ...any) {
		warnings = append(warnings, fmt.Sprintf("pgsource: "+format, args...))
	}
	if !pubExists && !s.cfg.CreatePublication {
		warn("publication %q does not exist (create it, or set CreatePublication)", s.cfg.Publication)
	}
	tables := make(map[string]*tableInfo)
	for _, r := range s.cfg.Engine.Rules() {
		ti, seen := tables[r.Table]
		if !seen {
			var err error
			if ti, err = lookupTable(ctx, conn, r.Table, s.cfg.Publication); err != nil {
				return nil, err
			}
			tables[r.Table] = ti
		}
		rule := fmt.Sprintf("rule %s -> %s", r.Table, r.Namespace)
		if !ti.exists {
			if !seen {
				warn("%s: table %s does not exist", rule, r.Table)
			}
			continue
		}
		if !seen {
			switch {
			case pubExists && !ti.published:
				warn("%s: table %s is not in publication %q: its changes do not reach the cache", rule, ti.name, s.cfg.Publication)
			case !pubExists && s.cfg.CreatePublication && !slices.Contains(s.cfg.tables, r.Table):
				warn("%s: table %s is not in Options.Tables, of which the source creates publication %q", rule, r.Table, s.cfg.Publication)
			}
			if ti.identity != "f" && len(ti.key) == 0 {
				warn("%s: table %s has no replica identity (REPLICA IDENTITY %s without a key): once published, UPDATE and DELETE on it fail; give it a primary key or REPLICA IDENTITY FULL",
					rule, ti.name, identityNames[ti.identity])
			}
		}
		if ti.identity == "f" || len(ti.key) == 0 {
			continue
		}
		cols, _ := r.Columns() // the engine compiled the rule: it is valid
		var outside []string
		for _, c := range cols {
			if !slices.Contains(ti.key, c) {
				outside = append(outside, c)
			}
		}
		if len(outside) > 0 {
			warn("%s uses %s, outside the replica identity of %s (REPLICA IDENTITY %s: %s): updates and deletes need REPLICA IDENTITY FULL to evict what the old row mapped to (ALTER TABLE %s REPLICA IDENTITY FULL)",
				rule, strings.Join(outside, ", "), ti.name, identityNames[ti.identity], strings.Join(ti.key, ", "), ti.name)
		}
	}
	return warnings, nil
}

// lookupTable reads what Check needs to know of table in the catalog.
func lookupTable(ctx context.Context, conn *pgx.Conn, table, publication string) (*tableInfo, error) {
	const query = `SELECT n.nspname || '.' || c.relname, c.relreplident::text,
	coalesce((SELECT array_agg(a.attname::text ORDER BY a.attnum)
		FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
		WHERE i.indrelid = c.oid AND CASE c.relreplident WHEN 'i' THEN i.indisreplident ELSE i.indisprimary END), '{}'),
	EXISTS (SELECT FROM pg_publication_tables p WHERE p.pubname = $2 AND p.schemaname = n.nspname AND p.tablename = c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass($1)`
	ti := &tableInfo{exists: true}
	err := conn.QueryRow(ctx, query, quoteTable(table), publication).Scan(&ti.name, &ti.identity, &ti.key, &ti.published)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return &tableInfo{}, nil
	case err != nil:
		return nil, fmt.Errorf("pgsource: check table %s: %w", table, err)
	}
	return ti, nil
}
