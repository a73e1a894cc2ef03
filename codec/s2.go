package codec

import (
	"fmt"
	"slices"

	"github.com/klauspost/compress/s2"
)

// DefaultMaxDecodedLen is the decoded size above which [S2] refuses a block
// when MaxDecodedLen is zero: 64 MiB.
const DefaultMaxDecodedLen = 64 << 20

// S2 is a [Compressor] over the S2 block format
// ([github.com/klauspost/compress/s2], s2.Encode and s2.Decode): fast, with
// a ratio close to Snappy's, which it can also decode. The zero value is
// ready to use and safe for concurrent use.
type S2 struct {
	// MaxDecodedLen is the largest decoded size Decompress accepts. A block
	// declaring more is refused with [ErrTooLarge] before anything is
	// allocated, so a corrupt or hostile length cannot exhaust memory.
	// Zero or negative means DefaultMaxDecodedLen.
	MaxDecodedLen int
}

var (
	_ Compressor   = S2{}
	_ DecodedLener = S2{}
)

// DecodedLen returns the length the S2 block src declares once decoded.
func (S2) DecodedLen(src []byte) (int, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return 0, fmt.Errorf("%w: s2: %w", ErrCorrupt, err)
	}
	return n, nil
}

// Compress appends the S2 block encoding of src to dst. When dst has room
// for the worst case (len(src) plus a small overhead) it does not allocate.
// Like s2.Encode, it panics if src is larger than 4 GiB - 1 bytes, which no
// cache value should be.
func (S2) Compress(dst, src []byte) []byte {
	n := s2.MaxEncodedLen(len(src))
	if n < 0 {
		panic(fmt.Errorf("codec: s2 compress: %w", s2.ErrTooLarge))
	}
	dst = slices.Grow(dst, n)
	out := s2.Encode(dst[len(dst):], src) // fits in dst's spare capacity
	return dst[:len(dst)+len(out)]
}

// Decompress appends the data decoded from the S2 block src to dst. A block
// that does not decode is an error wrapping [ErrCorrupt]; one that declares
// more than MaxDecodedLen bytes wraps [ErrTooLarge]. On error dst is
// returned unchanged.
func (c S2) Decompress(dst, src []byte) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return dst, fmt.Errorf("%w: s2: %w", ErrCorrupt, err)
	}
	limit := c.MaxDecodedLen
	if limit <= 0 {
		limit = DefaultMaxDecodedLen
	}
	if n > limit {
		return dst, fmt.Errorf("%w: s2 block declares %d bytes, limit %d", ErrTooLarge, n, limit)
	}
	grown := slices.Grow(dst, n)
	out, err := s2.Decode(grown[len(dst):], src) // fits in grown's spare capacity
	if err != nil {
		return dst, fmt.Errorf("%w: s2: %w", ErrCorrupt, err)
	}
	return grown[:len(dst)+len(out)], nil
}
