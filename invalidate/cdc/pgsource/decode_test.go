package pgsource

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/tiercache/tiercache/invalidate/cdc"
)

func TestDecoder_Changes(t *testing.T) {
	t.Parallel()
	commit := time.Date(2026, 12, 1, 10, 0, 0, 123000, time.UTC)
	users := cdc.Table{Database: "app", Schema: "public", Name: "users"}
	orders := cdc.Table{Database: "app", Schema: "shop", Name: "orders"}
	id, email, company := "id", "email", "company_id"
	tests := []struct {
		name    string
		msg     []byte
		want    []cdc.Event
		wantErr bool
	}{{
		name: "insert: integers exact, NULL absent",
		msg:  msgInsert(1, val("9007199254740993"), null, val("10")),
		want: []cdc.Event{{Table: users, Op: cdc.Create, After: cdc.Row{id: "9007199254740993", company: "10"}}},
	}, {
		name: "update without old tuple (REPLICA IDENTITY DEFAULT, key kept)",
		msg:  msgUpdate(1, 0, nil, []col{val("1"), val("b@x"), val("10")}),
		want: []cdc.Event{{Table: users, Op: cdc.Update, After: cdc.Row{id: "1", email: "b@x", company: "10"}}},
	}, {
		name: "update with the old key ('K': the key changed)",
		msg:  msgUpdate(1, 'K', []col{val("1"), null, null}, []col{val("2"), val("b@x"), val("10")}),
		want: []cdc.Event{{Table: users, Op: cdc.Update, Before: cdc.Row{id: "1"}, After: cdc.Row{id: "2", email: "b@x", company: "10"}}},
	}, {
		name: "update with the old row ('O': REPLICA IDENTITY FULL)",
		msg:  msgUpdate(1, 'O', []col{val("1"), val("a@x"), val("10")}, []col{val("1"), val("b@x"), val("11")}),
		want: []cdc.Event{{Table: users, Op: cdc.Update, Before: cdc.Row{id: "1", email: "a@x", company: "10"},
			After: cdc.Row{id: "1", email: "b@x", company: "11"}}},
	}, {
		name: "unchanged TOAST: absent, unless the old row has it",
		msg:  msgUpdate(1, 'O', []col{val("1"), val("long"), val("10")}, []col{val("1"), toast, val("11")}),
		want: []cdc.Event{{Table: users, Op: cdc.Update, Before: cdc.Row{id: "1", email: "long", company: "10"},
			After: cdc.Row{id: "1", email: "long", company: "11"}}},
	}, {
		name: "unchanged TOAST without old row: absent",
		msg:  msgUpdate(1, 0, nil, []col{val("1"), toast, val("11")}),
		want: []cdc.Event{{Table: users, Op: cdc.Update, After: cdc.Row{id: "1", company: "11"}}},
	}, {
		name: "delete by key",
		msg:  msgDelete(1, 'K', val("1"), null, null),
		want: []cdc.Event{{Table: users, Op: cdc.Delete, Before: cdc.Row{id: "1"}}},
	}, {
		name: "delete of the full row",
		msg:  msgDelete(1, 'O', val("1"), val("a@x"), val("10")),
		want: []cdc.Event{{Table: users, Op: cdc.Delete, Before: cdc.Row{id: "1", email: "a@x", company: "10"}}},
	}, {
		name: "truncate: one event per table",
		msg:  msgTruncate(1, 2),
		want: []cdc.Event{{Table: users, Op: cdc.Truncate}, {Table: orders, Op: cdc.Truncate}},
	}, {
		name:    "truncate naming an unknown relation: the others, and an error",
		msg:     msgTruncate(1, 99),
		want:    []cdc.Event{{Table: users, Op: cdc.Truncate}},
		wantErr: true,
	}, {
		name:    "unknown relation",
		msg:     msgInsert(99, val("1")),
		wantErr: true,
	}, {
		name:    "more columns than the relation",
		msg:     msgInsert(2, val("1"), val("2")),
		wantErr: true,
	}, {
		name:    "binary value",
		msg:     msgInsert(2, col{v: new("\x00\x01"), binary: true}),
		wantErr: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := newDecoder("app")
			for _, rel := range [][]byte{msgRelation(1, "public", "users", id, email, company), msgRelation(2, "shop", "orders", "id")} {
				m, err := parse(rel)
				if err != nil {
					t.Fatal(err)
				}
				d.relation(m.(*pglogrepl.RelationMessage))
			}
			m, err := parse(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.changes(m, 0x16B3748, commit)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			for i := range tt.want {
				tt.want[i].Position, tt.want[i].Commit = "0/16B3748", commit
			}
			if !reflect.DeepEqual(got, tt.want) && (len(got) > 0 || len(tt.want) > 0) {
				t.Errorf("events:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// A Relation message that comes again (after ALTER TABLE, or when the
// server's cache was reset) replaces the first: later tuples are read with
// its columns.
func TestDecoder_RelationOverwritten(t *testing.T) {
	t.Parallel()
	d := newDecoder("app")
	for _, rel := range [][]byte{msgRelation(7, "public", "users", "id", "email"), msgRelation(7, "public", "people", "id", "name", "email")} {
		m, err := parse(rel)
		if err != nil {
			t.Fatal(err)
		}
		d.relation(m.(*pglogrepl.RelationMessage))
	}
	m, err := parse(msgInsert(7, val("1"), val("Ada"), val("a@x")))
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.changes(m, 1, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := cdc.Event{Table: cdc.Table{Database: "app", Schema: "public", Name: "people"}, Op: cdc.Create,
		After: cdc.Row{"id": "1", "name": "Ada", "email": "a@x"}, Position: "0/1"}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// Malformed messages are errors, never panics.
func TestParse_Malformed(t *testing.T) {
	t.Parallel()
	for _, data := range [][]byte{
		nil,
		{'I'},
		{'Z', 1, 2},
		msgInsert(1, val("1"))[:9], // a tuple cut short
		append(wire{'I'}.u32(1).u8('N').u16(1).u8('t'), 0xFF, 0xFF, 0xFF, 0xF0), // a value's length past the end
		wire{'T'}.u32(0xFFFFFFF0).u8(0).u32(1),                                  // more relations than bytes
		msgUpdate(1, 'X', nil, []col{val("1")}),                                 // an unknown tuple kind
		wire{'D'}.u32(1).u8('K').u16(1).u8('?'),                                 // an unknown column kind
	} {
		if _, err := parse(data); !errors.Is(err, errMalformed) {
			t.Errorf("parse(%q) = %v, want errMalformed", data, err)
		}
	}
}
