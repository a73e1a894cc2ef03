package pgsource

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tiercache/tiercache/invalidate/cdc"
)

// Defaults of [Options].
const (
	// DefaultSlot is the name of the replication slot.
	DefaultSlot = "tiercache"
	// DefaultPublication is the name of the publication.
	DefaultPublication = "tiercache"
	// DefaultMaxBatch is how many changes one Engine.Apply carries at most.
	DefaultMaxBatch = 1000
	// DefaultStatusInterval is how often the source reports its position
	// to the server when nothing else makes it do so.
	DefaultStatusInterval = time.Second
	// DefaultRetryBackoff caps the pause between two attempts to connect,
	// or to apply a batch that failed.
	DefaultRetryBackoff = 5 * time.Second
)

// minBackoff is the first pause of a retry; each next pause doubles, up
// to Options.RetryBackoff.
const minBackoff = 50 * time.Millisecond

// Options configures a [Source]. DSN and Engine are required; the zero
// value of every other field is valid and documented. New does not modify
// or keep the Options.
type Options struct {
	// DSN is a connection string of the database whose changes to read,
	// as pgx takes it ("postgres://user@host:5432/app?sslmode=disable" or
	// "host=... dbname=app"). The source opens two kinds of connections
	// with it: replication connections (it sets replication=database) to
	// stream the changes, and short-lived ordinary ones to look at and
	// create the slot and the publication. The user needs the
	// REPLICATION attribute (or to be a superuser), and, to create the
	// publication, to own the tables. Required.
	DSN string

	// Slot is the name of the logical replication slot: it keeps the
	// changes until the source has applied them, across restarts of the
	// source and of the server. Slot names are lower-case letters, digits
	// and underscores. One slot serves one source at a time (PostgreSQL
	// refuses a second consumer, and the source retries until the first
	// one is gone). Default DefaultSlot.
	Slot string
	// Publication is the name of the publication whose tables the slot
	// streams. Default DefaultPublication.
	Publication string
	// Tables are the tables the publication lists when the source creates
	// it ("public.users", or "users" for the search path). Default: the
	// tables of the engine's rules. Ignored when the publication exists.
	Tables []string
	// CreatePublication creates the publication when it does not exist.
	// Default false: a missing publication makes Run fail with
	// ErrNoPublication.
	CreatePublication bool
	// CreateSlot creates the slot (permanent, plugin pgoutput) when it
	// does not exist, after the publication: a slot created before its
	// publication can never stream it. Default false: a missing slot
	// makes Run fail with ErrNoSlot.
	CreateSlot bool

	// Engine turns the changes into evictions. Required.
	Engine *cdc.Engine
	// MaxBatch bounds the changes of one Engine.Apply. A batch ends at a
	// transaction's end, unless one transaction alone has more changes:
	// those go in several batches, and the transaction is confirmed after
	// the last. Default DefaultMaxBatch.
	MaxBatch int
	// StatusInterval is how often the source reports the position it has
	// applied to the server (it also reports at once when the server asks,
	// and after each batch that advanced it). It must be well under the
	// server's wal_sender_timeout (60 s by default). Default
	// DefaultStatusInterval.
	StatusInterval time.Duration
	// RetryBackoff caps the pause between two attempts to connect, or to
	// apply a batch that the engine failed to apply. Pauses start at 50
	// ms and double. Default DefaultRetryBackoff.
	RetryBackoff time.Duration
	// SkipVisibilityWait applies each batch as soon as it arrives. By
	// default the source first waits until the batch's transactions are
	// visible to new queries (one look at pg_current_snapshot() on an
	// ordinary connection per batch, unless they are known to be visible):
	// the server may send a transaction the moment its commit record is
	// on disk, before other sessions can see it, and a cache that evicted
	// the rows then and reloaded them at once would read and keep their
	// previous versions. A commit that waits for a synchronous standby
	// stays invisible until the standby confirms it; its evictions wait
	// as long. Skip the wait only when nothing reloads a row in the
	// instant after its eviction (or a stale row is acceptable until its
	// TTL). Default false.
	SkipVisibilityWait bool
	// Logger receives reconnections, failed batches and the warnings of
	// Check. Default: discards.
	Logger *slog.Logger
}

// slotName is what PostgreSQL accepts as a replication slot's name.
var slotName = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

// config is Options with every default applied, and the DSN parsed.
type config struct {
	Options
	repl   *pgconn.Config  // the replication connections'
	sql    *pgx.ConnConfig // the ordinary connections'
	tables []string        // the tables of a publication the source creates
}

// newConfig validates opts and applies the defaults.
func newConfig(opts *Options) (*config, error) {
	if opts == nil {
		return nil, errors.New("pgsource: nil Options")
	}
	c := &config{Options: *opts}
	c.Tables = slices.Clone(opts.Tables)
	if c.Engine == nil {
		return nil, errors.New("pgsource: Options.Engine is required")
	}
	if c.DSN == "" {
		return nil, errors.New("pgsource: Options.DSN is required")
	}
	repl, err := pgconn.ParseConfig(c.DSN)
	if err != nil {
		return nil, fmt.Errorf("pgsource: Options.DSN: %w", err)
	}
	repl.RuntimeParams["replication"] = "database"
	c.repl = repl
	if c.sql, err = pgx.ParseConfig(c.DSN); err != nil {
		return nil, fmt.Errorf("pgsource: Options.DSN: %w", err)
	}
	delete(c.sql.RuntimeParams, "replication") // a replication connection takes no extended queries
	c.Slot = cmp.Or(c.Slot, DefaultSlot)
	if !slotName.MatchString(c.Slot) {
		return nil, fmt.Errorf("pgsource: slot name %q: use 1-63 lower-case letters, digits and underscores", c.Slot)
	}
	c.Publication = cmp.Or(c.Publication, DefaultPublication)
	switch {
	case c.MaxBatch < 0:
		return nil, fmt.Errorf("pgsource: MaxBatch must not be negative, got %d", c.MaxBatch)
	case c.StatusInterval < 0:
		return nil, fmt.Errorf("pgsource: StatusInterval must not be negative, got %v", c.StatusInterval)
	case c.RetryBackoff < 0:
		return nil, fmt.Errorf("pgsource: RetryBackoff must not be negative, got %v", c.RetryBackoff)
	}
	c.MaxBatch = cmp.Or(c.MaxBatch, DefaultMaxBatch)
	c.StatusInterval = cmp.Or(c.StatusInterval, DefaultStatusInterval)
	c.RetryBackoff = max(cmp.Or(c.RetryBackoff, DefaultRetryBackoff), minBackoff)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.tables = c.Tables
	if len(c.tables) == 0 {
		for _, r := range c.Engine.Rules() {
			if !slices.Contains(c.tables, r.Table) {
				c.tables = append(c.tables, r.Table)
			}
		}
	}
	return c, nil
}
