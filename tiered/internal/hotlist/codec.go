package hotlist

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the first byte of an encoded list.
const Version = 1

// ErrCorrupt is wrapped by the error of Decode for bytes that are not a
// list of this version.
var ErrCorrupt = errors.New("hotlist: corrupt list")

// Encode returns the stored form of entries (see the package
// documentation).
func Encode(entries []Entry) []byte {
	size := 1 + binary.MaxVarintLen64
	for _, e := range entries {
		size += len(e.Key) + 2*binary.MaxVarintLen64
	}
	b := make([]byte, 0, size)
	b = append(b, Version)
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for _, e := range entries {
		b = binary.AppendUvarint(b, uint64(len(e.Key)))
		b = append(b, e.Key...)
		b = binary.AppendUvarint(b, e.Count)
	}
	return b
}

// Decode returns the list that b encodes. It refuses, with an error
// wrapping ErrCorrupt, another version, a key longer than maxKey bytes, a
// length or count beyond the bytes left, and trailing bytes.
func Decode(b []byte, maxKey int) ([]Entry, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	if b[0] != Version {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrCorrupt, b[0], Version)
	}
	b = b[1:]
	n, b, err := uvarint(b, "count")
	if err != nil {
		return nil, err
	}
	if n > uint64(len(b)/2) { // an entry takes two bytes at least
		return nil, fmt.Errorf("%w: %d entries in %d bytes", ErrCorrupt, n, len(b))
	}
	out := make([]Entry, 0, n)
	for i := range n {
		var size uint64
		if size, b, err = uvarint(b, "key length"); err != nil {
			return nil, err
		}
		if size > uint64(maxKey) || size > uint64(len(b)) {
			return nil, fmt.Errorf("%w: entry %d: key of %d bytes (%d left, at most %d)", ErrCorrupt, i, size, len(b), maxKey)
		}
		e := Entry{Key: string(b[:size])}
		if e.Count, b, err = uvarint(b[size:], "read count"); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(b))
	}
	return out, nil
}

// uvarint reads one uvarint (what, for errors) off the front of b.
func uvarint(b []byte, what string) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: bad %s", ErrCorrupt, what)
	}
	return v, b[n:], nil
}
