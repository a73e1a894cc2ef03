package invalidate

import (
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrMalformed is wrapped by every [Message.UnmarshalBinary] failure: the
// bytes are not a message this version can read (truncated, trailing
// bytes, a wrong type, an unknown version or flag). Test for it with
// errors.Is; the message says which field was wrong and where.
var ErrMalformed = errors.New("invalidate: malformed message")

var (
	_ encoding.BinaryAppender    = (*Message)(nil)
	_ encoding.BinaryMarshaler   = (*Message)(nil)
	_ encoding.BinaryUnmarshaler = (*Message)(nil)
)

// The wire format, version 1: a msgpack array of nine elements,
//
//	[1, origin, seq, sent, namespace, flags, [keys...], [tags...], prefix]
//
// version, seq and flags are unsigned integers, sent a signed one, and the
// other elements msgpack strings (str, never bin or nil). Bit 0 of flags is
// Flush, bit 1 Unsettled, bit 2 Wake; the other bits must be zero. A
// receiver refuses a flag it does not know (and, being a cache, flushes its
// L1 for the message it could not read), so new flags need no new version.
// A change of the layout takes a new version, which receivers of this one
// refuse.
const (
	wireVersion   = 1
	wireFields    = 9
	flagFlush     = 1 << 0
	flagUnsettled = 1 << 1
	flagWake      = 1 << 2
	knownFlags    = flagFlush | flagUnsettled | flagWake
)

// msgpack format codes (github.com/msgpack/msgpack/blob/master/spec.md).
const (
	mpFixArray = 0x90 // 1001xxxx: an array of up to 15 elements
	mpFixStr   = 0xa0 // 101xxxxx: a string of up to 31 bytes
	mpUint8    = 0xcc
	mpUint16   = 0xcd
	mpUint32   = 0xce
	mpUint64   = 0xcf
	mpInt8     = 0xd0
	mpInt16    = 0xd1
	mpInt32    = 0xd2
	mpInt64    = 0xd3
	mpStr8     = 0xd9
	mpStr16    = 0xda
	mpStr32    = 0xdb
	mpArray16  = 0xdc
	mpArray32  = 0xdd
)

// MarshalBinary returns the wire encoding of m; see [Message.AppendBinary].
func (m *Message) MarshalBinary() ([]byte, error) {
	size, err := m.encodedSize()
	if err != nil {
		return nil, err
	}
	return m.appendTo(make([]byte, 0, size)), nil
}

// AppendBinary appends the wire encoding of m to dst and returns the
// extended slice. It allocates only to grow dst, at most once; with room in
// dst it does not allocate.
//
// The encoding is a msgpack array, readable by any msgpack library:
//
//	[1, origin, seq, sent, namespace, flags, [keys...], [tags...], prefix]
//
// The leading 1 is the format version; bits 0, 1 and 2 of flags are Flush,
// Unsettled and Wake. Each
// integer, string and array takes its shortest msgpack form.
//
// The only error is a string or a list too long for msgpack (4 GiB, or
// 2³²-1 elements); dst is then returned unchanged.
func (m *Message) AppendBinary(dst []byte) ([]byte, error) {
	size, err := m.encodedSize()
	if err != nil {
		return dst, err
	}
	return m.appendTo(slices.Grow(dst, size)), nil
}

// appendTo appends the encoding of m to dst, which has room for it.
func (m *Message) appendTo(dst []byte) []byte {
	dst = append(dst, mpFixArray|wireFields, wireVersion)
	dst = appendStr(dst, m.Origin)
	dst = appendUint(dst, m.Seq)
	dst = appendInt(dst, m.Sent)
	dst = appendStr(dst, m.Namespace)
	var flags uint64
	if m.Flush {
		flags |= flagFlush
	}
	if m.Unsettled {
		flags |= flagUnsettled
	}
	if m.Wake {
		flags |= flagWake
	}
	dst = appendUint(dst, flags)
	dst = appendStrs(dst, m.Keys)
	dst = appendStrs(dst, m.Tags)
	return appendStr(dst, m.Prefix)
}

// EncodedLen returns the length of the encoding of m: how many bytes
// [Message.AppendBinary] appends (when m is within msgpack's limits). It
// does not allocate.
func (m *Message) EncodedLen() int {
	size, _ := m.size()
	return size
}

// encodedSize returns the length of m's encoding, or an error if a string
// or a list exceeds what msgpack can express.
func (m *Message) encodedSize() (int, error) {
	size, longest := m.size()
	if uint64(longest) > math.MaxUint32 {
		return 0, m.tooLong()
	}
	return size, nil
}

// size returns the length of m's encoding and the length of its longest
// string or list.
func (m *Message) size() (size, longest int) {
	size = m.baseSize()
	longest = max(len(m.Origin), len(m.Namespace), len(m.Prefix), len(m.Keys), len(m.Tags))
	for _, ss := range [...][]string{m.Keys, m.Tags} {
		size += arrayHeaderSize(len(ss)) - arrayHeaderSize(0)
		for _, s := range ss {
			size += strSize(len(s))
			longest = max(longest, len(s))
		}
	}
	return size, longest
}

// baseSize returns the length of m's encoding without its keys and tags
// (two empty lists in their place).
func (m *Message) baseSize() int {
	size := 2 + uintSize(m.Seq) + intSize(m.Sent) + 1 // array header, version, seq, sent, flags
	size += strSize(len(m.Origin)) + strSize(len(m.Namespace)) + strSize(len(m.Prefix))
	return size + 2*arrayHeaderSize(0)
}

// tooLong describes the string or list of m too long for msgpack.
func (m *Message) tooLong() error {
	const limit = math.MaxUint32
	for _, f := range [...]struct {
		name string
		ss   []string
	}{{"origin", []string{m.Origin}}, {"namespace", []string{m.Namespace}}, {"prefix", []string{m.Prefix}}, {"keys", m.Keys}, {"tags", m.Tags}} {
		if uint64(len(f.ss)) > limit {
			return fmt.Errorf("invalidate: cannot encode %d %s: msgpack arrays hold at most %d", len(f.ss), f.name, uint64(limit))
		}
		for i, s := range f.ss {
			if uint64(len(s)) > limit {
				if f.name == "keys" || f.name == "tags" {
					f.name = fmt.Sprintf("%s[%d]", f.name, i)
				}
				return fmt.Errorf("invalidate: cannot encode %s of %d bytes: msgpack strings hold at most %d", f.name, len(s), uint64(limit))
			}
		}
	}
	return nil
}

// strSize returns the length of the encoding of a string of n bytes.
func strSize(n int) int {
	switch {
	case n < 32:
		return 1 + n
	case n <= math.MaxUint8:
		return 2 + n
	case n <= math.MaxUint16:
		return 3 + n
	}
	return 5 + n
}

func arrayHeaderSize(n int) int {
	switch {
	case n < 16:
		return 1
	case n <= math.MaxUint16:
		return 3
	}
	return 5
}

func uintSize(v uint64) int {
	switch {
	case v <= math.MaxInt8:
		return 1
	case v <= math.MaxUint8:
		return 2
	case v <= math.MaxUint16:
		return 3
	case v <= math.MaxUint32:
		return 5
	}
	return 9
}

func intSize(v int64) int {
	switch {
	case v >= 0:
		return uintSize(uint64(v))
	case v >= -32:
		return 1
	case v >= math.MinInt8:
		return 2
	case v >= math.MinInt16:
		return 3
	case v >= math.MinInt32:
		return 5
	}
	return 9
}

func appendStr(dst []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		dst = append(dst, mpFixStr|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, mpStr8, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, mpStr16), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, mpStr32), uint32(n))
	}
	return append(dst, s...)
}

func appendStrs(dst []byte, ss []string) []byte {
	switch n := len(ss); {
	case n < 16:
		dst = append(dst, mpFixArray|byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, mpArray16), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, mpArray32), uint32(n))
	}
	for _, s := range ss {
		dst = appendStr(dst, s)
	}
	return dst
}

func appendUint(dst []byte, v uint64) []byte {
	switch {
	case v <= math.MaxInt8:
		return append(dst, byte(v))
	case v <= math.MaxUint8:
		return append(dst, mpUint8, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, mpUint16), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, mpUint32), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, mpUint64), v)
}

func appendInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0:
		return appendUint(dst, uint64(v))
	case v >= -32:
		return append(dst, byte(v)) // negative fixint, 111xxxxx
	case v >= math.MinInt8:
		return append(dst, mpInt8, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, mpInt16), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, mpInt32), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, mpInt64), uint64(v))
}

// UnmarshalBinary decodes data, an encoding made by [Message.AppendBinary],
// into m. It resets m first; on failure it leaves m reset and returns an
// error wrapping [ErrMalformed]. No input makes it panic.
//
// It accepts every msgpack form of each element, not only the shortest,
// but refuses an unknown version, unknown flag bits, a wrong type, and
// bytes after the array. Declared lengths are checked against the bytes
// left before anything is allocated for them, so whatever data claims,
// UnmarshalBinary allocates in proportion to len(data).
//
// Decoding allocates little: Origin and Namespace are copied from data,
// and Keys, Tags and Prefix all point into one shared copy of the rest of
// data (keeping one of them keeps that copy alive). The arrays of m.Keys
// and m.Tags are reused when large enough: a caller that keeps the old
// slices must copy them first.
func (m *Message) UnmarshalBinary(data []byte) error {
	m.reset()
	d := decoder{data: data}
	if err := d.message(m); err != nil {
		m.reset()
		return fmt.Errorf("%w: %s", ErrMalformed, err) //nolint:errorlint // wraps ErrMalformed only: the decoder's detail is text, not API
	}
	return nil
}

// reset zeroes m but keeps the arrays of Keys and Tags for reuse.
func (m *Message) reset() {
	clear(m.Keys)
	clear(m.Tags)
	*m = Message{Keys: m.Keys[:0], Tags: m.Tags[:0]}
}

// decoder reads msgpack values from data. Its methods return errors
// without ErrMalformed; UnmarshalBinary wraps them.
type decoder struct {
	data []byte
	off  int // the next byte to read

	// field and index name the value being read, for errors: "keys", 3.
	// index is -1 outside an array. start is where the value begins.
	field string
	index int
	start int

	// shared holds string(data[base:]) once a string past base was
	// decoded: the keys, tags and prefix are substrings of it.
	base   int
	shared string
}

var errTruncated = errors.New("truncated")

func (d *decoder) message(m *Message) error {
	d.begin("message")
	n, err := d.arrayLen()
	if err != nil {
		return d.fail(err)
	}
	if n == 0 {
		return d.fail(errors.New("empty array"))
	}
	d.begin("version")
	v, err := d.uint()
	if err != nil {
		return d.fail(err)
	}
	if v != wireVersion {
		return d.fail(fmt.Errorf("unsupported version %d (this decoder reads version %d)", v, wireVersion))
	}
	if n != wireFields {
		d.begin("message")
		d.start = 0
		return d.fail(fmt.Errorf("array of %d elements, version %d has %d", n, wireVersion, wireFields))
	}

	d.begin("origin")
	if m.Origin, err = d.str(); err != nil {
		return d.fail(err)
	}
	d.begin("seq")
	if m.Seq, err = d.uint(); err != nil {
		return d.fail(err)
	}
	d.begin("sent")
	if m.Sent, err = d.int(); err != nil {
		return d.fail(err)
	}
	d.begin("namespace")
	if m.Namespace, err = d.str(); err != nil {
		return d.fail(err)
	}
	d.begin("flags")
	flags, err := d.uint()
	if err != nil {
		return d.fail(err)
	}
	if flags&^knownFlags != 0 {
		return d.fail(fmt.Errorf("unknown flag bits %#x", flags&^knownFlags))
	}
	m.Flush = flags&flagFlush != 0
	m.Unsettled = flags&flagUnsettled != 0
	m.Wake = flags&flagWake != 0

	d.base = d.off
	d.begin("keys")
	if m.Keys, err = d.strs(m.Keys); err != nil {
		return d.fail(err)
	}
	d.begin("tags")
	if m.Tags, err = d.strs(m.Tags); err != nil {
		return d.fail(err)
	}
	d.begin("prefix")
	if m.Prefix, err = d.sharedStr(); err != nil {
		return d.fail(err)
	}
	if rest := len(d.data) - d.off; rest > 0 {
		d.begin("message")
		return d.fail(fmt.Errorf("%d trailing bytes after the array", rest))
	}
	return nil
}

// begin records that the value named field starts here.
func (d *decoder) begin(field string) {
	d.field, d.index, d.start = field, -1, d.off
}

// fail describes err with the value it occurred in. It does not wrap err:
// UnmarshalBinary turns the description into text (%s), and a wrapping
// error would cost an allocation more per malformed message, which
// TestMessage_UnmarshalBinary_TenMillionKeys bounds.
func (d *decoder) fail(err error) error {
	if d.index >= 0 {
		return fmt.Errorf("%s[%d] at byte %d: %v", d.field, d.index, d.start, err) //nolint:errorlint // see above
	}
	return fmt.Errorf("%s at byte %d: %v", d.field, d.start, err) //nolint:errorlint // see above
}

func (d *decoder) left() uint64 { return uint64(len(d.data) - d.off) }

func (d *decoder) code() (byte, error) {
	if d.off >= len(d.data) {
		return 0, errTruncated
	}
	c := d.data[d.off]
	d.off++
	return c, nil
}

// fixed reads an unsigned big-endian integer of size bytes (1, 2, 4 or 8).
func (d *decoder) fixed(size int) (uint64, error) {
	if uint64(size) > d.left() {
		return 0, errTruncated
	}
	b := d.data[d.off : d.off+size]
	d.off += size
	switch size {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(b)), nil
	}
	return binary.BigEndian.Uint64(b), nil
}

// integer reads an integer of any msgpack form. A negative value comes
// back as its two's complement, with neg set.
func (d *decoder) integer() (v uint64, neg bool, err error) {
	c, err := d.code()
	switch {
	case err != nil:
		return 0, false, err
	case c <= 0x7f: // positive fixint
		return uint64(c), false, nil
	case c >= 0xe0: // negative fixint
		return uint64(int64(int8(c))), true, nil
	case c >= mpUint8 && c <= mpUint64:
		v, err := d.fixed(1 << (c - mpUint8))
		return v, false, err
	case c >= mpInt8 && c <= mpInt64:
		size := 1 << (c - mpInt8)
		u, err := d.fixed(size)
		shift := 64 - 8*size
		i := int64(u<<shift) >> shift // sign-extend
		return uint64(i), i < 0, err
	}
	return 0, false, wrongType(c, "an integer")
}

func (d *decoder) uint() (uint64, error) {
	v, neg, err := d.integer()
	if err == nil && neg {
		return 0, fmt.Errorf("negative %d where an unsigned integer is expected", int64(v))
	}
	return v, err
}

func (d *decoder) int() (int64, error) {
	v, neg, err := d.integer()
	if err == nil && !neg && v > math.MaxInt64 {
		return 0, fmt.Errorf("%d overflows int64", v)
	}
	return int64(v), err
}

// arrayLen reads an array header. Each element takes a byte at least, so
// it refuses a count above the bytes left: the caller may allocate for the
// count it returns.
func (d *decoder) arrayLen() (int, error) {
	c, err := d.code()
	if err != nil {
		return 0, err
	}
	var n uint64
	switch {
	case c&0xf0 == mpFixArray:
		n = uint64(c & 0x0f)
	case c == mpArray16:
		n, err = d.fixed(2)
	case c == mpArray32:
		n, err = d.fixed(4)
	default:
		return 0, wrongType(c, "an array")
	}
	if err != nil {
		return 0, err
	}
	if n > d.left() {
		return 0, fmt.Errorf("%w: array of %d elements, %d bytes left", errTruncated, n, d.left())
	}
	return int(n), nil
}

// strBytes reads a string and returns its bytes, which alias data.
func (d *decoder) strBytes() (start, end int, err error) {
	c, err := d.code()
	if err != nil {
		return 0, 0, err
	}
	var n uint64
	switch {
	case c&0xe0 == mpFixStr:
		n = uint64(c & 0x1f)
	case c >= mpStr8 && c <= mpStr32:
		n, err = d.fixed(1 << (c - mpStr8))
	default:
		return 0, 0, wrongType(c, "a string")
	}
	if err != nil {
		return 0, 0, err
	}
	if n > d.left() {
		return 0, 0, fmt.Errorf("%w: string of %d bytes, %d left", errTruncated, n, d.left())
	}
	start = d.off
	d.off += int(n)
	return start, d.off, nil
}

// str reads a string into its own allocation.
func (d *decoder) str() (string, error) {
	start, end, err := d.strBytes()
	return string(d.data[start:end]), err
}

// sharedStr reads a string at or past base as a substring of shared.
func (d *decoder) sharedStr() (string, error) {
	start, end, err := d.strBytes()
	if err != nil {
		return "", err
	}
	return d.substr(start, end), nil
}

// substr returns data[start:end], at or past base, as a substring of
// shared.
func (d *decoder) substr(start, end int) string {
	if start == end {
		return ""
	}
	if d.shared == "" {
		d.shared = string(d.data[d.base:])
	}
	return d.shared[start-d.base : end-d.base]
}

// strs reads an array of strings, appending them to dst.
func (d *decoder) strs(dst []string) ([]string, error) {
	n, err := d.arrayLen()
	if err != nil {
		return dst, err
	}
	dst = slices.Grow(dst, n)
	for i := range n {
		// Fast path: keys are short, fixstr.
		if d.off < len(d.data) && d.data[d.off]&0xe0 == mpFixStr {
			start := d.off + 1
			end := start + int(d.data[d.off]&0x1f)
			if end <= len(d.data) {
				d.off = end
				dst = append(dst, d.substr(start, end))
				continue
			}
		}
		d.index, d.start = i, d.off
		s, err := d.sharedStr()
		if err != nil {
			return dst, err
		}
		dst = append(dst, s)
	}
	d.index = -1
	return dst, nil
}

func wrongType(c byte, want string) error {
	return fmt.Errorf("%s (0x%02x) where %s is expected", typeName(c), c, want)
}

// typeName names the msgpack type of format code c.
func typeName(c byte) string {
	switch {
	case c <= 0x7f, c >= 0xe0, c >= mpUint8 && c <= mpInt64:
		return "integer"
	case c <= 0x8f, c == 0xde, c == 0xdf:
		return "map"
	case c <= 0x9f, c == mpArray16, c == mpArray32:
		return "array"
	case c <= 0xbf, c >= mpStr8 && c <= mpStr32:
		return "string"
	case c == 0xc0:
		return "nil"
	case c == 0xc1:
		return "unused code"
	case c == 0xc2, c == 0xc3:
		return "bool"
	case c >= 0xc4 && c <= 0xc6:
		return "bin"
	case c == 0xca, c == 0xcb:
		return "float"
	}
	return "ext" // 0xc7 to 0xc9, 0xd4 to 0xd8
}
