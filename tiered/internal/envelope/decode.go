package envelope

import (
	"encoding/binary"
	"time"
)

// Decode checks frame and splits it into its header and payload. The
// payload aliases frame. Decode does not allocate; any failure is an error
// wrapping [ErrCorrupt], and no input makes it panic.
//
// A frame with FlagNotFound set decodes like any other; by convention its
// payload is empty.
func Decode(frame []byte) (Header, []byte, error) {
	if len(frame) < HeaderSize {
		return Header{}, nil, errTruncated
	}
	if frame[0] != magic0 || frame[1] != magic1 {
		return Header{}, nil, errForeign
	}
	if frame[2] != Version {
		return Header{}, nil, errVersion
	}
	if binary.BigEndian.Uint32(frame[24:28]) != checksum(frame) {
		return Header{}, nil, errChecksum
	}
	flags := Flags(frame[3])
	if flags&^knownFlags != 0 {
		return Header{}, nil, errFlags
	}
	h := Header{
		Flags:   flags,
		Created: int64(binary.BigEndian.Uint64(frame[4:12])),
		Expiry:  int64(binary.BigEndian.Uint64(frame[12:20])),
		Delta:   time.Duration(binary.BigEndian.Uint32(frame[20:24])) * time.Microsecond,
	}
	return h, frame[HeaderSize:], nil
}
