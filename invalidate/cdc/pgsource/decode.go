package pgsource

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/tiercache/tiercache/invalidate/cdc"
)

// errMalformed is wrapped by the errors of messages that cannot be decoded.
var errMalformed = errors.New("pgsource: malformed pgoutput message")

// relation is what a Relation message says of a table: its name and its
// columns' names, in the order of the tuples.
type relation struct {
	table   cdc.Table
	columns []string
}

// decoder turns pgoutput messages (protocol version 1) into cdc events. It
// remembers the relations the stream described: a Relation message comes
// before a table's first change on each connection, and again whenever the
// table's description changed (or the server's cache of it was reset), and
// overwrites the earlier one.
type decoder struct {
	database  string
	relations map[uint32]relation
}

func newDecoder(database string) *decoder {
	return &decoder{database: database, relations: make(map[uint32]relation)}
}

// parse parses one pgoutput message. A message the library cannot parse,
// or on which it would panic (it does not check every length), is an error
// wrapping errMalformed.
func parse(data []byte) (m pglogrepl.Message, err error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty", errMalformed)
	}
	if err := checkBounds(data); err != nil {
		return nil, fmt.Errorf("%w: %c: %w", errMalformed, data[0], err)
	}
	defer func() { // the library indexes without checking lengths in places
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("%w: %c: %v", errMalformed, data[0], r)
		}
	}()
	m, err = pglogrepl.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %c: %w", errMalformed, data[0], err)
	}
	return m, nil
}

// errShort is the error of a message that ends before its content does.
var errShort = errors.New("cut short")

// checkBounds checks that the lengths and counts of a row change message
// fit in it, before the library allocates what they say.
func checkBounds(data []byte) error {
	r := &reader{data: data[1:]}
	switch data[0] {
	case 'I':
		r.skip(4)
		if r.byte() != 'N' {
			return errors.New("no new tuple")
		}
		return r.tuple()
	case 'U':
		r.skip(4)
		switch kind := r.byte(); kind {
		case 'K', 'O':
			if err := r.tuple(); err != nil {
				return err
			}
			if r.byte() != 'N' {
				return errors.New("no new tuple")
			}
		case 'N':
		default:
			return fmt.Errorf("tuple kind %q", kind)
		}
		return r.tuple()
	case 'D':
		r.skip(4)
		if kind := r.byte(); kind != 'K' && kind != 'O' {
			return fmt.Errorf("tuple kind %q", kind)
		}
		return r.tuple()
	case 'T':
		n := r.uint32()
		r.skip(1)
		if r.err == nil && uint64(n)*4 > uint64(len(r.data)) {
			return errShort
		}
	}
	return r.err
}

// reader reads a message's fields, big-endian; once past the end, it
// returns zeros and keeps errShort.
type reader struct {
	data []byte
	err  error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.data) {
		r.err = errShort
		return nil
	}
	b := r.data[:n]
	r.data = r.data[n:]
	return b
}

func (r *reader) skip(n int) { r.take(n) }

func (r *reader) byte() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) uint32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

// tuple skips a TupleData.
func (r *reader) tuple() error {
	b := r.take(2)
	if b == nil {
		return r.err
	}
	for range binary.BigEndian.Uint16(b) {
		switch kind := r.byte(); kind {
		case 'n', 'u':
		case 't', 'b':
			r.skip(int(r.uint32()))
		default:
			if r.err != nil {
				return r.err
			}
			return fmt.Errorf("column kind %q", kind)
		}
	}
	return r.err
}

// relation records what m says of its table.
func (d *decoder) relation(m *pglogrepl.RelationMessage) {
	r := relation{
		table:   cdc.Table{Database: d.database, Schema: m.Namespace, Name: m.RelationName},
		columns: make([]string, len(m.Columns)),
	}
	for i, c := range m.Columns {
		r.columns[i] = c.Name
	}
	d.relations[m.RelationID] = r
}

// changes returns the events of a row change message (Insert, Update,
// Delete, Truncate), which stands at pos in a transaction that committed at
// commit. A Truncate gives an event per relation it names; one naming a
// relation the stream did not describe gives the others' events and an
// error.
func (d *decoder) changes(m pglogrepl.Message, pos pglogrepl.LSN, commit time.Time) ([]cdc.Event, error) {
	ev := cdc.Event{Position: pos.String(), Commit: commit}
	var err error
	switch m := m.(type) {
	case *pglogrepl.InsertMessage:
		ev.Op = cdc.Create
		ev.Table, ev.After, err = d.row(m.RelationID, m.Tuple)
	case *pglogrepl.UpdateMessage:
		ev.Op = cdc.Update
		ev.Table, ev.After, err = d.row(m.RelationID, m.NewTuple)
		if err == nil && m.OldTuple != nil { // 'K' (the key changed) or 'O' (REPLICA IDENTITY FULL)
			_, ev.Before, err = d.row(m.RelationID, m.OldTuple)
			unchanged(ev.Before, ev.After, d.relations[m.RelationID], m.NewTuple)
		}
	case *pglogrepl.DeleteMessage:
		ev.Op = cdc.Delete
		ev.Table, ev.Before, err = d.row(m.RelationID, m.OldTuple)
	case *pglogrepl.TruncateMessage:
		evs := make([]cdc.Event, 0, len(m.RelationIDs))
		var errs []error
		for _, id := range m.RelationIDs {
			r, ok := d.relations[id]
			if !ok {
				errs = append(errs, unknownRelation(id))
				continue
			}
			evs = append(evs, cdc.Event{Table: r.table, Op: cdc.Truncate, Position: ev.Position, Commit: commit})
		}
		return evs, errors.Join(errs...)
	default:
		return nil, fmt.Errorf("pgsource: %s is not a row change", m.Type())
	}
	if err != nil {
		return nil, err
	}
	return []cdc.Event{ev}, nil
}

func unknownRelation(id uint32) error {
	return fmt.Errorf("%w: relation %d was not described", errMalformed, id)
}

// row converts a tuple of relation id: text values as they are, NULLs and
// unchanged TOASTed values absent.
func (d *decoder) row(id uint32, tuple *pglogrepl.TupleData) (cdc.Table, cdc.Row, error) {
	r, ok := d.relations[id]
	if !ok {
		return cdc.Table{}, nil, unknownRelation(id)
	}
	if tuple == nil {
		return r.table, nil, fmt.Errorf("%w: no tuple for %s", errMalformed, r.table)
	}
	if len(tuple.Columns) > len(r.columns) {
		return r.table, nil, fmt.Errorf("%w: a tuple of %d columns for %s, which has %d", errMalformed,
			len(tuple.Columns), r.table, len(r.columns))
	}
	row := make(cdc.Row, len(tuple.Columns))
	for i, c := range tuple.Columns {
		switch c.DataType {
		case pglogrepl.TupleDataTypeText:
			row[r.columns[i]] = string(c.Data)
		case pglogrepl.TupleDataTypeNull, pglogrepl.TupleDataTypeToast:
		default:
			return r.table, nil, fmt.Errorf("%w: column %s of %s has format %q", errMalformed, r.columns[i], r.table, c.DataType)
		}
	}
	return r.table, row, nil
}

// unchanged copies into after the old row's values of the columns the new
// tuple left out as unchanged TOASTed values: unchanged, they are the old
// row's, when REPLICA IDENTITY FULL sent it.
func unchanged(before, after cdc.Row, r relation, tuple *pglogrepl.TupleData) {
	if before == nil || after == nil {
		return
	}
	for i, c := range tuple.Columns {
		if c.DataType != pglogrepl.TupleDataTypeToast || i >= len(r.columns) {
			continue
		}
		if v, ok := before[r.columns[i]]; ok {
			after[r.columns[i]] = v
		}
	}
}
