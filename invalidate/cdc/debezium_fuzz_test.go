package cdc_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/tiercache/tiercache/invalidate/cdc"
)

// FuzzDecodeDebezium feeds arbitrary keys and values to DecodeDebezium.
// It must never panic, and:
//
//   - every error is exactly one of ErrTombstone (only for an empty value,
//     JSON null or a null payload), ErrNotAChange (only for op "m") and
//     ErrMalformed, with a zero Event;
//   - an event has a valid Op, a non-empty Table.Name, and agrees with an
//     independent decoding of the same bytes (encoding/json's Decoder with
//     UseNumber, into any): the table is source's db, schema and table;
//     Commit is source.ts_ms; Before and After hold exactly the non-null
//     columns of before and after (or, for a delete without before, of the
//     key), each a number's exact literal, a string, "true"/"false", or
//     compact JSON that decodes to the same value. An integer column
//     prints back unchanged through math/big: no digit is lost to a float;
//   - wrapping the value, or the key, in {"schema":null,"payload":...}
//     changes nothing: the same event, or an error of the same kind.
func FuzzDecodeDebezium(f *testing.F) {
	for _, tt := range dbzCases(f) {
		if len(tt.key)+len(tt.value) <= 8<<10 { // larger seeds slow the fuzzer down
			f.Add(tt.key, tt.value)
		}
	}
	f.Add([]byte(nil), []byte(strings.Repeat("[", 10001)))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		ev, err := cdc.DecodeDebezium(key, value)
		if err != nil {
			checkDebeziumError(t, key, value, ev, err)
		} else {
			checkDebeziumEvent(t, key, value, ev)
		}

		// The wrapper changes nothing.
		wkey, wvalue := key, value
		if len(bytes.Trim(key, " \t\r\n")) > 0 && !dbzIsWrapper(key) {
			wkey = dbzWrap(key)
		}
		if len(bytes.Trim(value, " \t\r\n")) > 0 && !dbzIsWrapper(value) {
			wvalue = dbzWrap(value)
		}
		wev, werr := cdc.DecodeDebezium(wkey, wvalue)
		if dbzErrKind(werr) != dbzErrKind(err) || !reflect.DeepEqual(wev, ev) {
			t.Fatalf("wrapped, the event is %+v, %v; unwrapped %+v, %v", wev, werr, ev, err)
		}
	})
}

// checkDebeziumError checks DecodeDebezium's failure.
func checkDebeziumError(t *testing.T, key, value []byte, ev cdc.Event, err error) {
	t.Helper()
	if !reflect.DeepEqual(ev, cdc.Event{}) {
		t.Fatalf("event %+v with error %v", ev, err)
	}
	kind := dbzErrKind(err)
	if kind == "" {
		t.Fatalf("error %q wraps none of ErrTombstone, ErrNotAChange, ErrMalformed (or more than one)", err)
	}
	switch kind {
	case "tombstone":
		if len(value) > 0 {
			doc, ok := dbzDecodeAny(value)
			if !ok || dbzPayloadOf(doc) != nil {
				t.Fatalf("tombstone for %q", value)
			}
		}
	case "not a change":
		doc, ok := dbzDecodeAny(value)
		if !ok {
			t.Fatalf("ErrNotAChange for invalid JSON %q", value)
		}
		if payload, _ := dbzPayloadOf(doc).(map[string]any); payload["op"] != "m" {
			t.Fatalf("ErrNotAChange for op %v", payload["op"])
		}
	}
}

// checkDebeziumEvent checks ev, which DecodeDebezium returned for key and
// value, against encoding/json's reading of them.
func checkDebeziumEvent(t *testing.T, key, value []byte, ev cdc.Event) {
	t.Helper()
	if ev.Op < cdc.Create || ev.Op > cdc.Truncate {
		t.Fatalf("invalid op %v", ev.Op)
	}
	if ev.Table.Name == "" || ev.Position != "" {
		t.Fatalf("table %+v, position %q", ev.Table, ev.Position)
	}
	doc, ok := dbzDecodeAny(value)
	if !ok {
		t.Fatalf("decoded invalid JSON %q", value)
	}
	payload, ok := dbzPayloadOf(doc).(map[string]any)
	if !ok {
		t.Fatalf("decoded a payload that is no object: %q", value)
	}
	if letter := map[cdc.Op]string{cdc.Create: "c", cdc.Update: "u", cdc.Delete: "d", cdc.Read: "r", cdc.Truncate: "t"}[ev.Op]; payload["op"] != letter {
		t.Fatalf("op %v from %v", ev.Op, payload["op"])
	}
	source, _ := payload["source"].(map[string]any)
	str := func(v any) string { s, _ := v.(string); return s }
	if want := (cdc.Table{Database: str(source["db"]), Schema: str(source["schema"]), Name: str(source["table"])}); ev.Table != want {
		t.Fatalf("table %+v, source says %+v", ev.Table, want)
	}
	var ms int64
	if n, ok := source["ts_ms"].(json.Number); ok {
		var err error
		if ms, err = strconv.ParseInt(string(n), 10, 64); err != nil {
			t.Fatalf("accepted source.ts_ms %s: %v", n, err)
		}
	}
	if (ms == 0) != ev.Commit.IsZero() || (ms != 0 && ev.Commit.UnixMilli() != ms) {
		t.Fatalf("commit %v, source.ts_ms %v", ev.Commit, source["ts_ms"])
	}
	checkDbzRow(t, "after", ev.After, payload["after"])
	before := payload["before"]
	if ev.Op == cdc.Delete && before == nil && len(key) > 0 {
		k, ok := dbzDecodeAny(key)
		if !ok {
			t.Fatalf("accepted invalid key %q", key)
		}
		before = dbzPayloadOf(k)
	}
	checkDbzRow(t, "before", ev.Before, before)
}

// checkDbzRow checks that got holds the columns of want, an object or nil.
func checkDbzRow(t *testing.T, what string, got cdc.Row, want any) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Fatalf("%s: %v for null", what, got)
		}
		return
	}
	cols, ok := want.(map[string]any)
	if !ok || got == nil {
		t.Fatalf("%s: %v for %v", what, got, want)
	}
	n := 0
	for name, v := range cols {
		g, present := got[name]
		if v == nil {
			if present {
				t.Fatalf("%s.%s: %q for null", what, name, g)
			}
			continue
		}
		n++
		if !present {
			t.Fatalf("%s.%s: absent, want %v", what, name, v)
		}
		switch v := v.(type) {
		case json.Number:
			if g != string(v) {
				t.Fatalf("%s.%s: %q for the literal %s", what, name, g, v)
			}
			if i, ok := new(big.Int).SetString(g, 10); ok && g != "-0" && i.String() != g {
				t.Fatalf("%s.%s: integer %q prints back as %s", what, name, g, i)
			}
		case string:
			if g != v {
				t.Fatalf("%s.%s: %q for the string %q", what, name, g, v)
			}
		case bool:
			if g != strconv.FormatBool(v) {
				t.Fatalf("%s.%s: %q for %v", what, name, g, v)
			}
		default: // an object or an array
			var compact bytes.Buffer
			if err := json.Compact(&compact, []byte(g)); err != nil || compact.String() != g {
				t.Fatalf("%s.%s: %q is not compact JSON (%v)", what, name, g, err)
			}
			if again, ok := dbzDecodeAny([]byte(g)); !ok || !reflect.DeepEqual(again, v) {
				t.Fatalf("%s.%s: %q decodes to %v, want %v", what, name, g, again, v)
			}
		}
	}
	if len(got) != n {
		t.Fatalf("%s: %d columns, want %d: %v", what, len(got), n, got)
	}
}

// dbzDecodeAny decodes one JSON value, numbers as json.Number.
func dbzDecodeAny(data []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // more after the value
	}
	return v, true
}

// dbzPayloadOf unwraps {"schema": object or null, "payload": p} to p.
func dbzPayloadOf(doc any) any {
	if p, ok := dbzWrapped(doc); ok {
		return p
	}
	return doc
}

// wrapped returns the payload of a wrapper, and whether doc is one.
func dbzWrapped(doc any) (any, bool) {
	m, ok := doc.(map[string]any)
	if !ok || len(m) != 2 {
		return nil, false
	}
	schema, hasSchema := m["schema"]
	payload, hasPayload := m["payload"]
	_, isObject := schema.(map[string]any)
	return payload, hasSchema && hasPayload && (schema == nil || isObject)
}

// dbzIsWrapper reports whether data is JSON in the wrapper's form.
func dbzIsWrapper(data []byte) bool {
	doc, ok := dbzDecodeAny(data)
	if !ok {
		return false
	}
	_, ok = dbzWrapped(doc)
	return ok
}

// wrap wraps data as the JSON converter does with schemas.enable.
func dbzWrap(data []byte) []byte {
	return append(append([]byte(`{"schema":null,"payload":`), data...), '}')
}

// dbzErrKind names the one sentinel err wraps: "" for none or several.
func dbzErrKind(err error) string {
	if err == nil {
		return "nil"
	}
	var kinds []string
	for kind, sentinel := range map[string]error{
		"tombstone": cdc.ErrTombstone, "not a change": cdc.ErrNotAChange, "malformed": cdc.ErrMalformed,
	} {
		if errors.Is(err, sentinel) {
			kinds = append(kinds, kind)
		}
	}
	if len(kinds) != 1 {
		return ""
	}
	return kinds[0]
}
