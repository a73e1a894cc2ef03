package pgsource

import (
	"encoding/binary"
	"time"

	"github.com/jackc/pglogrepl"
)

// The encoders of this file write pgoutput messages (protocol version 1)
// as a server sends them, for the tests that run without one.

type wire []byte

func (w wire) u8(b byte) wire      { return append(w, b) }
func (w wire) u16(v uint16) wire   { return binary.BigEndian.AppendUint16(w, v) }
func (w wire) u32(v uint32) wire   { return binary.BigEndian.AppendUint32(w, v) }
func (w wire) u64(v uint64) wire   { return binary.BigEndian.AppendUint64(w, v) }
func (w wire) str(s string) wire   { return append(append(w, s...), 0) }
func (w wire) ts(t time.Time) wire { return w.u64(uint64(t.Sub(pgEpoch).Microseconds())) }

// col is a tuple's column: a value, or null (nil), or unchanged TOAST.
type col struct {
	v      *string
	toast  bool
	binary bool
}

func val(s string) col { return col{v: &s} }

var (
	null  = col{}
	toast = col{toast: true}
)

func (w wire) tuple(cols ...col) wire {
	w = w.u16(uint16(len(cols)))
	for _, c := range cols {
		switch {
		case c.toast:
			w = w.u8('u')
		case c.v == nil:
			w = w.u8('n')
		case c.binary:
			w = w.u8('b').u32(uint32(len(*c.v)))
			w = append(w, *c.v...)
		default:
			w = w.u8('t').u32(uint32(len(*c.v)))
			w = append(w, *c.v...)
		}
	}
	return w
}

func msgRelation(id uint32, schema, name string, columns ...string) []byte {
	w := wire{'R'}.u32(id).str(schema).str(name).u8('f').u16(uint16(len(columns)))
	for i, c := range columns {
		flags := byte(0)
		if i == 0 {
			flags = 1 // part of the key
		}
		w = w.u8(flags).str(c).u32(25).u32(0xFFFFFFFF)
	}
	return w
}

func msgBegin(final pglogrepl.LSN, commit time.Time, xid uint32) []byte {
	return wire{'B'}.u64(uint64(final)).ts(commit).u32(xid)
}

func msgCommit(commitLSN, end pglogrepl.LSN, commit time.Time) []byte {
	return wire{'C'}.u8(0).u64(uint64(commitLSN)).u64(uint64(end)).ts(commit)
}

func msgInsert(rel uint32, cols ...col) []byte {
	return wire{'I'}.u32(rel).u8('N').tuple(cols...)
}

// msgUpdate writes an update; kind is 'K', 'O' or 0 (no old tuple).
func msgUpdate(rel uint32, kind byte, old, cols []col) []byte {
	w := wire{'U'}.u32(rel)
	if kind != 0 {
		w = w.u8(kind).tuple(old...)
	}
	return w.u8('N').tuple(cols...)
}

func msgDelete(rel uint32, kind byte, old ...col) []byte {
	return wire{'D'}.u32(rel).u8(kind).tuple(old...)
}

func msgTruncate(rels ...uint32) []byte {
	w := wire{'T'}.u32(uint32(len(rels))).u8(0)
	for _, r := range rels {
		w = w.u32(r)
	}
	return w
}
