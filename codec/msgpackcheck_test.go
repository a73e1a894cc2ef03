package codec

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// libraryValues covers every MessagePack type and length class the library
// writes: fix, 8, 16 and 32-bit strings, binaries, arrays and maps; all
// integer and float widths; nil, booleans; and the time extension.
func libraryValues() []any {
	many := func(n int) []any {
		s := make([]any, n)
		for i := range s {
			s[i] = i
		}
		return s
	}
	manyMap := func(n int) map[int]bool {
		m := make(map[int]bool, n)
		for i := range n {
			m[i] = i%2 == 0
		}
		return m
	}
	return []any{
		nil, true, false,
		0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, uint64(math.MaxUint64),
		-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, int64(math.MinInt64),
		float32(1.5), math.Pi, math.Inf(-1),
		"", "short", strings.Repeat("a", 31), strings.Repeat("b", 32), strings.Repeat("c", 256),
		strings.Repeat("d", 65536),
		[]byte{}, []byte{1, 2, 3}, bytes.Repeat([]byte{9}, 256), bytes.Repeat([]byte{8}, 65536),
		many(0), many(15), many(16), many(65536),
		manyMap(0), manyMap(15), manyMap(16), manyMap(65536),
		time.Unix(1, 0), time.Unix(1<<33, 1), time.Unix(1<<40, 5),
		map[string]any{"nested": []any{map[string]any{"x": []any{nil, "y"}}}},
		msgpack.RawMessage{0xd4, 0x01, 0x02},                                           // fixext1
		msgpack.RawMessage{0xd8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, // fixext16
		msgpack.RawMessage{0xc7, 0x02, 0x05, 'h', 'i'},                                 // ext8
		msgpack.RawMessage{0xc8, 0x00, 0x01, 0x05, 'h'},                                // ext16
		msgpack.RawMessage{0xc9, 0x00, 0x00, 0x00, 0x00, 0x05},                         // ext32
	}
}

func TestCheckMsgpack_AcceptsLibraryOutput(t *testing.T) {
	t.Parallel()
	for _, v := range libraryValues() {
		data, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatalf("msgpack.Marshal(%T): %v", v, err)
		}
		if err := checkMsgpackShallow(data); err != nil {
			t.Errorf("shallow check of %T (%x...): %v", v, data[:min(len(data), 8)], err)
		}
		if err := checkMsgpackDeep(data); err != nil {
			t.Errorf("deep check of %T (%x...): %v", v, data[:min(len(data), 8)], err)
		}
		if err := checkMsgpack(data); err != nil {
			t.Errorf("check of %T (%x...): %v", v, data[:min(len(data), 8)], err)
		}
	}
}

// nested returns depth fixarray headers of one element around a nil.
func nested(depth int) []byte {
	return append(bytes.Repeat([]byte{0x91}, depth), 0xc0)
}

func TestCheckMsgpack_Depth(t *testing.T) {
	t.Parallel()
	padded := func(depth int) []byte { // a long string keeps the input on the deep path
		b := append(bytes.Repeat([]byte{0x92}, depth), 0xdb, 0, 0, 0x4e, 0x20)
		b = append(b, bytes.Repeat([]byte{'p'}, 20000)...)
		return append(b, bytes.Repeat([]byte{0xc0}, depth)...)
	}
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"shallow path, deep nesting", nested(maxMsgpackDepth - 1), true},
		{"deep path, at the limit", nested(maxMsgpackDepth), true},
		{"deep path, over the limit", nested(maxMsgpackDepth + 1), false},
		{"deep path, far over", nested(1 << 20), false},
		{"deep path, long and shallow", padded(3), true},
		{"deep path, many open containers", padded(100), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := checkMsgpack(tt.data)
			if tt.ok && err != nil {
				t.Errorf("got %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrCorrupt) {
				t.Errorf("got %v, want ErrCorrupt", err)
			}
		})
	}
}

func naiveMayDeclareLargeSize(data []byte) bool {
	for _, c := range data {
		if c == 0xc6 || c >= 0xdb && c <= 0xdf {
			return true
		}
	}
	return false
}

func TestMayDeclareLargeSize(t *testing.T) {
	t.Parallel()
	// Every byte value at every position of buffers up to three words
	// long, over a background of each byte value's neighbours.
	for n := 1; n <= 24; n++ {
		for _, bg := range []byte{0x00, 0xc5, 0xc7, 0xda, 0xdb, 0xe0, 0xff, 0x5c, 0xfc} {
			buf := bytes.Repeat([]byte{bg}, n)
			for pos := range n {
				for c := range 256 {
					buf[pos] = byte(c)
					if got, want := mayDeclareLargeSize(buf), naiveMayDeclareLargeSize(buf); got != want {
						t.Fatalf("mayDeclareLargeSize(%x) = %v, want %v", buf, got, want)
					}
				}
				buf[pos] = bg
			}
		}
	}
}

// FuzzCheckMsgpack checks the two checkers agree, and that what they accept
// the library reads to the last byte; and that the header-code scan
// agrees with a plain loop.
func FuzzCheckMsgpack(f *testing.F) {
	for _, v := range libraryValues() {
		data, err := msgpack.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		if len(data) < 1024 {
			f.Add(data)
		}
	}
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add(nested(40))
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := mayDeclareLargeSize(data), naiveMayDeclareLargeSize(data); got != want {
			t.Fatalf("mayDeclareLargeSize(%x) = %v, want %v", data, got, want)
		}
		shallow := checkMsgpackShallow(data)
		deep := checkMsgpackDeep(data)
		if (shallow == nil) != (deep == nil) {
			t.Fatalf("checkers disagree on %x: shallow %v, deep %v", data, shallow, deep)
		}
		if shallow != nil {
			if !errors.Is(shallow, ErrCorrupt) || !errors.Is(deep, ErrCorrupt) {
				t.Fatalf("errors do not wrap ErrCorrupt: %v, %v", shallow, deep)
			}
			return
		}
		r := bytes.NewReader(data)
		dec := msgpack.NewDecoder(r)
		if err := dec.Skip(); err != nil {
			t.Fatalf("check accepted %x, library Skip failed: %v", data, err)
		}
		if r.Len() != 0 {
			t.Fatalf("check accepted %x, library left %d bytes", data, r.Len())
		}
	})
}

func BenchmarkCheckMsgpack(b *testing.B) {
	type address struct {
		Street, City string
		Zip          int
	}
	type user struct {
		ID          int64
		Name, Email string
		Age         int
		Score       float64
		Active      bool
		Tags        []string
		Address     address
	}
	data, err := msgpack.Marshal(user{ID: 42, Name: "Ada Lovelace", Email: "ada@example.com", Age: 36, Score: 99.5,
		Active: true, Tags: []string{"admin", "math", "poet"}, Address: address{"12 St James's Square", "London", 1815}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("shallow", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := checkMsgpackShallow(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("deep", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := checkMsgpackDeep(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
