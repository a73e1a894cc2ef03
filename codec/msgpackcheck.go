package codec

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// maxMsgpackDepth bounds the nesting of arrays and maps that
// [Msgpack.Unmarshal] accepts, as encoding/json does. The msgpack library
// decodes and skips nested values recursively, so without a bound a few
// megabytes of nested array headers would overflow the goroutine stack,
// which is fatal rather than a recoverable panic.
const maxMsgpackDepth = 10000

// checkMsgpack returns an error wrapping ErrCorrupt when handing data to the
// msgpack library could exhaust memory or the stack: when a header declares
// more elements or bytes than data holds, or nesting exceeds
// maxMsgpackDepth. It does not recurse, and allocates only for values
// nested deeper than 32 levels.
//
// The msgpack library trusts declared sizes: an array32 header of five
// bytes makes it allocate a slice of four billion elements before reading
// the first one, and a bin32 or str32 header decoded into a []byte makes it
// allocate up to 4 GiB. Every element takes at least one byte, so a count
// or length above the bytes left is corrupt, and refused here before the
// library sees it.
//
// Most values are short and hold none of those headers. For them the
// library is safe as it is (the other sizes are small, and the nesting
// cannot exceed the length), and a scan for the header codes, about half
// the cost of a walk of the structure, clears them.
func checkMsgpack(data []byte) error {
	if len(data) > maxMsgpackDepth {
		return checkMsgpackDeep(data)
	}
	if !mayDeclareLargeSize(data) {
		return nil
	}
	return checkMsgpackShallow(data)
}

// mayDeclareLargeSize reports whether data holds a byte that could be the
// code of a header the library allocates for without bound: bin32 (0xc6),
// str32 (0xdb), array16, array32, map16 or map32 (0xdc to 0xdf). Such bytes
// may also occur inside values, which only costs a needless walk. bin16 and
// str16 (up to 64 KiB) and ext headers (read in bounded chunks) are left to
// the library. bytes.IndexByte is vectorized: six passes cost less than one
// walk.
func mayDeclareLargeSize(data []byte) bool {
	for _, c := range [...]byte{0xdc, 0xdd, 0xde, 0xdf, 0xdb, 0xc6} {
		if bytes.IndexByte(data, c) >= 0 {
			return true
		}
	}
	return false
}

// checkMsgpackShallow walks the headers of data and refuses malformed or
// truncated input, trailing bytes, and counts and lengths the input cannot
// hold. It does not bound the depth: it counts the items still expected
// across all open containers, which is all the structure a length check
// needs.
func checkMsgpackShallow(data []byte) error {
	pending := 1 // items still expected, at any level
	i := 0
	for pending > 0 {
		if i >= len(data) {
			return errMsgpackEOF()
		}
		start, c := i, data[i]
		i++
		pending--
		switch {
		case c-0xa0 < 0x20: // fixstr, the usual map key
			i += int(c & 0x1f)
		case c < 0x80, c >= 0xe0: // positive and negative fixint
		case c < 0x90: // fixmap
			pending += 2 * int(c&0x0f)
		case c < 0xa0: // fixarray
			pending += int(c & 0x0f)
		default:
			var items int
			var err error
			if i, items, err = msgpackHeader(data, i, c); err != nil {
				return err
			}
			pending += items
		}
		// Each expected item takes at least one byte.
		if i > len(data) || pending > len(data)-i {
			return errMsgpackExceeds(start)
		}
	}
	if i != len(data) {
		return errMsgpackTrailing(len(data) - i)
	}
	return nil
}

// checkMsgpackDeep is checkMsgpackShallow with the depth bound, for inputs
// long enough to exceed it. It keeps a stack of the items each open
// container still expects.
func checkMsgpackDeep(data []byte) error {
	var small [32]int
	open := small[:0] // items still expected by each enclosing container
	pending := 1      // items still expected at the current level
	i := 0
	for {
		if i >= len(data) {
			return errMsgpackEOF()
		}
		start, c := i, data[i]
		i++
		pending--
		items := 0
		switch {
		case c-0xa0 < 0x20: // fixstr
			i += int(c & 0x1f)
		case c < 0x80, c >= 0xe0: // positive and negative fixint
		case c < 0x90: // fixmap
			items = 2 * int(c&0x0f)
		case c < 0xa0: // fixarray
			items = int(c & 0x0f)
		default:
			var err error
			if i, items, err = msgpackHeader(data, i, c); err != nil {
				return err
			}
		}
		if i > len(data) || items > len(data)-i {
			return errMsgpackExceeds(start)
		}
		if items > 0 {
			if len(open) == maxMsgpackDepth {
				return fmt.Errorf("%w: msgpack: nesting deeper than %d", ErrCorrupt, maxMsgpackDepth)
			}
			open = append(open, pending)
			pending = items
			continue
		}
		for pending == 0 {
			if len(open) == 0 {
				if i != len(data) {
					return errMsgpackTrailing(len(data) - i)
				}
				return nil
			}
			pending = open[len(open)-1]
			open = open[:len(open)-1]
		}
	}
}

func errMsgpackEOF() error {
	return fmt.Errorf("%w: msgpack: unexpected end of input", ErrCorrupt)
}

func errMsgpackExceeds(offset int) error {
	return fmt.Errorf("%w: msgpack: value at offset %d declares more than the input holds", ErrCorrupt, offset)
}

func errMsgpackTrailing(n int) error {
	return fmt.Errorf("%w: msgpack: %d trailing bytes", ErrCorrupt, n)
}

// msgpackHeader reads the rest of the header of the value whose code c
// (0xc0 to 0xdf) ends at data[i-1]. It returns the offset just past the
// value's own bytes (possibly beyond len(data), which the caller checks) and,
// for an array or map, the number of items that follow.
func msgpackHeader(data []byte, i int, c byte) (next, items int, err error) {
	var width, extra int // length field: width bytes, then extra bytes before the data
	switch c {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return i, 0, nil
	case 0xc1:
		return 0, 0, fmt.Errorf("%w: msgpack: reserved code 0xc1 at offset %d", ErrCorrupt, i-1)
	case 0xcc, 0xd0: // uint8, int8
		return i + 1, 0, nil
	case 0xcd, 0xd1: // uint16, int16
		return i + 2, 0, nil
	case 0xca, 0xce, 0xd2: // float32, uint32, int32
		return i + 4, 0, nil
	case 0xcb, 0xcf, 0xd3: // float64, uint64, int64
		return i + 8, 0, nil
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16: type, data
		return i + 1 + 1<<(c-0xd4), 0, nil
	case 0xc4, 0xd9: // bin8, str8
		width = 1
	case 0xc5, 0xda: // bin16, str16
		width = 2
	case 0xc6, 0xdb: // bin32, str32
		width = 4
	case 0xc7: // ext8: length, type, data
		width, extra = 1, 1
	case 0xc8: // ext16
		width, extra = 2, 1
	case 0xc9: // ext32
		width, extra = 4, 1
	case 0xdc, 0xde: // array16, map16
		width = 2
	case 0xdd, 0xdf: // array32, map32
		width = 4
	}
	if len(data)-i < width {
		return 0, 0, errMsgpackEOF()
	}
	var n int
	switch width {
	case 1:
		n = int(data[i])
	case 2:
		n = int(binary.BigEndian.Uint16(data[i:]))
	default:
		n = int(binary.BigEndian.Uint32(data[i:]))
	}
	i += width
	switch c {
	case 0xdc, 0xdd:
		return i, n, nil
	case 0xde, 0xdf:
		return i, 2 * n, nil
	}
	return i + extra + n, 0, nil
}
