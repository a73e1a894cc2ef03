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

// ErrOtherVersion is returned by [Decode] for a frame that starts like
// ours but has another format version: written by an older or newer
// release. It is not damage: the cache treats it as a value it cannot
// read (a miss) and leaves it alone, so that releases side by side do not
// delete each other's values.
var ErrOtherVersion = errors.New("envelope: frame of another format version")

// The failures Decode distinguishes. They are built once, so the failure
// path does not allocate either, and never modified.
var (
	errTruncated = fmt.Errorf("%w: truncated: shorter than the %d-byte header", ErrCorrupt, HeaderSize)
	errForeign   = fmt.Errorf("%w: foreign: bad magic", ErrCorrupt)
	errChecksum  = fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	errFlags     = fmt.Errorf("%w: reserved flag bits set", ErrCorrupt)
)
