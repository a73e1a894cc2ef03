package invalidate_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/tiercache/tiercache/invalidate"
)

// normalize returns m with empty Keys and Tags as nil, which the encoding
// does not tell apart.
func normalize(m invalidate.Message) invalidate.Message {
	if len(m.Keys) == 0 {
		m.Keys = nil
	}
	if len(m.Tags) == 0 {
		m.Tags = nil
	}
	return m
}

func numbered(prefix string, n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = prefix + strconv.Itoa(i)
	}
	return s
}

// messages returns the messages the round-trip tests encode, each with a
// name. Small ones also seed the fuzzer.
func messages() []struct {
	name string
	m    invalidate.Message
} {
	long := strings.Repeat("x", 70_000) // str32
	type named = struct {
		name string
		m    invalidate.Message
	}
	ms := []named{
		{"empty", invalidate.Message{}},
		{"keys only", invalidate.Message{Namespace: "users", Keys: []string{"user:1", "user:2"}}},
		{"all fields", invalidate.Message{
			Origin: "host-7/1234", Seq: 42, Sent: 1_700_000_000_123_456_789, Namespace: "users",
			Keys: []string{"user:1", "", "user:3"}, Tags: []string{"team:9", "plan"}, Prefix: "user:", Flush: true,
		}},
		{"flush only", invalidate.Message{Origin: "a", Seq: 1, Namespace: "users", Flush: true}},
		{"unsettled", invalidate.Message{Origin: "a", Seq: 2, Namespace: "users", Keys: []string{"1"}, Unsettled: true}},
		{"wake", invalidate.Message{Origin: "a", Seq: 3, Namespace: "users", Keys: []string{"1", "2"}, Wake: true}},
		{"every flag", invalidate.Message{Namespace: "users", Keys: []string{"1"}, Flush: true, Unsettled: true, Wake: true}},
		{"tags only", invalidate.Message{Namespace: "users", Tags: []string{"t"}}},
		{"prefix only", invalidate.Message{Namespace: "users", Prefix: "user:"}},
		{"unicode", invalidate.Message{Origin: "ünïcødé", Namespace: "名前", Keys: []string{"🔑", "\x00\xff"}}},
		{"long strings", invalidate.Message{
			Origin: long, Namespace: long, Keys: []string{long, "", long}, Tags: []string{long}, Prefix: long,
		}},
		{"70000 keys", invalidate.Message{Namespace: "users", Keys: numbered("user:", 70_000)}}, // array32
		{"16 keys", invalidate.Message{Keys: numbered("k", 16)}},                                // array16
		{"65535 tags", invalidate.Message{Tags: numbered("", math.MaxUint16)}},
		{"65536 tags", invalidate.Message{Tags: numbered("", math.MaxUint16+1)}},
	}
	// Every length at which the string header changes form.
	for _, n := range []int{31, 32, 255, 256, 65535, 65536} {
		s := strings.Repeat("s", n)
		ms = append(ms, named{fmt.Sprintf("strings of %d bytes", n), invalidate.Message{
			Origin: s, Namespace: s, Keys: []string{s}, Tags: []string{s}, Prefix: s,
		}})
	}
	// Every value at which an integer changes form.
	for _, v := range []uint64{0, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64, math.MaxUint64} {
		ms = append(ms, named{fmt.Sprintf("seq %d", v), invalidate.Message{Seq: v}})
	}
	for _, v := range []int64{0, 1, math.MaxInt64, -1, -32, -33, -128, -129, math.MinInt16, math.MinInt16 - 1,
		math.MinInt32, math.MinInt32 - 1, math.MinInt64} {
		ms = append(ms, named{fmt.Sprintf("sent %d", v), invalidate.Message{Sent: v}})
	}
	return ms
}

func TestMessage_RoundTrip(t *testing.T) {
	t.Parallel()
	for _, tt := range messages() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := normalize(tt.m)
			data, err := tt.m.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			if !reflect.DeepEqual(normalize(tt.m), want) {
				t.Fatalf("MarshalBinary modified the message")
			}

			appended, err := tt.m.AppendBinary([]byte("head"))
			if err != nil {
				t.Fatalf("AppendBinary: %v", err)
			}
			if string(appended[:4]) != "head" || !bytes.Equal(appended[4:], data) {
				t.Errorf("AppendBinary after a prefix differs from MarshalBinary")
			}

			// The shortest msgpack form of every element: the library's
			// low-level encoder writes the same bytes.
			if lib := libEncode(t, &tt.m); !bytes.Equal(lib, data) {
				t.Errorf("encoding differs from the msgpack library's:\n got %x\nwant %x", head(data), head(lib))
			}

			var got invalidate.Message
			if err := got.UnmarshalBinary(data); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if !reflect.DeepEqual(normalize(got), want) {
				t.Errorf("UnmarshalBinary(MarshalBinary(m)) differs from m")
			}

			lib, err := libDecode(data)
			if err != nil {
				t.Fatalf("msgpack library: %v", err)
			}
			if !reflect.DeepEqual(normalize(lib), want) {
				t.Errorf("the msgpack library decodes another message")
			}
		})
	}
}

// head returns the start of b, for messages.
func head(b []byte) []byte { return b[:min(len(b), 64)] }

// libEncode encodes m with the low-level API of the msgpack library.
func libEncode(t *testing.T, m *invalidate.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	e := msgpack.NewEncoder(&buf)
	var flags uint64
	if m.Flush {
		flags |= 1
	}
	if m.Unsettled {
		flags |= 2
	}
	if m.Wake {
		flags |= 4
	}
	errs := []error{
		e.EncodeArrayLen(9), e.EncodeUint(1), e.EncodeString(m.Origin), e.EncodeUint(m.Seq),
		e.EncodeInt(m.Sent), e.EncodeString(m.Namespace), e.EncodeUint(flags),
	}
	for _, ss := range [][]string{m.Keys, m.Tags} {
		errs = append(errs, e.EncodeArrayLen(len(ss)))
		for _, s := range ss {
			errs = append(errs, e.EncodeString(s))
		}
	}
	errs = append(errs, e.EncodeString(m.Prefix))
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("msgpack library: %v", err)
	}
	return buf.Bytes()
}

// libDecode decodes data with the low-level API of the msgpack library.
func libDecode(data []byte) (invalidate.Message, error) {
	var m invalidate.Message
	d := msgpack.NewDecoder(bytes.NewReader(data))
	n, err := d.DecodeArrayLen()
	if err != nil || n != 9 {
		return m, fmt.Errorf("array of %d: %v", n, err) //nolint:errorlint // err is nil when the length is wrong, and %w would print %!w(<nil>)
	}
	version, err1 := d.DecodeUint64()
	if version != 1 {
		return m, fmt.Errorf("version %d: %v", version, err1) //nolint:errorlint // err1 is nil when the version is wrong, and %w would print %!w(<nil>)
	}
	var err2, err3, err4, err5, err6 error
	m.Origin, err2 = d.DecodeString()
	m.Seq, err3 = d.DecodeUint64()
	m.Sent, err4 = d.DecodeInt64()
	m.Namespace, err5 = d.DecodeString()
	flags, err6 := d.DecodeUint64()
	m.Flush, m.Unsettled, m.Wake = flags&1 != 0, flags&2 != 0, flags&4 != 0
	errs := []error{err1, err2, err3, err4, err5, err6}
	for _, ss := range []*[]string{&m.Keys, &m.Tags} {
		n, err := d.DecodeArrayLen()
		errs = append(errs, err)
		for range n {
			s, err := d.DecodeString()
			*ss = append(*ss, s)
			errs = append(errs, err)
		}
	}
	var err7 error
	m.Prefix, err7 = d.DecodeString()
	return m, errors.Join(append(errs, err7)...)
}

// The fields of the golden encoding below, in order.
const (
	fHeader = iota // array header and version
	fOrigin
	fSeq
	fSent
	fNamespace
	fFlags
	fKeys
	fTags
	fPrefix
)

// wire returns the golden encoding with field i replaced by b (with
// i < 0, the golden encoding itself).
func wire(i int, b ...byte) []byte {
	fields := [][]byte{
		fHeader:    {0x99, 0x01},
		fOrigin:    {0xa1, 'o'},
		fSeq:       {0x05},
		fSent:      {0xff}, // -1
		fNamespace: {0xa2, 'n', 's'},
		fFlags:     {0x01},
		fKeys:      {0x92, 0xa1, 'a', 0xa1, 'b'},
		fTags:      {0x91, 0xa1, 't'},
		fPrefix:    {0xa1, 'p'},
	}
	if i >= 0 {
		fields[i] = b
	}
	return bytes.Join(fields, nil)
}

var golden = invalidate.Message{
	Origin: "o", Seq: 5, Sent: -1, Namespace: "ns", Flush: true,
	Keys: []string{"a", "b"}, Tags: []string{"t"}, Prefix: "p",
}

// TestMessage_UnmarshalBinary_Forms checks the golden encoding, and that
// every msgpack form of an element decodes, not only the shortest.
func TestMessage_UnmarshalBinary_Forms(t *testing.T) {
	t.Parallel()
	with := func(f func(m *invalidate.Message)) invalidate.Message {
		m := golden
		f(&m)
		return m
	}
	tests := []struct {
		name string
		data []byte
		want invalidate.Message
	}{
		{"golden", wire(-1), golden},
		{"array16 header", wire(fHeader, 0xdc, 0, 9, 1), golden},
		{"array32 header", wire(fHeader, 0xdd, 0, 0, 0, 9, 1), golden},
		{"version as uint64", wire(fHeader, 0x99, 0xcf, 0, 0, 0, 0, 0, 0, 0, 1), golden},
		{"origin as str8", wire(fOrigin, 0xd9, 1, 'o'), golden},
		{"origin as str16", wire(fOrigin, 0xda, 0, 1, 'o'), golden},
		{"origin as str32", wire(fOrigin, 0xdb, 0, 0, 0, 1, 'o'), golden},
		{"seq as uint8", wire(fSeq, 0xcc, 5), golden},
		{"seq as uint64", wire(fSeq, 0xcf, 0, 0, 0, 0, 0, 0, 0, 5), golden},
		{"seq as int16", wire(fSeq, 0xd1, 0, 5), golden},
		{"sent as int8", wire(fSent, 0xd0, 0xff), golden},
		{"sent as int64", wire(fSent, 0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), golden},
		{"sent as uint32", wire(fSent, 0xce, 0xff, 0xff, 0xff, 0xff), with(func(m *invalidate.Message) { m.Sent = math.MaxUint32 })},
		{"sent as uint64", wire(fSent, 0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
			with(func(m *invalidate.Message) { m.Sent = math.MaxInt64 })},
		{"flags as uint16", wire(fFlags, 0xcd, 0, 1), golden},
		{"no flags", wire(fFlags, 0x00), with(func(m *invalidate.Message) { m.Flush = false })},
		{"keys as array32", wire(fKeys, 0xdd, 0, 0, 0, 2, 0xa1, 'a', 0xd9, 1, 'b'), golden},
		{"no tags", wire(fTags, 0x90), with(func(m *invalidate.Message) { m.Tags = nil })},
		{"empty prefix as str16", wire(fPrefix, 0xda, 0, 0), with(func(m *invalidate.Message) { m.Prefix = "" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got invalidate.Message
			if err := got.UnmarshalBinary(tt.data); err != nil {
				t.Fatalf("UnmarshalBinary(%x): %v", tt.data, err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(tt.want)) {
				t.Errorf("UnmarshalBinary(%x) = %+v, want %+v", tt.data, got, tt.want)
			}
		})
	}
	if data, _ := golden.MarshalBinary(); !bytes.Equal(data, wire(-1)) {
		t.Errorf("MarshalBinary(golden) = %x, want %x", data, wire(-1))
	}
}

func TestMessage_UnmarshalBinary_Malformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data []byte
		want string // in the error
	}{
		{"nil", nil, "message at byte 0: truncated"},
		{"not an array", []byte{0x80}, "map (0x80) where an array is expected"},
		{"nil value", []byte{0xc0}, "nil (0xc0) where an array is expected"},
		{"empty array", []byte{0x90}, "empty array"},
		{"version 2", wire(fHeader, 0x99, 0x02), "unsupported version 2"},
		{"version 2 with other fields", []byte{0x93, 0x02, 0xa0, 0xa0}, "unsupported version 2"},
		{"version 0", wire(fHeader, 0x99, 0x00), "unsupported version 0"},
		{"negative version", wire(fHeader, 0x99, 0xff), "version at byte 1: negative -1"},
		{"version as string", wire(fHeader, 0x99, 0xa1, '1'), "string (0xa1) where an integer is expected"},
		{"8 elements", wire(fHeader, 0x98, 0x01), "array of 8 elements, version 1 has 9"},
		{"10 elements", append(wire(fHeader, 0x9a, 0x01), 0x00), "array of 10 elements"},
		{"trailing byte", append(wire(-1), 0x00), "1 trailing bytes"},
		{"trailing message", append(wire(-1), wire(-1)...), "trailing bytes"},
		{"origin as bin", wire(fOrigin, 0xc4, 1, 'o'), "origin at byte 2: bin (0xc4) where a string is expected"},
		{"origin nil", wire(fOrigin, 0xc0), "origin at byte 2: nil"},
		{"seq negative", wire(fSeq, 0xd0, 0xfb), "seq at byte 4: negative -5"},
		{"seq float", wire(fSeq, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0), "float (0xcb) where an integer is expected"},
		{"seq bool", wire(fSeq, 0xc3), "bool (0xc3)"},
		{"seq ext", wire(fSeq, 0xd4, 0, 0), "ext (0xd4)"},
		{"seq never used code", wire(fSeq, 0xc1), "unused code (0xc1)"},
		{"sent overflows int64", wire(fSent, 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0), "sent at byte 5: 9223372036854775808 overflows int64"},
		{"namespace as array", wire(fNamespace, 0x90), "namespace at byte 6: array (0x90) where a string is expected"},
		{"unknown flag", wire(fFlags, 0x09), "unknown flag bits 0x8"},
		{"flags bool", wire(fFlags, 0xc3), "flags at byte 9: bool"},
		{"keys nil", wire(fKeys, 0xc0), "keys at byte 10: nil (0xc0) where an array is expected"},
		{"keys map", wire(fKeys, 0x81, 0xa1, 'a', 0xa1, 'b'), "keys at byte 10: map"},
		{"key integer", wire(fKeys, 0x92, 0xa1, 'a', 0x07), "keys[1] at byte 13: integer (0x07) where a string is expected"},
		{"key bin", wire(fKeys, 0x91, 0xc4, 1, 'a'), "keys[0] at byte 11: bin"},
		{"tag nil", wire(fTags, 0x91, 0xc0), "tags[0] at byte 16: nil"},
		{"prefix nil", wire(fPrefix, 0xc0), "prefix at byte 18: nil"},
		{"truncated uint64", []byte{0x99, 0x01, 0xa8, 'o', 'o', 'o', 'o', 'o', 'o', 'o', 'o', 0xcf, 0, 0}, "seq at byte 11: truncated"},
		{"truncated string", append([]byte{0x99, 0x01, 0xb4}, "0123456789"...), "origin at byte 2: truncated: string of 20 bytes, 10 left"},
		{"fewer bytes than elements", []byte{0x99, 0x01, 0xa0, 0x00, 0x00, 0xa0, 0x00, 0x90, 0x90}, "message at byte 0: truncated: array of 9 elements, 8 bytes left"},
		// Declared lengths far beyond the input, refused before any
		// allocation (see TestMessage_UnmarshalBinary_HugeLengthsAlloc).
		{"huge message array", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}, "array of 4294967295 elements, 1 bytes left"},
		{"huge origin", wire(fOrigin, 0xdb, 0xff, 0xff, 0xff, 0xff), "string of 4294967295 bytes"},
		{"huge key", wire(fKeys, 0x91, 0xdb, 0xff, 0xff, 0xff, 0xff), "keys[0] at byte 11: truncated: string of 4294967295 bytes"},
		{"huge keys array", wire(fKeys, 0xdd, 0xff, 0xff, 0xff, 0xff), "keys at byte 10: truncated: array of 4294967295 elements"},
		{"keys array16 beyond input", wire(fKeys, 0xdc, 0xff, 0xff, 0xa0), "array of 65535 elements"},
		{"huge tags array", wire(fTags, 0xdd, 0x7f, 0xff, 0xff, 0xff, 0xa0), "tags at byte"},
		{"one key more than bytes left", wire(fKeys, 0x93, 0xa0, 0xa0)[:13], "keys at byte 10: truncated: array of 3 elements, 2 bytes left"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Decoding fails over a full message: what is not reset shows.
			m := golden
			m.Keys, m.Tags = slices.Clone(golden.Keys), slices.Clone(golden.Tags)
			err := m.UnmarshalBinary(tt.data)
			checkMalformed(t, err, &m)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("UnmarshalBinary(%x) = %q, want it to contain %q", head(tt.data), err, tt.want)
			}
		})
	}
}

// checkMalformed checks that err is a decoding failure and that m, the
// message decoded into, was reset.
func checkMalformed(t *testing.T, err error, m *invalidate.Message) {
	t.Helper()
	if err == nil {
		t.Fatalf("UnmarshalBinary: no error, got %+v", *m)
	}
	if !errors.Is(err, invalidate.ErrMalformed) {
		t.Fatalf("UnmarshalBinary: error %q does not wrap ErrMalformed", err)
	}
	if !strings.HasPrefix(err.Error(), "invalidate: malformed message: ") {
		t.Errorf("error %q does not start with the sentinel's text", err)
	}
	if !reflect.DeepEqual(normalize(*m), invalidate.Message{}) {
		t.Errorf("after a failure the message is %+v, want it reset", *m)
	}
}

// TestMessage_UnmarshalBinary_Truncated cuts valid encodings at every
// byte: each prefix must fail cleanly.
func TestMessage_UnmarshalBinary_Truncated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		m    invalidate.Message
	}{
		{"golden", golden},
		{"long forms", invalidate.Message{
			Origin: strings.Repeat("o", 300), Seq: math.MaxUint64, Sent: math.MinInt64, Namespace: strings.Repeat("n", 40),
			Keys: numbered("key:", 20), Tags: []string{strings.Repeat("t", 70)}, Prefix: "p", Flush: true,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, err := tt.m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var m invalidate.Message
			for i := range len(data) {
				// A copy of exactly i bytes: nothing past it to read.
				err := m.UnmarshalBinary(bytes.Clone(data[:i]))
				checkMalformed(t, err, &m)
			}
			if err := m.UnmarshalBinary(data); err != nil {
				t.Errorf("the whole encoding: %v", err)
			}
		})
	}
}

// TestMessage_UnmarshalBinary_Reuse decodes one message into another and
// checks that nothing of the old one remains, and that the array of Keys
// is reused when large enough.
func TestMessage_UnmarshalBinary_Reuse(t *testing.T) {
	t.Parallel()
	big := invalidate.Message{Origin: "a", Namespace: "users", Keys: numbered("k", 100), Tags: []string{"t"}, Prefix: "p", Flush: true}
	small := invalidate.Message{Origin: "b", Seq: 2, Keys: []string{"x"}}
	bigData, _ := big.MarshalBinary()
	smallData, _ := small.MarshalBinary()
	emptyData, _ := (&invalidate.Message{}).MarshalBinary()

	var m invalidate.Message
	if err := m.UnmarshalBinary(bigData); err != nil {
		t.Fatal(err)
	}
	keys := unsafe.SliceData(m.Keys)
	if err := m.UnmarshalBinary(smallData); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(m), small) {
		t.Errorf("decoding over another message: %+v, want %+v", m, small)
	}
	if unsafe.SliceData(m.Keys) != keys {
		t.Errorf("the array of Keys was not reused")
	}
	if err := m.UnmarshalBinary(emptyData); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(m), invalidate.Message{}) {
		t.Errorf("decoding an empty message over another: %+v", m)
	}
}

// TestMessage_UnmarshalBinary_Aliasing checks that the decoded message
// does not alias data: a bus reuses its receive buffer.
func TestMessage_UnmarshalBinary_Aliasing(t *testing.T) {
	t.Parallel()
	data, _ := golden.MarshalBinary()
	var m invalidate.Message
	if err := m.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'X'
	}
	if !reflect.DeepEqual(m, golden) {
		t.Errorf("after overwriting the input: %+v, want %+v", m, golden)
	}
}

// TestMessage_UnmarshalBinary_HugeLengthsAlloc checks that declared
// lengths, however large, cost no memory: decoding allocates in proportion
// to the input. It measures the bytes allocated, so it does not run in
// parallel with other tests.
func TestMessage_UnmarshalBinary_HugeLengthsAlloc(t *testing.T) {
	inputs := [][]byte{
		{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01},
		wire(fOrigin, 0xdb, 0xff, 0xff, 0xff, 0xff),
		wire(fKeys, 0xdd, 0xff, 0xff, 0xff, 0xff),
		wire(fKeys, 0xdc, 0xff, 0xff, 0xa0, 0xa0, 0xa0, 0xa0),
		wire(fKeys, 0x91, 0xdb, 0xff, 0xff, 0xff, 0xff),
		wire(fTags, 0xdd, 0x7f, 0xff, 0xff, 0xff, 0xa0),
		wire(fPrefix, 0xda, 0xff, 0xff, 'p'),
	}
	const runs = 100
	for _, data := range inputs {
		var m invalidate.Message
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			if err := m.UnmarshalBinary(data); err == nil {
				t.Fatalf("UnmarshalBinary(%x): no error", data)
			}
		}
		runtime.ReadMemStats(&after)
		// An error message and the strings decoded before the failure.
		if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 2048 {
			t.Errorf("UnmarshalBinary(%x): %d bytes allocated per call", data, perRun)
		}
	}
}

// TestMessage_UnmarshalBinary_TenMillionKeys is the attack on a receiver:
// a payload of a few bytes (or a few thousand) that claims ten million
// keys, or tags, must fail at once, without allocating for the claim
// (160 MB of string headers) or walking it. It measures allocations, so it
// does not run in parallel with other tests.
func TestMessage_UnmarshalBinary_TenMillionKeys(t *testing.T) {
	const claim = 10_000_000
	array32 := []byte{0xdd, claim >> 24, claim >> 16 & 0xff, claim >> 8 & 0xff, claim & 0xff}
	emptyKeys := bytes.Repeat([]byte{0xa0}, 4096) // 4096 of the ten million
	tests := []struct {
		name string
		data []byte
	}{
		{"keys in a few bytes", wire(fKeys, array32...)},
		{"tags in a few bytes", wire(fTags, array32...)},
		{"keys, then 4096 of them", wire(fKeys, append(slices.Clip(array32), emptyKeys...)...)},
		{"tags, then 4096 of them", wire(fTags, append(slices.Clip(array32), emptyKeys...)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m invalidate.Message
			err := m.UnmarshalBinary(tt.data)
			checkMalformed(t, err, &m)
			if !strings.Contains(err.Error(), "array of 10000000 elements") {
				t.Errorf("error %q does not name the claim", err)
			}
			// The error message, and the strings decoded before the list
			// (a copy of the input at most, rounded up to a size class).
			// A new message each time: a used one keeps the array of its
			// Keys, which would hide an allocation made for the claim.
			allocs := testing.AllocsPerRun(100, func() { _ = new(invalidate.Message).UnmarshalBinary(tt.data) })
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			const runs = 100
			for range runs {
				_ = new(invalidate.Message).UnmarshalBinary(tt.data)
			}
			runtime.ReadMemStats(&after)
			perRun := (after.TotalAlloc - before.TotalAlloc) / runs
			if limit := uint64(2*len(tt.data) + 1024); allocs > 16 || perRun > limit {
				t.Errorf("UnmarshalBinary of %d bytes claiming %d elements: %v allocs, %d bytes a call; want at most 16 and %d",
					len(tt.data), claim, allocs, perRun, limit)
			}
		})
	}
}

func TestMessage_AppendBinary_NoAllocWithRoom(t *testing.T) {
	m := benchMessage()
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		buf, _ = m.AppendBinary(buf[:0])
	})
	if allocs != 0 {
		t.Errorf("AppendBinary with room in dst: %v allocs, want 0", allocs)
	}
	allocs = testing.AllocsPerRun(100, func() {
		buf, _ = m.MarshalBinary()
	})
	if allocs != 1 {
		t.Errorf("MarshalBinary: %v allocs, want 1", allocs)
	}
}

func TestMessage_UnmarshalBinary_Allocs(t *testing.T) {
	src := benchMessage()
	data, _ := src.MarshalBinary()
	var m invalidate.Message
	allocs := testing.AllocsPerRun(100, func() {
		if err := m.UnmarshalBinary(data); err != nil {
			t.Fatal(err)
		}
	})
	// Origin, Namespace, and one string that Keys, Tags and Prefix share;
	// the array of Keys is reused.
	if allocs != 3 {
		t.Errorf("UnmarshalBinary of %d keys into a used message: %v allocs, want 3", len(src.Keys), allocs)
	}
}

// benchMessage returns a message of 100 keys of 12 bytes.
func benchMessage() *invalidate.Message {
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%07d", i*7919)
	}
	return &invalidate.Message{
		Origin: "host-1:6f2d91", Seq: 123_456, Sent: 1_700_000_000_123_456_789, Namespace: "users", Keys: keys,
	}
}

func BenchmarkMessage_AppendBinary(b *testing.B) {
	b.Run("100keys", func(b *testing.B) {
		m := benchMessage()
		buf, _ := m.MarshalBinary()
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = m.AppendBinary(buf[:0])
		}
	})
}

func BenchmarkMessage_UnmarshalBinary(b *testing.B) {
	b.Run("100keys", func(b *testing.B) {
		data, _ := benchMessage().MarshalBinary()
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		var m invalidate.Message
		for b.Loop() {
			if err := m.UnmarshalBinary(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
