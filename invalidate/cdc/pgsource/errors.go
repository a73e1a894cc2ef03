package pgsource

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// The configuration errors that make Run return (retrying cannot fix
// them); test for them with errors.Is.
var (
	// ErrNoSlot: the replication slot does not exist and
	// Options.CreateSlot is false.
	ErrNoSlot = errors.New("pgsource: replication slot does not exist")
	// ErrNoPublication: the publication does not exist and
	// Options.CreatePublication is false.
	ErrNoPublication = errors.New("pgsource: publication does not exist")
	// ErrBadSlot: the slot exists but cannot serve the source: it is not
	// a logical slot of the pgoutput plugin in the DSN's database, or the
	// server refuses to stream it (it was created before its publication,
	// or was invalidated).
	ErrBadSlot = errors.New("pgsource: replication slot cannot be used")
)

// fatalError marks an error that retrying cannot fix: Run returns it.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// fatal marks err as one that retrying cannot fix.
func fatal(err error) error {
	if err == nil {
		return nil
	}
	return &fatalError{err}
}

// fatalCodes are the SQLSTATEs of server errors that retrying cannot fix: a
// missing object (database, table, slot, publication), a slot that can no
// longer stream, missing privileges, a refused login.
var fatalCodes = map[string]bool{
	"3D000": true, // invalid_catalog_name: no such database
	"42P01": true, // undefined_table
	"42704": true, // undefined_object: no such slot or publication
	"55000": true, // object_not_in_prerequisite_state: wal_level, an invalidated slot
	"42501": true, // insufficient_privilege
	"28000": true, // invalid_authorization_specification
	"28P01": true, // invalid_password
}

// isFatal reports whether retrying cannot fix err.
func isFatal(err error) bool {
	if _, ok := errors.AsType[*fatalError](err); ok {
		return true
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return fatalCodes[pgErr.Code]
	}
	return false
}
