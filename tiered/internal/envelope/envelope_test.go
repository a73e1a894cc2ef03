package envelope_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tiercache/tiercache/tiered/internal/envelope"
)

func TestAppendDecode_RoundTrip(t *testing.T) {
	t.Parallel()
	const maxDelta = time.Duration(math.MaxUint32) * time.Microsecond
	tests := []struct {
		name      string
		h         envelope.Header
		payload   []byte
		wantDelta time.Duration // Delta after the round trip
	}{
		{"zero", envelope.Header{}, nil, 0},
		{"typical", envelope.Header{Created: 1_700_000_000_000, Expiry: 1_700_000_060_000, Delta: 1500 * time.Microsecond},
			[]byte("payload"), 1500 * time.Microsecond},
		{"not found", envelope.Header{Flags: envelope.FlagNotFound, Created: 1, Expiry: 2}, nil, 0},
		{"compressed", envelope.Header{Flags: envelope.FlagCompressed, Delta: time.Second}, []byte{0, 1, 2}, time.Second},
		{"both flags", envelope.Header{Flags: envelope.FlagNotFound | envelope.FlagCompressed}, []byte{}, 0},
		{"tombstone", envelope.Header{Flags: envelope.FlagTombstone, Created: 7}, []byte("12345678"), 0},
		{"queued", envelope.Header{Flags: envelope.FlagQueued | envelope.FlagNotFound, Created: 7, Expiry: 9}, nil, 0},
		{"negative times", envelope.Header{Created: -1, Expiry: math.MinInt64}, []byte("x"), 0},
		{"max times", envelope.Header{Created: math.MaxInt64, Expiry: math.MaxInt64}, []byte("x"), 0},
		{"sub-microsecond delta truncates", envelope.Header{Delta: 1999 * time.Nanosecond}, nil, time.Microsecond},
		{"negative delta clamps to zero", envelope.Header{Delta: -time.Hour}, nil, 0},
		{"largest delta", envelope.Header{Delta: maxDelta}, nil, maxDelta},
		{"huge delta clamps", envelope.Header{Delta: 1000 * time.Hour}, nil, maxDelta},
		{"max duration clamps", envelope.Header{Delta: math.MaxInt64}, nil, maxDelta},
		{"large payload", envelope.Header{Created: 5}, bytes.Repeat([]byte("abc"), 100_000), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			frame := envelope.Append(nil, tt.h, tt.payload)
			if len(frame) != envelope.HeaderSize+len(tt.payload) {
				t.Fatalf("frame is %d bytes, want %d", len(frame), envelope.HeaderSize+len(tt.payload))
			}
			h, payload, err := envelope.Decode(frame)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := tt.h
			want.Delta = tt.wantDelta
			if h != want {
				t.Errorf("header: got %+v, want %+v", h, want)
			}
			if !bytes.Equal(payload, tt.payload) {
				t.Errorf("payload: got %d bytes, want %d", len(payload), len(tt.payload))
			}
			if len(payload) > 0 && &payload[0] != &frame[envelope.HeaderSize] {
				t.Errorf("payload does not alias the frame")
			}
		})
	}
}

// TestAppend_Layout pins the byte layout against an independent encoding.
func TestAppend_Layout(t *testing.T) {
	t.Parallel()
	h := envelope.Header{
		Flags:      envelope.FlagCompressed,
		Compressor: 0x7e,
		Schema:     0x31323334,
		Created:    0x0102030405060708,
		Expiry:     0x1112131415161718,
		Delta:      0x21222324 * time.Microsecond,
		Key:        0x41424344,
	}
	payload := []byte("hello")
	got := envelope.Append(nil, h, payload)

	want := []byte{
		0xC7, 0x7C, // magic
		3,                      // version
		0x02,                   // flags
		0x7e,                   // compressor
		0x31, 0x32, 0x33, 0x34, // schema
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // created
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, // expiry
		0x21, 0x22, 0x23, 0x24, // delta
		0x41, 0x42, 0x43, 0x44, // key
		0, 0, 0, 0, // checksum, below
	}
	crc := crc32.Checksum(append(append([]byte{}, want[:33]...), payload...), crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(want[33:], crc)
	want = append(want, payload...)
	if !bytes.Equal(got, want) {
		t.Errorf("layout:\n got %x\nwant %x", got, want)
	}
}

func TestBeginFinish(t *testing.T) {
	t.Parallel()
	h := envelope.Header{Flags: envelope.FlagCompressed, Created: 10, Expiry: 20, Delta: 30 * time.Microsecond}
	prefix := []byte("other data")

	buf := envelope.Begin(append([]byte{}, prefix...))
	if len(buf) != len(prefix)+envelope.HeaderSize || !bytes.HasPrefix(buf, prefix) {
		t.Fatalf("Begin: got %q", buf)
	}
	buf = append(buf, "payload"...)
	envelope.Finish(buf[len(prefix):], h)

	if !bytes.HasPrefix(buf, prefix) {
		t.Errorf("Finish wrote before the frame: %q", buf[:len(prefix)])
	}
	if want := envelope.Append(nil, h, []byte("payload")); !bytes.Equal(buf[len(prefix):], want) {
		t.Errorf("Begin+Finish differs from Append:\n got %x\nwant %x", buf[len(prefix):], want)
	}
	if got := envelope.Append(prefix, h, []byte("payload")); !bytes.Equal(got, buf) {
		t.Errorf("Append to a non-empty dst:\n got %x\nwant %x", got, buf)
	}
}

func TestFinish_ShortFramePanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("Finish of a short frame did not panic")
		}
	}()
	envelope.Finish(make([]byte, envelope.HeaderSize-1), envelope.Header{})
}

// refinish recomputes the checksum of a frame edited in place.
func refinish(frame []byte) []byte {
	crc := crc32.Update(0, crc32.MakeTable(crc32.Castagnoli), frame[:33])
	crc = crc32.Update(crc, crc32.MakeTable(crc32.Castagnoli), frame[envelope.HeaderSize:])
	binary.BigEndian.PutUint32(frame[33:37], crc)
	return frame
}

func TestDecode_Corrupt(t *testing.T) {
	t.Parallel()
	valid := func() []byte {
		return envelope.Append(nil, envelope.Header{Created: 1, Expiry: 2, Delta: 3}, []byte("some payload"))
	}
	edit := func(f func(b []byte) []byte) []byte { return f(valid()) }
	tests := []struct {
		name  string
		frame []byte
		want  string
	}{
		{"empty", nil, "truncated"},
		{"one byte", []byte{0xC7}, "truncated"},
		{"header minus one", valid()[:envelope.HeaderSize-1], "truncated"},
		{"foreign: msgpack", []byte("\x82\xa2id\x01\xa4name\xa3bob\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), "foreign"},
		{"foreign: json", []byte(`{"id":1,"name":"a long enough json value"}`), "foreign"},
		{"foreign: zeros", make([]byte, 64), "foreign"},
		{"foreign: half magic", edit(func(b []byte) []byte { b[1] = 0x7D; return b }), "foreign"},
		{"payload cut short", edit(func(b []byte) []byte { return b[:len(b)-1] }), "checksum mismatch"},
		{"payload extended", edit(func(b []byte) []byte { return append(b, 0) }), "checksum mismatch"},
		{"header only", edit(func(b []byte) []byte { return b[:envelope.HeaderSize] }), "checksum mismatch"},
		{"flipped payload bit", edit(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), "checksum mismatch"},
		{"flipped checksum bit", edit(func(b []byte) []byte { b[32] ^= 0x80; return b }), "checksum mismatch"},
		{"reserved flag bit, bad checksum", edit(func(b []byte) []byte { b[3] |= 0x10; return b }), "checksum mismatch"},
		{"reserved flag bit", edit(func(b []byte) []byte { b[3] |= 0x10; return refinish(b) }), "reserved flag bits"},
		{"all flag bits", edit(func(b []byte) []byte { b[3] = 0xff; return refinish(b) }), "reserved flag bits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, payload, err := envelope.Decode(tt.frame)
			if !errors.Is(err, envelope.ErrCorrupt) {
				t.Fatalf("Decode: got %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode: got %q, want it to mention %q", err, tt.want)
			}
			if h != (envelope.Header{}) || payload != nil {
				t.Errorf("Decode failure returned %+v, %q; want zero values", h, payload)
			}
		})
	}
}

// A frame of another format version is not damage: Decode says so with
// ErrOtherVersion, which does not wrap ErrCorrupt.
func TestDecode_OtherVersion(t *testing.T) {
	t.Parallel()
	for _, v := range []byte{0, 1, 2, 4, 0xff} {
		frame := envelope.Append(nil, envelope.Header{Created: 1, Expiry: 2}, []byte("some payload"))
		frame[2] = v
		h, payload, err := envelope.Decode(frame)
		if !errors.Is(err, envelope.ErrOtherVersion) || errors.Is(err, envelope.ErrCorrupt) {
			t.Errorf("version %d: got %v, want ErrOtherVersion only", v, err)
		}
		if h != (envelope.Header{}) || payload != nil {
			t.Errorf("version %d: Decode returned %+v, %q; want zero values", v, h, payload)
		}
	}
	// A version 1 frame as the previous release wrote it: 28 bytes of header.
	v1 := append([]byte{0xC7, 0x7C, 1, 0}, make([]byte, 24)...)
	if _, _, err := envelope.Decode(append(v1, "payload"...)); !errors.Is(err, envelope.ErrOtherVersion) {
		t.Errorf("a version 1 frame: got %v, want ErrOtherVersion", err)
	}
	// A version 2 frame: 33 bytes of header, without the key.
	v2 := append([]byte{0xC7, 0x7C, 2, 0}, make([]byte, 29)...)
	if _, _, err := envelope.Decode(append(v2, "payload"...)); !errors.Is(err, envelope.ErrOtherVersion) {
		t.Errorf("a version 2 frame: got %v, want ErrOtherVersion", err)
	}
}

// TestDecode_EveryBitFlip checks the checksum catches any single flipped
// bit outside the magic and version, which fail earlier.
func TestDecode_EveryBitFlip(t *testing.T) {
	t.Parallel()
	frame := envelope.Append(nil, envelope.Header{Flags: envelope.FlagCompressed, Created: 99, Expiry: 100}, []byte("payload"))
	for i := range frame {
		for bit := range 8 {
			frame[i] ^= 1 << bit
			_, _, err := envelope.Decode(frame)
			if want := envelope.ErrCorrupt; i == 2 && !errors.Is(err, envelope.ErrOtherVersion) || i != 2 && !errors.Is(err, want) {
				t.Errorf("byte %d bit %d flipped: got %v, want ErrCorrupt (ErrOtherVersion for the version byte)", i, bit, err)
			}
			frame[i] ^= 1 << bit
		}
	}
}

func TestDecode_ZeroAllocs(t *testing.T) {
	frame := envelope.Append(nil, envelope.Header{Created: 1, Expiry: 2, Delta: time.Millisecond}, bytes.Repeat([]byte("x"), 1000))
	corrupt := append([]byte{}, frame...)
	corrupt[len(corrupt)-1] ^= 1
	tests := []struct {
		name  string
		frame []byte
	}{
		{"valid", frame},
		{"checksum mismatch", corrupt},
		{"truncated", frame[:10]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(1000, func() {
				_, _, _ = envelope.Decode(tt.frame)
			})
			if allocs != 0 {
				t.Errorf("Decode: %v allocs, want 0", allocs)
			}
		})
	}
}

func TestAppend_NoAllocWithRoom(t *testing.T) {
	payload := make([]byte, 100)
	buf := make([]byte, 0, envelope.HeaderSize+len(payload))
	allocs := testing.AllocsPerRun(1000, func() {
		buf = envelope.Append(buf[:0], envelope.Header{Created: 1}, payload)
	})
	if allocs != 0 {
		t.Errorf("Append with room in dst: %v allocs, want 0", allocs)
	}
}
