package cdc_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tiercache/tiercache/invalidate/cdc"
)

// dbzSource is the source block of a current (3.x) PostgreSQL connector's
// event for public.customers, as Debezium's documentation shows it.
const dbzSource = `{"version":"3.0.5.Final","connector":"postgresql","name":"PostgreSQL_server",` +
	`"ts_ms":1559033904863,"snapshot":"false","db":"postgres","sequence":"[\"24023119\",\"24023128\"]",` +
	`"ts_us":1559033904863123,"ts_ns":1559033904863123000,"schema":"public","table":"customers",` +
	`"txId":556,"lsn":24023128,"xmin":null}`

// dbzEvent returns the payload of an event for public.customers, without
// the schema wrapper; before and after are JSON texts.
func dbzEvent(op, before, after string) string {
	return `{"before":` + before + `,"after":` + after + `,"source":` + dbzSource +
		`,"op":"` + op + `","ts_ms":1559033905000,"transaction":null}`
}

// dbzWithSource returns an event whose source block is source.
func dbzWithSource(op, after, source string) string {
	return `{"before":null,"after":` + after + `,"source":` + source + `,"op":"` + op + `"}`
}

// dbzSourceOf returns dbzSource for another table.
func dbzSourceOf(table string) string {
	return strings.Replace(dbzSource, `"table":"customers"`, `"table":"`+table+`"`, 1)
}

// dbzSourceAt returns dbzSource with another source.ts_ms.
func dbzSourceAt(tsMs string) string {
	return strings.Replace(dbzSource, `"ts_ms":1559033904863`, `"ts_ms":`+tsMs, 1)
}

var (
	dbzCustomers = cdc.Table{Database: "postgres", Schema: "public", Name: "customers"}
	dbzCommit    = time.UnixMilli(1559033904863).UTC()
)

// dbzDeep returns n nested arrays around 1.
func dbzDeep(n int) string { return strings.Repeat("[", n) + "1" + strings.Repeat("]", n) }

type dbzCase struct {
	name       string
	key, value []byte
	want       cdc.Event
	err        error  // nil for success
	msg        string // a part of the error's message
}

// dbzBytes is s as a key or value.
func dbzBytes(s string) []byte { return []byte(s) }

// dbzCases are the cases of TestDecodeDebezium, and seeds of
// FuzzDecodeDebezium.
func dbzCases(tb testing.TB) []dbzCase {
	tb.Helper()
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join("testdata", "debezium", name))
		if err != nil {
			tb.Fatal(err)
		}
		return data
	}
	anne := cdc.Row{"id": "1", "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"}
	anneAfter := `{"id":1,"first_name":"Anne","last_name":"Kretchmar","email":"annek@noanswer.org"}`
	annek := cdc.Row{"id": "1", "first_name": "Anne Marie", "last_name": "Kretchmar", "email": "annek@noanswer.org"}
	annekAfter := `{"id":1,"first_name":"Anne Marie","last_name":"Kretchmar","email":"annek@noanswer.org"}`
	orders := cdc.Table{Database: "postgres", Schema: "public", Name: "orders"}
	return []dbzCase{
		// Debezium's documented events, PostgreSQL connector.
		{
			name: "create",
			key:  dbzBytes(`{"id":1}`),
			value: dbzBytes(`{
				"before": null,
				"after": {"id": 1, "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"},
				"source": ` + dbzSource + `,
				"op": "c",
				"ts_ms": 1559033904863
			}`),
			want: cdc.Event{Table: dbzCustomers, Op: cdc.Create, After: anne, Commit: dbzCommit},
		},
		{
			name:  "create with schemas.enable",
			key:   read("customers_create.key.json"),
			value: read("customers_create.value.json"),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Create, After: anne, Commit: dbzCommit},
		},
		{
			name:  "create, schema null",
			value: dbzBytes(`{"schema":null,"payload":` + dbzEvent("c", "null", anneAfter) + `}`),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Create, After: anne, Commit: dbzCommit},
		},
		{
			name:  "update, replica identity default",
			key:   dbzBytes(`{"id":1}`),
			value: dbzBytes(dbzEvent("u", `{"id":1}`, annekAfter)),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Update, Before: cdc.Row{"id": "1"}, After: annek, Commit: dbzCommit},
		},
		{
			name:  "update keeping the key, no old row",
			key:   dbzBytes(`{"id":1}`),
			value: dbzBytes(dbzEvent("u", "null", annekAfter)),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Update, After: annek, Commit: dbzCommit},
		},
		{
			name:  "update, replica identity full",
			key:   dbzBytes(`{"id":1}`),
			value: dbzBytes(dbzEvent("u", anneAfter, annekAfter)),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Update, Before: anne, After: annek, Commit: dbzCommit},
		},
		{
			name:  "delete",
			key:   dbzBytes(`{"id":1}`),
			value: dbzBytes(dbzEvent("d", `{"id":1}`, "null")),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Delete, Before: cdc.Row{"id": "1"}, Commit: dbzCommit},
		},
		{
			name:  "delete, replica identity full, before wins over the key",
			key:   dbzBytes(`{"id":1}`),
			value: dbzBytes(dbzEvent("d", anneAfter, "null")),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Delete, Before: anne, Commit: dbzCommit},
		},
		{
			name:  "delete with only the key",
			key:   dbzBytes(`{"id":1}`),
			value: dbzBytes(dbzEvent("d", "null", "null")),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Delete, Before: cdc.Row{"id": "1"}, Commit: dbzCommit},
		},
		{
			name: "delete without before, wrapped key with a bigint",
			key: dbzBytes(`{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"}],` +
				`"optional":false,"name":"PostgreSQL_server.public.customers.Key"},"payload":{"id":9007199254740993}}`),
			value: dbzBytes(`{"after":null,"source":` + dbzSource + `,"op":"d"}`),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Delete, Before: cdc.Row{"id": "9007199254740993"}, Commit: dbzCommit},
		},
		{
			name:  "delete with only a composite key",
			key:   dbzBytes(`{"tenant_id":7,"order_id":"A-1"}`),
			value: dbzBytes(dbzWithSource("d", "null", dbzSourceOf("orders"))),
			want:  cdc.Event{Table: orders, Op: cdc.Delete, Before: cdc.Row{"tenant_id": "7", "order_id": "A-1"}, Commit: dbzCommit},
		},
		{
			name:  "delete with neither before nor key",
			value: dbzBytes(dbzEvent("d", "null", "null")),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Delete, Commit: dbzCommit},
		},
		{
			name:  "delete, key null",
			key:   dbzBytes(`null`),
			value: dbzBytes(dbzEvent("d", "null", "null")),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Delete, Commit: dbzCommit},
		},
		{
			name:  "read (snapshot)",
			key:   dbzBytes(`{"id":1}`),
			value: dbzBytes(dbzWithSource("r", anneAfter, strings.Replace(dbzSource, `"snapshot":"false"`, `"snapshot":"last"`, 1))),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Read, After: anne, Commit: dbzCommit},
		},
		{
			name: "read, incremental snapshot",
			value: dbzBytes(dbzWithSource("r", anneAfter,
				strings.Replace(dbzSource, `"snapshot":"false"`, `"snapshot":"incremental"`, 1))),
			want: cdc.Event{Table: dbzCustomers, Op: cdc.Read, After: anne, Commit: dbzCommit},
		},
		{
			name: "Debezium 0.9: snapshot a bool, ts_usec, no ts_ms",
			value: dbzBytes(`{"before":null,"after":{"id":1,"created_at":"2020-09-27T13:37:24.058468Z","column_a":"a"},` +
				`"source":{"version":"0.9.5.Final","connector":"postgresql","name":"foo","db":"foo",` +
				`"ts_usec":1601213844074632,"txId":644,"lsn":28581784,"schema":"bar","table":"events",` +
				`"snapshot":true,"last_snapshot_record":null,"xmin":null},"op":"c","ts_ms":1601213844598}`),
			want: cdc.Event{
				Table: cdc.Table{Database: "foo", Schema: "bar", Name: "events"}, Op: cdc.Create,
				After: cdc.Row{"id": "1", "created_at": "2020-09-27T13:37:24.058468Z", "column_a": "a"},
			},
		},
		{
			name: "truncate",
			value: dbzBytes(`{"schema":{"type":"struct","fields":[],"optional":false,"name":"PostgreSQL_server.public.customers.Envelope"},
				"payload":{"source":` + dbzSource + `,"op":"t","ts_ms":1559033904961,"ts_us":1559033904961654,"ts_ns":1559033904961654789}}`),
			want: cdc.Event{Table: dbzCustomers, Op: cdc.Truncate, Commit: dbzCommit},
		},
		{
			name:  "truncate, before and after null",
			value: dbzBytes(dbzEvent("t", "null", "null")),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Truncate, Commit: dbzCommit},
		},
		{
			name: "MySQL: no source.schema",
			key:  dbzBytes(`{"id":1001}`),
			value: dbzBytes(dbzWithSource("c", `{"id":1001,"first_name":"Sally"}`,
				`{"version":"2.7.0.Final","connector":"mysql","name":"mysql-server-1","ts_ms":1465581029100,`+
					`"snapshot":"false","db":"inventory","table":"customers","server_id":223344,"gtid":null,`+
					`"file":"mysql-bin.000003","pos":484,"row":0,"thread":7,"query":null}`)),
			want: cdc.Event{
				Table: cdc.Table{Database: "inventory", Name: "customers"}, Op: cdc.Create,
				After: cdc.Row{"id": "1001", "first_name": "Sally"}, Commit: time.UnixMilli(1465581029100).UTC(),
			},
		},

		// Columns.
		{
			name: "numbers stay as their literals",
			value: dbzBytes(dbzEvent("c", "null", `{"id":9007199254740993,"big":123456789012345678901234567890,`+
				`"inf":1e400,"price":1.50,"min":-9223372036854775808,"u64":18446744073709551615,"zero":-0,"e":2.5E-3}`)),
			want: cdc.Event{Table: dbzCustomers, Op: cdc.Create, Commit: dbzCommit, After: cdc.Row{
				"id": "9007199254740993", "big": "123456789012345678901234567890", "inf": "1e400", "price": "1.50",
				"min": "-9223372036854775808", "u64": "18446744073709551615", "zero": "-0", "e": "2.5E-3",
			}},
		},
		{
			name:  "uuid key",
			key:   dbzBytes(`{"id":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}`),
			value: dbzBytes(dbzEvent("d", "null", "null")),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Delete, Before: cdc.Row{"id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}, Commit: dbzCommit},
		},
		{
			name: "column types",
			value: dbzBytes(dbzEvent("c", "null", `{
				"active": true, "deleted": false, "nickname": null, "empty": "",
				"note": "caf\u00e9 \"q\"\n", "doc": "{\"a\": 1}",
				"amount": {"scale": 2, "value": "AgQ="},
				"location": {"wkb": "AQEAAAAAAAAAAADwPwAAAAAAAPA/", "srid": null},
				"tags": [1, 2, 3], "nested": `+dbzDeep(500)+`
			}`)),
			want: cdc.Event{Table: dbzCustomers, Op: cdc.Create, Commit: dbzCommit, After: cdc.Row{
				"active": "true", "deleted": "false", "empty": "", "note": "café \"q\"\n", "doc": `{"a": 1}`,
				"amount": `{"scale":2,"value":"AgQ="}`, "location": `{"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAPA/","srid":null}`,
				"tags": "[1,2,3]", "nested": dbzDeep(500),
			}},
		},
		{
			name:  "empty after",
			value: dbzBytes(dbzEvent("c", "null", "{}")),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Create, After: cdc.Row{}, Commit: dbzCommit},
		},
		{
			name:  "invalid UTF-8 in a string",
			value: dbzBytes(dbzEvent("c", "null", "{\"name\":\"a\xffb\"}")),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Create, After: cdc.Row{"name": "a\uFFFDb"}, Commit: dbzCommit},
		},
		{
			name:  "a column named twice keeps its last value",
			value: dbzBytes(dbzEvent("c", "null", `{"id":1,"id":2}`)),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Create, After: cdc.Row{"id": "2"}, Commit: dbzCommit},
		},
		{
			name:  "source.ts_ms null",
			value: dbzBytes(dbzWithSource("c", `{"id":1}`, dbzSourceAt("null"))),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Create, After: cdc.Row{"id": "1"}},
		},
		{
			name:  "source.ts_ms 0",
			value: dbzBytes(dbzWithSource("c", `{"id":1}`, dbzSourceAt("0"))),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Create, After: cdc.Row{"id": "1"}},
		},
		{
			name:  "spaces around everything",
			key:   dbzBytes(" \n{ \"id\" :\t1 }\r\n"),
			value: dbzBytes("\n\t " + dbzEvent("d", "null", "null") + " \n"),
			want:  cdc.Event{Table: dbzCustomers, Op: cdc.Delete, Before: cdc.Row{"id": "1"}, Commit: dbzCommit},
		},
		{
			name:  "a column named payload is no wrapper",
			key:   dbzBytes(`{"schema":{},"payload":{"id":1},"x":1}`),
			value: dbzBytes(dbzEvent("d", "null", "null")),
			want: cdc.Event{Table: dbzCustomers, Op: cdc.Delete, Commit: dbzCommit,
				Before: cdc.Row{"schema": "{}", "payload": `{"id":1}`, "x": "1"}},
		},

		// Not changes.
		{name: "tombstone", key: dbzBytes(`{"id":1}`), err: cdc.ErrTombstone},
		{name: "tombstone, empty value", key: dbzBytes(`{"id":1}`), value: []byte{}, err: cdc.ErrTombstone},
		{name: "tombstone, JSON null", value: dbzBytes(" null "), err: cdc.ErrTombstone},
		{name: "tombstone, wrapped null", value: dbzBytes(`{"schema":null,"payload":null}`), err: cdc.ErrTombstone},
		{name: "tombstone, malformed key ignored", key: dbzBytes(`{`), err: cdc.ErrTombstone},
		{
			name: "message",
			key:  dbzBytes(`{"prefix":"foo"}`),
			value: dbzBytes(`{"source":` + strings.Replace(dbzSourceOf(""), `"schema":"public"`, `"schema":""`, 1) +
				`,"op":"m","ts_ms":1559033904961,"message":{"prefix":"foo","content":"Ymfy"}}`),
			err: cdc.ErrNotAChange, msg: `op "m"`,
		},

		// Malformed.
		{name: "not JSON", value: dbzBytes(`hello`), err: cdc.ErrMalformed, msg: "value: invalid character 'h'"},
		{name: "truncated JSON", value: dbzBytes(`{"op":"c"`), err: cdc.ErrMalformed, msg: "value: unexpected end of JSON"},
		{name: "trailing bytes", value: dbzBytes(`{} x`), err: cdc.ErrMalformed, msg: "after top-level value"},
		{name: "two values", value: dbzBytes(`{}{}`), err: cdc.ErrMalformed, msg: "after top-level value"},
		{name: "value an array", value: dbzBytes(`[1]`), err: cdc.ErrMalformed, msg: "value: an array, want an object"},
		{name: "value a string", value: dbzBytes(`"c"`), err: cdc.ErrMalformed, msg: "value: a string, want an object"},
		{name: "empty object", value: dbzBytes(`{}`), err: cdc.ErrMalformed, msg: "op: missing"},
		{name: "op a number", value: dbzBytes(`{"op":5,"source":` + dbzSource + `}`), err: cdc.ErrMalformed, msg: "op: a number, want a string"},
		{name: "op null", value: dbzBytes(`{"op":null,"source":` + dbzSource + `}`), err: cdc.ErrMalformed, msg: "op: missing"},
		{name: "op missing", value: dbzBytes(`{"after":{"id":1},"source":` + dbzSource + `}`), err: cdc.ErrMalformed, msg: "op: missing"},
		{name: "op unknown", value: dbzBytes(dbzEvent("x", "null", "null")), err: cdc.ErrMalformed, msg: `op: unknown "x"`},
		{name: "op upper case", value: dbzBytes(dbzEvent("C", "null", `{"id":1}`)), err: cdc.ErrMalformed, msg: `op: unknown "C"`},
		{name: "op empty", value: dbzBytes(dbzEvent("", "null", `{"id":1}`)), err: cdc.ErrMalformed, msg: `op: unknown ""`},
		{name: "op long", value: dbzBytes(dbzEvent(strings.Repeat("c", 100), "null", `{"id":1}`)), err: cdc.ErrMalformed, msg: `cccc..."`},
		{name: "after a string", value: dbzBytes(dbzEvent("c", "null", `"x"`)), err: cdc.ErrMalformed, msg: "after: a string, want an object or null"},
		{name: "after an array", value: dbzBytes(dbzEvent("c", "null", `[{"id":1}]`)), err: cdc.ErrMalformed, msg: "after: an array"},
		{name: "before a number", value: dbzBytes(dbzEvent("u", "5", `{"id":1}`)), err: cdc.ErrMalformed, msg: "before: a number"},
		{name: "source missing", value: dbzBytes(`{"after":{"id":1},"op":"c"}`), err: cdc.ErrMalformed, msg: "source: missing"},
		{name: "source null", value: dbzBytes(`{"after":{"id":1},"source":null,"op":"c"}`), err: cdc.ErrMalformed, msg: "source: missing"},
		{name: "source a string", value: dbzBytes(dbzWithSource("c", `{"id":1}`, `"pg"`)), err: cdc.ErrMalformed, msg: "source: a string"},
		{name: "source.table missing", value: dbzBytes(dbzWithSource("c", `{"id":1}`, `{"db":"postgres","schema":"public"}`)), err: cdc.ErrMalformed, msg: "source.table: missing"},
		{name: "source.table empty", value: dbzBytes(dbzWithSource("c", `{"id":1}`, dbzSourceOf(""))), err: cdc.ErrMalformed, msg: "source.table: missing or empty"},
		{name: "source.table a number", value: dbzBytes(dbzWithSource("c", `{"id":1}`, `{"table":5}`)), err: cdc.ErrMalformed, msg: "source.table: a number, want a string"},
		{name: "source.db a number", value: dbzBytes(dbzWithSource("c", `{"id":1}`, `{"db":5,"table":"t"}`)), err: cdc.ErrMalformed, msg: "source.db: a number"},
		{name: "source.schema a bool", value: dbzBytes(dbzWithSource("c", `{"id":1}`, `{"schema":true,"table":"t"}`)), err: cdc.ErrMalformed, msg: "source.schema: a boolean"},
		{name: "source.ts_ms a string", value: dbzBytes(dbzWithSource("c", `{"id":1}`, dbzSourceAt(`"1559033904863"`))), err: cdc.ErrMalformed, msg: "source.ts_ms: a string, want a number"},
		{name: "source.ts_ms a fraction", value: dbzBytes(dbzWithSource("c", `{"id":1}`, dbzSourceAt("1.5"))), err: cdc.ErrMalformed, msg: "source.ts_ms: 1.5 is not an integer"},
		{name: "source.ts_ms 1e400", value: dbzBytes(dbzWithSource("c", `{"id":1}`, dbzSourceAt("1e400"))), err: cdc.ErrMalformed, msg: "source.ts_ms: 1e400"},
		{name: "source.ts_ms over int64", value: dbzBytes(dbzWithSource("c", `{"id":1}`, dbzSourceAt("123456789012345678901234567890"))), err: cdc.ErrMalformed, msg: "source.ts_ms: 1234"},
		{name: "create without after", value: dbzBytes(dbzEvent("c", "null", "null")), err: cdc.ErrMalformed, msg: "after: missing in op create"},
		{name: "create with before", value: dbzBytes(dbzEvent("c", `{"id":1}`, `{"id":1}`)), err: cdc.ErrMalformed, msg: "before: set in op create"},
		{name: "read without after", value: dbzBytes(dbzEvent("r", "null", "null")), err: cdc.ErrMalformed, msg: "after: missing in op read"},
		{name: "update without after", value: dbzBytes(dbzEvent("u", `{"id":1}`, "null")), err: cdc.ErrMalformed, msg: "after: missing in op update"},
		{name: "delete with after", value: dbzBytes(dbzEvent("d", `{"id":1}`, `{"id":1}`)), err: cdc.ErrMalformed, msg: "after: set in op delete"},
		{name: "truncate with a row", value: dbzBytes(dbzEvent("t", "null", `{"id":1}`)), err: cdc.ErrMalformed, msg: "set in op truncate"},
		{name: "key not JSON", key: dbzBytes(`{"id":`), value: dbzBytes(dbzEvent("d", "null", "null")), err: cdc.ErrMalformed, msg: "key: unexpected end"},
		{name: "key an array", key: dbzBytes(`[1]`), value: dbzBytes(dbzEvent("d", "null", "null")), err: cdc.ErrMalformed, msg: "key: an array, want an object or null"},
		{name: "key a string", key: dbzBytes(`"Struct{id=1}"`), value: dbzBytes(dbzEvent("c", "null", `{"id":1}`)), err: cdc.ErrMalformed, msg: "key: a string"},
		{name: "key payload a number", key: dbzBytes(`{"schema":{},"payload":5}`), value: dbzBytes(dbzEvent("d", "null", "null")), err: cdc.ErrMalformed, msg: "key: payload: a number"},
		{name: "payload a string", value: dbzBytes(`{"schema":{},"payload":"x"}`), err: cdc.ErrMalformed, msg: "value: payload: a string, want an object or null"},
		{name: "deep nesting in a column", value: dbzBytes(dbzEvent("c", "null", `{"a":`+dbzDeep(20000)+`}`)), err: cdc.ErrMalformed, msg: "exceeded max depth"},
		{name: "deep nesting", value: dbzBytes(strings.Repeat("[", 100000)), err: cdc.ErrMalformed, msg: "value: invalid character '[' exceeded max depth"},
		{name: "deep nesting in the key", key: dbzBytes(dbzDeep(10001)), value: dbzBytes(dbzEvent("d", "null", "null")), err: cdc.ErrMalformed, msg: "key: invalid character '[' exceeded max depth"},
	}
}

func TestDecodeDebezium(t *testing.T) {
	t.Parallel()
	for _, tt := range dbzCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := cdc.DecodeDebezium(tt.key, tt.value)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("error = %v, want %v", err, tt.err)
				}
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("error %q does not say %q", err, tt.msg)
				}
				if !reflect.DeepEqual(got, cdc.Event{}) {
					t.Errorf("event with the error: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if !got.Commit.IsZero() && got.Commit.Location() != time.UTC {
				t.Errorf("Commit in %v, want UTC", got.Commit.Location())
			}
		})
	}
}

func TestDecodeDebezium_Size(t *testing.T) {
	t.Parallel()
	// The largest value accepted: a create with one long column.
	head, tail := `{"op":"c","source":{"table":"t"},"after":{"s":"`, `"}}`
	pad := strings.Repeat("x", cdc.MaxDebeziumSize-len(head)-len(tail))
	ev, err := cdc.DecodeDebezium(nil, dbzBytes(head+pad+tail))
	if err != nil || ev.After["s"] != pad {
		t.Fatalf("value of MaxDebeziumSize bytes: %v, %d bytes of column", err, len(ev.After["s"]))
	}
	_, err = cdc.DecodeDebezium(nil, dbzBytes(head+pad+"x"+tail))
	if !errors.Is(err, cdc.ErrMalformed) || !strings.Contains(err.Error(), "value: 16777217 bytes, over MaxDebeziumSize") {
		t.Errorf("value of MaxDebeziumSize+1 bytes: %v", err)
	}
	_, err = cdc.DecodeDebezium(dbzBytes(`{"id":"`+pad+`xx"}`+strings.Repeat(" ", len(head)+len(tail)-10)), dbzBytes(dbzEvent("d", "null", "null")))
	if !errors.Is(err, cdc.ErrMalformed) || !strings.Contains(err.Error(), "key: 16777217 bytes") {
		t.Errorf("key of MaxDebeziumSize+1 bytes: %v", err)
	}

	// Wide and deep values of about MaxDebeziumSize bytes take linear
	// time: these run in well under a second, not for hours.
	wide := strings.Repeat("0,", (cdc.MaxDebeziumSize-100)/2)
	ev, err = cdc.DecodeDebezium(nil, dbzBytes(`{"op":"c","source":{"table":"t"},"after":{"a":[`+wide+`0]}}`))
	if err != nil || len(ev.After["a"]) != len(wide)+3 {
		t.Errorf("a wide array: %v, %d bytes", err, len(ev.After["a"]))
	}
	for _, open := range []string{"[", `{"a":`, `[{"a":`} {
		nest := strings.Repeat(open, (cdc.MaxDebeziumSize-100)/len(open))
		_, err = cdc.DecodeDebezium(nil, dbzBytes(`{"op":"c","source":{"table":"t"},"after":{"a":`+nest))
		if !errors.Is(err, cdc.ErrMalformed) || !strings.Contains(err.Error(), "exceeded max depth") {
			t.Errorf("%q nested: %v", open, err)
		}
	}
	many := strings.Repeat(`{"a":1},`, (cdc.MaxDebeziumSize-100)/8)
	ev, err = cdc.DecodeDebezium(nil, dbzBytes(`{"op":"c","source":{"table":"t"},"after":{"a":[`+many+`{}]}}`))
	if err != nil || len(ev.After["a"]) != len(many)+4 {
		t.Errorf("many small objects: %v, %d bytes", err, len(ev.After["a"]))
	}
}

// TestDecodeDebezium_Integers checks that integers of any size reach the
// row as their literal, in before, after and the key.
func TestDecodeDebezium_Integers(t *testing.T) {
	t.Parallel()
	for _, lit := range []string{
		"0", "-1", "42", "9007199254740992", "9007199254740993", "-9007199254740993",
		"9223372036854775807", "9223372036854775808", "-9223372036854775809",
		"18446744073709551615", "18446744073709551616", "123456789012345678901234567890",
		strings.Repeat("9", 400),
	} {
		row := cdc.Row{"id": lit}
		ev, err := cdc.DecodeDebezium(nil, dbzBytes(dbzEvent("u", `{"id":`+lit+`}`, `{"id":`+lit+`}`)))
		if err != nil || !reflect.DeepEqual(ev.Before, row) || !reflect.DeepEqual(ev.After, row) {
			t.Errorf("%s in before and after: %+v, %v", lit, ev, err)
		}
		ev, err = cdc.DecodeDebezium(dbzBytes(`{"id":`+lit+`}`), dbzBytes(dbzEvent("d", "null", "null")))
		if err != nil || !reflect.DeepEqual(ev.Before, row) {
			t.Errorf("%s in the key: %+v, %v", lit, ev, err)
		}
	}
}

func ExampleDecodeDebezium() {
	key := []byte(`{"id":9007199254740993}`)
	value := []byte(`{
		"before": null,
		"after": {"id": 9007199254740993, "email": "annek@noanswer.org", "vip": true, "nickname": null},
		"source": {"connector": "postgresql", "ts_ms": 1559033904863, "snapshot": "false",
			"db": "postgres", "schema": "public", "table": "customers", "txId": 555, "lsn": 24023128},
		"op": "c",
		"ts_ms": 1559033904901
	}`)
	ev, err := cdc.DecodeDebezium(key, value)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ev.Op, ev.Table, ev.Commit.Format(time.RFC3339Nano))
	fmt.Println(ev.After["id"], ev.After["email"], ev.After["vip"], len(ev.After))

	// The tombstone after a delete: skip it.
	_, err = cdc.DecodeDebezium(key, nil)
	fmt.Println(errors.Is(err, cdc.ErrTombstone))

	_, err = cdc.DecodeDebezium(nil, []byte(`{"op":5}`))
	fmt.Println(err)
	// Output:
	// create public.customers 2019-05-28T08:58:24.863Z
	// 9007199254740993 annek@noanswer.org true 3
	// true
	// cdc: malformed event: op: a number, want a string
}
