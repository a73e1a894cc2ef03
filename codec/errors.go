package codec

import "errors"

// ErrCorrupt is wrapped by every decoding failure: input that is not a
// well-formed encoding of the target type, a compressed block that does not
// decompress, or a decoder that panicked. The tiered cache treats such a
// value as a miss. Test for it with errors.Is.
var ErrCorrupt = errors.New("codec: corrupt input")

// ErrTooLarge is wrapped when a compressed block declares a decoded length
// above the limit of its [Compressor] (see [S2.MaxDecodedLen]). The block is
// refused before any memory is allocated for it.
var ErrTooLarge = errors.New("codec: decoded value too large")
