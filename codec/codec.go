package codec

// Codec turns values of type V into bytes and back. Implementations are safe
// for concurrent use and hold no state between calls.
type Codec[V any] interface {
	// Marshal appends the encoding of v to dst and returns the extended
	// slice (dst may be nil).
	Marshal(dst []byte, v V) ([]byte, error)

	// Unmarshal decodes data into *v. It never retains data: the caller may
	// reuse it once Unmarshal returns. Bad input is an error, never a panic.
	Unmarshal(data []byte, v *V) error
}

// Compressor compresses encoded values. The tiered cache applies it to
// payloads above a size threshold and records that it did in the value's
// frame, so values written with and without compression can be read alike.
type Compressor interface {
	// Compress appends the compressed form of src to dst.
	Compress(dst, src []byte) []byte
	// Decompress appends the original form of src to dst. Bad input is an
	// error, never a panic.
	Decompress(dst, src []byte) ([]byte, error)
}

// DecodedLener is implemented by a [Compressor] that can tell how many bytes
// a compressed block decodes to from the block's own header, without
// decoding it. The tiered cache asks before it decompresses a value read
// from L2, and refuses one larger than its MaxValueSize without allocating
// for it.
type DecodedLener interface {
	// DecodedLen returns the length src declares once decoded, or an error
	// when src is not a block of this compressor.
	DecodedLen(src []byte) (int, error)
}
