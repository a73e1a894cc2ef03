package envelope

import (
	"encoding/binary"
	"time"
)

// Decode checks frame and splits it into its header and payload. The
// payload aliases frame. Decode does not allocate, and no input makes it
// panic. A frame of another format version is [ErrOtherVersion]; any other
// failure is an error wrapping [ErrCorrupt].
//
// A frame with FlagNotFound set decodes like any other; by convention its
// payload is empty.
func Decode(frame []byte) (Header, []byte, error) {
	// The magic and the version come first: other versions have other
	// header sizes.
	if len(frame) >= 2 && (frame[0] != magic0 || frame[1] != magic1) {
		return Header{}, nil, errForeign
	}
	if len(frame) >= 3 && frame[2] != Version {
		return Header{}, nil, ErrOtherVersion
	}
	if len(frame) < HeaderSize {
		return Header{}, nil, errTruncated
	}
	if binary.BigEndian.Uint32(frame[checksumAt:HeaderSize]) != checksum(frame) {
		return Header{}, nil, errChecksum
	}
	flags := Flags(frame[3])
	if flags&^knownFlags != 0 {
		return Header{}, nil, errFlags
	}
	h := Header{
		Flags:      flags,
		Compressor: frame[4],
		Schema:     binary.BigEndian.Uint32(frame[5:9]),
		Created:    int64(binary.BigEndian.Uint64(frame[9:17])),
		Expiry:     int64(binary.BigEndian.Uint64(frame[17:25])),
		Delta:      time.Duration(binary.BigEndian.Uint32(frame[25:29])) * time.Microsecond,
		Key:        binary.BigEndian.Uint32(frame[29:33]),
	}
	return h, frame[HeaderSize:], nil
}
