package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/tiercache/tiercache/codec"
)

// compressible returns n bytes of repetitive JSON-like text.
func compressible(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"name":"user-%d","active":true},`, i, i%17)
	}
	return b.Bytes()[:n]
}

// random returns n incompressible bytes from a fixed seed.
func random(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestS2_RoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"one byte", []byte{'x'}},
		{"short", []byte("hello, world")},
		{"compressible", compressible(64 << 10)},
		{"random", random(10 << 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c codec.S2
			enc := c.Compress([]byte("pre"), tt.src)
			if !bytes.HasPrefix(enc, []byte("pre")) {
				t.Fatalf("Compress did not append: %q", enc[:3])
			}
			if want := s2.Encode(nil, tt.src); !bytes.Equal(enc[3:], want) {
				t.Errorf("Compress differs from s2.Encode")
			}
			dec, err := c.Decompress([]byte("out"), enc[3:])
			if err != nil {
				t.Fatalf("Decompress: %v", err)
			}
			if !bytes.HasPrefix(dec, []byte("out")) || !bytes.Equal(dec[3:], tt.src) {
				t.Errorf("round trip: got %d bytes, want %d", len(dec)-3, len(tt.src))
			}
		})
	}
}

func TestS2_CompressShrinks(t *testing.T) {
	t.Parallel()
	src := compressible(64 << 10)
	if n := len(codec.S2{}.Compress(nil, src)); n > len(src)/4 {
		t.Errorf("Compress: %d bytes from %d, want under a quarter", n, len(src))
	}
}

func TestS2_CompressNoAllocWithRoom(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	src := compressible(4 << 10)
	buf := make([]byte, 0, s2.MaxEncodedLen(len(src)))
	allocs := testing.AllocsPerRun(100, func() {
		buf = codec.S2{}.Compress(buf[:0], src)
	})
	if allocs != 0 {
		t.Errorf("Compress with room in dst: %v allocs, want 0", allocs)
	}
}

func TestS2_DecompressCorrupt(t *testing.T) {
	t.Parallel()
	valid := s2.Encode(nil, compressible(1000))
	tests := []struct {
		name string
		src  []byte
		want error
	}{
		{"empty", nil, codec.ErrCorrupt},
		{"bad varint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, codec.ErrCorrupt},
		{"truncated", valid[:len(valid)/2], codec.ErrCorrupt},
		{"length mismatch", append([]byte{0x05}, valid[2:]...), codec.ErrCorrupt},
		{"garbage", []byte("this is not s2 at all"), codec.ErrCorrupt},
		{"over default limit", s2Header(codec.DefaultMaxDecodedLen + 1), codec.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dst := []byte("keep")
			out, err := codec.S2{}.Decompress(dst, tt.src)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decompress: got %v, want %v", err, tt.want)
			}
			if string(out) != "keep" {
				t.Errorf("Decompress error: got dst %q, want it unchanged", out)
			}
		})
	}
}

// s2Header returns the start of a block declaring n decoded bytes.
func s2Header(n int) []byte {
	var b [10]byte
	return b[:putUvarint(b[:], uint64(n))]
}

func putUvarint(b []byte, v uint64) int {
	i := 0
	for v >= 0x80 {
		b[i] = byte(v) | 0x80
		v >>= 7
		i++
	}
	b[i] = byte(v)
	return i + 1
}

func TestS2_MaxDecodedLen(t *testing.T) {
	t.Parallel()
	src := compressible(1000)
	enc := codec.S2{}.Compress(nil, src)
	tests := []struct {
		max  int
		want error
	}{
		{0, nil},
		{-1, nil},
		{1000, nil},
		{999, codec.ErrTooLarge},
		{1, codec.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.max), func(t *testing.T) {
			t.Parallel()
			_, err := codec.S2{MaxDecodedLen: tt.max}.Decompress(nil, enc)
			if !errors.Is(err, tt.want) {
				t.Errorf("MaxDecodedLen %d: got %v, want %v", tt.max, err, tt.want)
			}
		})
	}
}
