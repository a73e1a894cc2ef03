package cdc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// MaxDebeziumSize bounds the key and the value [DecodeDebezium] reads: a
// longer one is refused with [ErrMalformed] before it is parsed. Kafka's
// default limit on a record is 1 MiB.
const MaxDebeziumSize = 16 << 20

// The errors of [DecodeDebezium]; test for them with errors.Is.
var (
	// ErrTombstone is returned for a Kafka tombstone: the record with a
	// nil value that follows each delete (with the same key) so that log
	// compaction can drop the row's earlier records. It is not a failure:
	// the delete before it carried the change; skip it.
	ErrTombstone = errors.New("cdc: tombstone")
	// ErrNotAChange is returned for a well-formed record that changes no
	// row: a logical decoding message (op "m", PostgreSQL's
	// pg_logical_emit_message). It is not a failure: skip it.
	ErrNotAChange = errors.New("cdc: not a row change")
	// ErrMalformed is wrapped by every other failure: the record is not
	// a Debezium change event (not JSON, a field of the wrong type, no op
	// or source, an unknown op, a row that does not fit the op, or over
	// MaxDebeziumSize). The message names the field that was wrong.
	ErrMalformed = errors.New("cdc: malformed event")
)

// DecodeDebezium decodes one Debezium change event: the Kafka record's
// value (and key, which may be nil), as Debezium's JSON converter writes
// them, with or without the {"schema":..., "payload":...} wrapper
// (schemas.enable). A Kafka tombstone (nil or empty value, which follows a
// delete) returns [ErrTombstone]: skip it; so does a value that is JSON
// null or a wrapper with a null payload, the converter's other forms of a
// null value. A logical decoding message (op "m") returns [ErrNotAChange]:
// skip it too. Any other failure wraps [ErrMalformed].
//
// The value's payload must hold op ("c", "u", "d", "r" or "t": [Create],
// [Update], [Delete], [Read], [Truncate]) and source, with a non-empty
// source.table. The event's Table is source.db, source.schema (empty when
// absent, as from MySQL) and source.table; its Commit is source.ts_ms, an
// integer of milliseconds, in UTC (zero when absent, null or 0). The other
// fields (source.lsn, txId, snapshot, which older versions sent as a bool,
// the payload's own ts_ms, transaction) are not read, whatever their type.
// Position is left for the caller to set.
//
// before and after become Before and After: null or absent gives a nil
// Row, an object a non-nil one (empty for {}) with each column in its text
// form: a number exactly as its JSON literal ("9007199254740993", "1e400"
// and "1.50" are kept digit for digit, never read as floats), a string as
// it is, true and false as "true" and "false", an object or array (a
// Debezium struct such as a variable-scale decimal or a geometry, an SQL
// array) as its compact JSON text; a null column is absent. The op decides
// which rows there are, and any other is malformed: a create or a read has
// after and no before, an update has after (and before when the table's
// replica identity gives it), a delete has no after, a truncate neither.
//
// The key, when given and not null, must be a JSON object, wrapped or not:
// the row's primary key columns. It is checked on every event but used
// only for a delete without before (a table whose replica identity sends
// no old row): its columns, converted like a row's, become Before, so that
// the delete can be mapped. A delete with neither has a nil Before.
//
// A value and a key are wrapped when they are an object with exactly the
// two members "schema" (an object or null) and "payload": what the
// converter writes with schemas.enable. A column named twice keeps its
// last value. Invalid UTF-8 inside a JSON string is replaced with U+FFFD,
// as encoding/json does (Debezium writes none): a table name so damaged
// names no rule (skipped), a key column so damaged names no cache key. Nesting deeper than encoding/json's limit (10000) is
// malformed; the work is linear in the input's length.
func DecodeDebezium(key, value []byte) (Event, error) {
	if len(value) == 0 {
		return Event{}, ErrTombstone
	}
	if len(value) > MaxDebeziumSize {
		return Event{}, malformed("value: %d bytes, over MaxDebeziumSize (%d)", len(value), MaxDebeziumSize)
	}
	if len(key) > MaxDebeziumSize {
		return Event{}, malformed("key: %d bytes, over MaxDebeziumSize (%d)", len(key), MaxDebeziumSize)
	}
	payload, err := dbzDocument("value", value)
	if err != nil {
		return Event{}, err
	}
	if payload == nil {
		return Event{}, ErrTombstone
	}
	keyRow, err := dbzKey(key)
	if err != nil {
		return Event{}, err
	}

	op, err := dbzOp(payload["op"])
	if err != nil {
		return Event{}, err
	}
	source, err := dbzObject("source", payload["source"])
	if err != nil {
		return Event{}, err
	}
	if source == nil {
		return Event{}, malformed("source: missing")
	}
	var ev Event
	ev.Op = op
	if ev.Table, err = dbzTable(source); err != nil {
		return Event{}, err
	}
	if ev.Commit, err = dbzCommit(source["ts_ms"]); err != nil {
		return Event{}, err
	}
	if ev.Before, err = dbzRow("before", payload["before"]); err != nil {
		return Event{}, err
	}
	if ev.After, err = dbzRow("after", payload["after"]); err != nil {
		return Event{}, err
	}

	switch op {
	case Create, Read, Update:
		if ev.After == nil {
			return Event{}, malformed("after: missing in op %s", op)
		}
		if op != Update && ev.Before != nil {
			return Event{}, malformed("before: set in op %s", op)
		}
	case Delete:
		if ev.After != nil {
			return Event{}, malformed("after: set in op delete")
		}
		if ev.Before == nil {
			ev.Before = keyRow
		}
	case Truncate:
		if ev.Before != nil || ev.After != nil {
			return Event{}, malformed("before, after: set in op truncate")
		}
	}
	return ev, nil
}

// malformed returns an error wrapping ErrMalformed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// dbzDocument parses a whole key or value and returns its payload: the
// object itself, or the wrapper's payload; nil for JSON null or a null
// payload.
func dbzDocument(what string, data []byte) (map[string]json.RawMessage, error) {
	raw := bytes.Trim(data, " \t\r\n") // JSON's spaces
	if len(raw) == 0 || raw[0] != '{' {
		// Not an object: null, another value, or not JSON at all. (An
		// object is checked as it is decoded.)
		var v json.RawMessage
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, malformed("%s: %v", what, err)
		}
		raw = v
	}
	doc, err := dbzObject(what, raw)
	if err != nil || len(doc) != 2 {
		return doc, err
	}
	schema, hasSchema := doc["schema"]
	payload, hasPayload := doc["payload"]
	if !hasSchema || !hasPayload || (dbzKind(schema) != "an object" && dbzKind(schema) != "null") {
		return doc, nil
	}
	return dbzObject(what+": payload", payload)
}

// dbzKey returns the columns of the record's key, nil for none.
func dbzKey(key []byte) (Row, error) {
	if len(key) == 0 {
		return nil, nil
	}
	cols, err := dbzDocument("key", key)
	if err != nil || cols == nil {
		return nil, err
	}
	return dbzColumns("key", cols)
}

// dbzOp reads the payload's op.
func dbzOp(raw json.RawMessage) (Op, error) {
	s, err := dbzString("op", raw)
	if err != nil {
		return 0, err
	}
	switch s {
	case "c":
		return Create, nil
	case "u":
		return Update, nil
	case "d":
		return Delete, nil
	case "r":
		return Read, nil
	case "t":
		return Truncate, nil
	case "m":
		return 0, fmt.Errorf(`%w: op "m", a logical decoding message`, ErrNotAChange)
	case "":
		if len(raw) == 0 || dbzKind(raw) == "null" {
			return 0, malformed("op: missing")
		}
	}
	return 0, malformed("op: unknown %q", dbzShort(s))
}

// dbzTable reads the table a change is about from its source.
func dbzTable(source map[string]json.RawMessage) (Table, error) {
	var t Table
	var err error
	if t.Database, err = dbzString("source.db", source["db"]); err != nil {
		return Table{}, err
	}
	if t.Schema, err = dbzString("source.schema", source["schema"]); err != nil {
		return Table{}, err
	}
	if t.Name, err = dbzString("source.table", source["table"]); err != nil {
		return Table{}, err
	}
	if t.Name == "" {
		return Table{}, malformed("source.table: missing or empty")
	}
	return t, nil
}

// dbzCommit reads source.ts_ms: zero when absent, null or 0.
func dbzCommit(raw json.RawMessage) (time.Time, error) {
	switch dbzKind(raw) {
	case "null":
		return time.Time{}, nil
	case "a number":
		ms, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return time.Time{}, malformed("source.ts_ms: %s is not an integer of milliseconds", dbzShort(string(raw)))
		}
		if ms == 0 {
			return time.Time{}, nil
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	return time.Time{}, malformed("source.ts_ms: %s, want a number", dbzKind(raw))
}

// dbzRow reads before or after: nil for null or absent.
func dbzRow(what string, raw json.RawMessage) (Row, error) {
	cols, err := dbzObject(what, raw)
	if err != nil || cols == nil {
		return nil, err
	}
	return dbzColumns(what, cols)
}

// dbzColumns converts an object's members to a Row, in their text form.
func dbzColumns(what string, cols map[string]json.RawMessage) (Row, error) {
	row := make(Row, len(cols))
	for name, raw := range cols {
		switch raw[0] {
		case 'n': // null: absent
		case 't':
			row[name] = "true"
		case 'f':
			row[name] = "false"
		case '"':
			s, err := dbzUnquote(raw)
			if err != nil {
				return nil, malformed("%s.%s: %v", what, name, err)
			}
			row[name] = s
		case '{', '[':
			var b bytes.Buffer
			if err := json.Compact(&b, raw); err != nil {
				return nil, malformed("%s.%s: %v", what, name, err)
			}
			row[name] = b.String()
		default: // a number, as its literal
			row[name] = string(raw)
		}
	}
	return row, nil
}

// dbzObject decodes an object's members: nil for null or absent.
func dbzObject(what string, raw json.RawMessage) (map[string]json.RawMessage, error) {
	switch k := dbzKind(raw); k {
	case "null":
		return nil, nil
	case "an object":
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, malformed("%s: %v", what, err)
		}
		return m, nil
	default:
		return nil, malformed("%s: %s, want an object or null", what, k)
	}
}

// dbzString decodes a string: "" for null or absent.
func dbzString(what string, raw json.RawMessage) (string, error) {
	switch k := dbzKind(raw); k {
	case "null":
		return "", nil
	case "a string":
		s, err := dbzUnquote(raw)
		if err != nil {
			return "", malformed("%s: %v", what, err)
		}
		return s, nil
	default:
		return "", malformed("%s: %s, want a string", what, k)
	}
}

// dbzUnquote decodes a JSON string that encoding/json has already checked
// as part of its object. Invalid UTF-8 becomes U+FFFD, as encoding/json
// does.
func dbzUnquote(raw json.RawMessage) (string, error) {
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return string(body), nil // no escapes: the common case
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// dbzShort cuts s for an error message.
func dbzShort(s string) string {
	const limit = 40
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}

// dbzKind names the kind of a valid JSON value without its surrounding
// spaces (as encoding/json hands a RawMessage over); absent is null.
func dbzKind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "null"
	}
	switch raw[0] {
	case 'n':
		return "null"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}
