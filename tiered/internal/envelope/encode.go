package envelope

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"time"
)

// castagnoli is the CRC-32C table. It is computed once and never written
// after; the hash/crc32 package uses hardware instructions for it.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Begin appends HeaderSize placeholder bytes to dst and returns the
// extended slice. The caller appends the payload after them, then calls
// [Finish] on the frame, which starts where Begin started writing.
func Begin(dst []byte) []byte {
	var placeholder [HeaderSize]byte
	return append(dst, placeholder[:]...)
}

// Finish writes h and the checksum into the header of frame, in place.
// frame must start with the HeaderSize bytes appended by [Begin] and hold
// the whole payload after them; if Begin appended to a non-empty buffer,
// pass the part from where it started. Finish panics if frame is shorter
// than HeaderSize.
func Finish(frame []byte, h Header) {
	hdr := frame[:HeaderSize]
	hdr[0], hdr[1] = magic0, magic1
	hdr[2] = Version
	hdr[3] = byte(h.Flags)
	hdr[4] = h.Compressor
	binary.BigEndian.PutUint32(hdr[5:9], h.Schema)
	binary.BigEndian.PutUint64(hdr[9:17], uint64(h.Created))
	binary.BigEndian.PutUint64(hdr[17:25], uint64(h.Expiry))
	binary.BigEndian.PutUint32(hdr[25:29], deltaMicros(h.Delta))
	binary.BigEndian.PutUint32(hdr[29:33], h.Key)
	binary.BigEndian.PutUint32(hdr[33:37], checksum(frame))
}

// Append appends a whole frame, h followed by payload, to dst and returns
// the extended slice.
func Append(dst []byte, h Header, payload []byte) []byte {
	start := len(dst)
	dst = append(Begin(dst), payload...)
	Finish(dst[start:], h)
	return dst
}

// deltaMicros converts d to whole microseconds, clamped to a uint32.
func deltaMicros(d time.Duration) uint32 {
	us := d.Microseconds()
	switch {
	case us <= 0:
		return 0
	case us >= math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(us)
}

// checksum is the CRC-32C of frame[0:33] followed by the payload
// frame[37:], the bytes the header's checksum field covers.
func checksum(frame []byte) uint32 {
	crc := crc32.Update(0, castagnoli, frame[:checksumAt])
	return crc32.Update(crc, castagnoli, frame[HeaderSize:])
}

// checksumAt is the offset of the checksum field.
const checksumAt = HeaderSize - 4
