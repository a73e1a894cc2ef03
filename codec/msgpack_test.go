package codec_test

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/tiercache/tiercache/codec"
)

// roundTrip marshals v with c after a prefix, checks the prefix survives,
// decodes the rest and returns the decoded value and the encoding.
func roundTrip[V any](t *testing.T, c codec.Codec[V], v V) (V, []byte) {
	t.Helper()
	prefix := []byte("prefix")
	dst := append(make([]byte, 0, 3), prefix...)
	out, err := c.Marshal(dst, v)
	if err != nil {
		t.Fatalf("Marshal(%#v): %v", v, err)
	}
	if !bytes.HasPrefix(out, prefix) {
		t.Fatalf("Marshal did not append: got %q", out)
	}
	enc := out[len(prefix):]
	var back V
	if err := c.Unmarshal(enc, &back); err != nil {
		t.Fatalf("Unmarshal(%x): %v", enc, err)
	}
	return back, enc
}

func TestMsgpack_RoundTrip(t *testing.T) {
	t.Parallel()
	when := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"struct", func(t *testing.T) { checkMsgpack(t, sampleUser()) }},
		{"zero struct", func(t *testing.T) { checkMsgpack(t, user{}) }},
		{"int", func(t *testing.T) { checkMsgpack(t, -1234567) }},
		{"uint64 max", func(t *testing.T) { checkMsgpack(t, uint64(math.MaxUint64)) }},
		{"float", func(t *testing.T) { checkMsgpack(t, math.Pi) }},
		{"string", func(t *testing.T) { checkMsgpack(t, "héllo") }},
		{"empty string", func(t *testing.T) { checkMsgpack(t, "") }},
		{"long string", func(t *testing.T) { checkMsgpack(t, strings.Repeat("x", 70000)) }},
		{"bytes", func(t *testing.T) { checkMsgpack(t, []byte{0, 1, 2, 0xff}) }},
		{"slice", func(t *testing.T) { checkMsgpack(t, []int{1, 2, 3}) }},
		{"map", func(t *testing.T) { checkMsgpack(t, map[string]int{"a": 1, "b": 2}) }},
		{"nested", func(t *testing.T) { checkMsgpack(t, map[string][]user{"x": {sampleUser(), {}}}) }},
		{"pointer", func(t *testing.T) { checkMsgpack(t, &address{City: "Paris"}) }},
		{"nil pointer", func(t *testing.T) { checkMsgpack[*address](t, nil) }},
		{"time", func(t *testing.T) {
			// msgpack decodes times in time.Local.
			back, _ := roundTrip[time.Time](t, codec.Msgpack[time.Time]{}, when)
			if !back.Equal(when) {
				t.Errorf("round trip: got %v, want %v", back, when)
			}
		}},
		{"bool", func(t *testing.T) { checkMsgpack(t, true) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t)
		})
	}
}

// checkMsgpack round-trips v and checks the encoding is msgpack.Marshal's.
func checkMsgpack[V any](t *testing.T, v V) {
	t.Helper()
	back, enc := roundTrip[V](t, codec.Msgpack[V]{}, v)
	if !reflect.DeepEqual(back, v) {
		t.Errorf("round trip: got %#v, want %#v", back, v)
	}
	want, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Map && rv.Len() > 1 {
		return // maps with several keys encode in iteration order
	}
	if !bytes.Equal(enc, want) {
		t.Errorf("encoding differs from msgpack.Marshal:\n got %x\nwant %x", enc, want)
	}
}

func TestMsgpack_UnmarshalCorrupt(t *testing.T) {
	t.Parallel()
	valid, err := msgpack.Marshal(sampleUser())
	if err != nil {
		t.Fatal(err)
	}
	deep := nested(200_000)
	tests := []struct {
		name string
		data []byte
		want string // substring of the error
	}{
		{"empty", nil, "EOF"},
		{"reserved code", []byte{0xc1}, "msgpack: "},
		{"truncated value", valid[:len(valid)-1], "EOF"},
		{"truncated header", []byte{0xcd, 0x01}, "msgpack: "},
		{"truncated length", []byte{0xdb, 0x00}, "msgpack: "},
		{"truncated long array", []byte{0xdc, 0x00, 0x02, 0x01}, "more than the input holds"},
		{"trailing bytes", append(append([]byte{}, valid...), 0xc0), "trailing"},
		{"huge array", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}, "more than the input holds"},
		{"huge map", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01}, "more than the input holds"},
		{"huge str", []byte{0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, "more than the input holds"},
		{"huge bin", []byte{0xc6, 0xff, 0xff, 0xff, 0xff, 'a'}, "more than the input holds"},
		{"huge ext", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 'a'}, "msgpack: "},
		{"huge str, long input", append([]byte{0xdb, 0xff, 0xff, 0xff, 0xff}, make([]byte, 20000)...), "more than the input holds"},
		{"too deep", deep, "nesting deeper"},
		{"trailing bytes, long input", append(longString(20000), 0xc0), "trailing"},
		{"trailing bytes, long container", append([]byte{0xdc, 0x00, 0x01, 0x01}, 0xc0), "trailing"},
		{"wrong type", []byte{0xa3, 'a', 'b', 'c'}, "msgpack: "},
		{"wrong field type", []byte{0x81, 0xa2, 'i', 'd', 0xa1, 'x'}, "msgpack: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var u user
			err := codec.Msgpack[user]{}.Unmarshal(tt.data, &u)
			if !errors.Is(err, codec.ErrCorrupt) {
				t.Fatalf("Unmarshal: got %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Unmarshal: got %q, want it to contain %q", err, tt.want)
			}
			var a any
			if err := (codec.Msgpack[any]{}).Unmarshal(tt.data, &a); err == nil && tt.name != "wrong type" && tt.name != "wrong field type" {
				t.Errorf("Unmarshal into any: got nil error")
			}
		})
	}
}

// longString returns the encoding of an n-byte string.
func longString(n int) []byte {
	b, err := msgpack.Marshal(strings.Repeat("s", n))
	if err != nil {
		panic(err)
	}
	return b
}

// nested returns depth fixarray headers of one element around a nil.
func nested(depth int) []byte {
	return append(bytes.Repeat([]byte{0x91}, depth), 0xc0)
}

// TestMsgpack_UnmarshalBoundsAllocation feeds short values that declare huge
// sizes to every kind of target: none may make the library allocate for the
// declared size. (Unchecked, the first makes msgpack allocate 32 GiB.)
func TestMsgpack_UnmarshalBoundsAllocation(t *testing.T) {
	inputs := map[string][]byte{
		"array32":         {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01},
		"array16":         {0xdc, 0xff, 0xff, 0x01},
		"map32":           {0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01},
		"bin32":           {0xc6, 0xff, 0xff, 0xff, 0xff, 0x01},
		"str32":           {0xdb, 0xff, 0xff, 0xff, 0xff, 0x01},
		"fuzz crasher":    []byte("\x920\x82\xa20\x9a\xc6\xaf\xf7\xba*Y\x1d00\xa400J0\x7f"),
		"array32 in tags": {0x81, 0xa4, 't', 'a', 'g', 's', 0xdd, 0xff, 0xff, 0xff, 0xff},
	}
	targets := map[string]func([]byte) error{
		"any":            func(b []byte) error { var v any; return codec.Msgpack[any]{}.Unmarshal(b, &v) },
		"[]byte":         func(b []byte) error { var v []byte; return codec.Msgpack[[]byte]{}.Unmarshal(b, &v) },
		"string":         func(b []byte) error { var v string; return codec.Msgpack[string]{}.Unmarshal(b, &v) },
		"[]int":          func(b []byte) error { var v []int; return codec.Msgpack[[]int]{}.Unmarshal(b, &v) },
		"[]user":         func(b []byte) error { var v []user; return codec.Msgpack[[]user]{}.Unmarshal(b, &v) },
		"map[string]any": func(b []byte) error { var v map[string]any; return codec.Msgpack[map[string]any]{}.Unmarshal(b, &v) },
		"user":           func(b []byte) error { var v user; return codec.Msgpack[user]{}.Unmarshal(b, &v) },
	}
	for in, data := range inputs {
		for tn, unmarshal := range targets {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := unmarshal(data)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, codec.ErrCorrupt) {
				t.Errorf("%s into %s: got %v, want ErrCorrupt", in, tn, err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
				t.Errorf("%s into %s: allocated %d bytes", in, tn, n)
			}
		}
	}
}

// panicky panics while decoding.
type panicky struct{}

func (*panicky) DecodeMsgpack(*msgpack.Decoder) error { panic("boom") }

func (*panicky) UnmarshalJSON([]byte) error { panic("boom") }

func TestMsgpack_UnmarshalRecoversPanic(t *testing.T) {
	t.Parallel()
	var p panicky
	err := codec.Msgpack[panicky]{}.Unmarshal([]byte{0x01}, &p)
	if !errors.Is(err, codec.ErrCorrupt) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Unmarshal: got %v, want ErrCorrupt carrying the panic", err)
	}
	// The codec still works after a recovered panic.
	back, _ := roundTrip[user](t, codec.Msgpack[user]{}, sampleUser())
	if !reflect.DeepEqual(back, sampleUser()) {
		t.Errorf("after panic: got %#v", back)
	}
}

func TestMsgpack_MarshalError(t *testing.T) {
	t.Parallel()
	dst := []byte("keep")
	out, err := codec.Msgpack[chan int]{}.Marshal(dst, make(chan int))
	if err == nil {
		t.Fatal("Marshal(chan): got nil error")
	}
	if string(out) != "keep" {
		t.Errorf("Marshal error: got dst %q, want it unchanged", out)
	}
}

func TestMsgpack_UnmarshalDoesNotRetain(t *testing.T) {
	t.Parallel()
	type rec struct {
		S string
		B []byte
		R msgpack.RawMessage
	}
	data, err := msgpack.Marshal(rec{S: "string", B: []byte("bytes"), R: msgpack.RawMessage{0xa3, 'r', 'a', 'w'}})
	if err != nil {
		t.Fatal(err)
	}
	var got rec
	if err := (codec.Msgpack[rec]{}).Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 0
	}
	if got.S != "string" || string(got.B) != "bytes" || !bytes.Equal(got.R, []byte{0xa3, 'r', 'a', 'w'}) {
		t.Errorf("decoded value changed with the input: %#v", got)
	}
}

// TestMsgpack_UnmarshalAllocs holds Unmarshal to the requirement that it
// allocate no more than msgpack.Unmarshal.
func TestMsgpack_UnmarshalAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops entries under -race")
	}
	data, err := msgpack.Marshal(sampleUser())
	if err != nil {
		t.Fatal(err)
	}
	c := codec.Msgpack[user]{}
	ours := testing.AllocsPerRun(200, func() {
		var u user
		if err := c.Unmarshal(data, &u); err != nil {
			t.Fatal(err)
		}
	})
	base := testing.AllocsPerRun(200, func() {
		var u user
		if err := msgpack.Unmarshal(data, &u); err != nil {
			t.Fatal(err)
		}
	})
	if ours > base {
		t.Errorf("Unmarshal: %v allocs, msgpack.Unmarshal: %v", ours, base)
	}
	t.Logf("Unmarshal: %v allocs, msgpack.Unmarshal: %v", ours, base)
}
