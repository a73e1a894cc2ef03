package cdc

import (
	"strconv"
	"time"
)

// Event is one change of one row (or, for Truncate, of a whole table), as a
// source reports it.
type Event struct {
	// Table is the table the change is about.
	Table Table
	// Op is what the change did.
	Op Op
	// Before is the row before the change: for updates and deletes, the
	// columns the source sent (with PostgreSQL's REPLICA IDENTITY DEFAULT
	// only the primary key, and on an update that keeps the key nothing
	// at all: nil). Nil for creates, snapshot reads and truncates.
	Before Row
	// After is the row after the change: for creates, updates and
	// snapshot reads. Nil for deletes and truncates.
	After Row
	// Position is where the change stands in its source's stream, in the
	// source's own terms ("0/16B3748" for a PostgreSQL LSN,
	// "topic/2@1234" for a Kafka record), for logs and dead letters. A
	// source keeps its own typed positions to confirm progress.
	Position string
	// Commit is when the change's transaction committed in the database
	// (zero when the source does not say): the start of the lag from
	// commit to eviction.
	Commit time.Time
}

// Table names a table.
type Table struct {
	// Database is the database's name; rules do not look at it (one
	// source reads one database), but dead letters and logs show it.
	Database string
	// Schema is the table's schema ("public"); empty when the source has
	// none.
	Schema string
	// Name is the table's name.
	Name string
}

// String returns "schema.name", or "name" without a schema: the form
// rules name tables by.
func (t Table) String() string {
	if t.Schema == "" {
		return t.Name
	}
	return t.Schema + "." + t.Name
}

// Row holds a row's columns, by name, in their text form:
//
//   - integers in decimal, exactly, whatever their size ("42",
//     "9007199254740993"): the form tiered's default Options.Key gives an
//     integer key;
//   - strings as they are, UUIDs in their canonical form;
//   - other values as the source writes them as text (PostgreSQL's text
//     output, or the JSON text of a Debezium value).
//
// A NULL column is absent, and so is a column the source did not send (an
// unchanged TOASTed value, the columns of a replica identity that leaves
// them out).
type Row map[string]string

// Op is what a change did to its row.
type Op uint8

const (
	// Create: a row was inserted.
	Create Op = iota + 1
	// Update: a row was changed.
	Update
	// Delete: a row was deleted.
	Delete
	// Read: a row read by a snapshot (a Debezium initial snapshot): it
	// evicts like a create.
	Read
	// Truncate: every row of the table was deleted.
	Truncate
)

// String returns the operation's lower-case name.
func (o Op) String() string {
	switch o {
	case Create:
		return "create"
	case Update:
		return "update"
	case Delete:
		return "delete"
	case Read:
		return "read"
	case Truncate:
		return "truncate"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}
