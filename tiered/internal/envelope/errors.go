package envelope

import (
	"errors"
	"fmt"
)

// ErrCorrupt is wrapped by every [Decode] failure: the bytes are not a
// frame this version can read, or were damaged. The cache treats such a
// value as a miss and overwrites it. Test for it with errors.Is; the
// message tells the cases apart.
var ErrCorrupt = errors.New("envelope: corrupt value")

// The failures Decode distinguishes. They are built once, so the failure
// path does not allocate either, and never modified.
var (
	errTruncated = fmt.Errorf("%w: truncated: shorter than the %d-byte header", ErrCorrupt, HeaderSize)
	errForeign   = fmt.Errorf("%w: foreign: bad magic", ErrCorrupt)
	errVersion   = fmt.Errorf("%w: unsupported version", ErrCorrupt)
	errChecksum  = fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	errFlags     = fmt.Errorf("%w: reserved flag bits set", ErrCorrupt)
)
