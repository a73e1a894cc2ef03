package envelope_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/tiercache/tiercache/tiered/internal/envelope"
)

// FuzzDecode feeds arbitrary bytes to Decode. It must never panic, every
// failure must wrap ErrCorrupt or be ErrOtherVersion, and whatever decodes
// must re-encode to the same bytes. (Delta round-trips at microsecond precision; re-encoding the
// decoded header is exact.)
//
// A mutated input almost never carries a valid checksum, so each input is
// also decoded with its checksum repaired: that lets the fuzzer reach the
// version, flag and success paths.
func FuzzDecode(f *testing.F) {
	f.Add(envelope.Append(nil, envelope.Header{}, nil))
	f.Add(envelope.Append(nil, envelope.Header{Flags: envelope.FlagNotFound, Created: 1, Expiry: 2}, nil))
	f.Add(envelope.Append(nil, envelope.Header{Flags: envelope.FlagQueued, Created: 1, Expiry: 2}, []byte("v")))
	f.Add(envelope.Append(nil, envelope.Header{Flags: envelope.FlagCompressed, Created: 1_700_000_000_000,
		Expiry: 1_700_000_060_000, Delta: 1234 * time.Microsecond}, []byte("\x0bpayload...")))
	f.Add(envelope.Append(nil, envelope.Header{Created: -1, Expiry: -1, Delta: time.Hour * 2}, bytes.Repeat([]byte{0xff}, 100)))
	// Long payloads take other paths through the CRC code.
	f.Add(envelope.Append(nil, envelope.Header{Created: 3}, bytes.Repeat([]byte("0"), 1100)))
	f.Add(envelope.Append(nil, envelope.Header{Created: 4}, bytes.Repeat([]byte("1"), 5000)))
	// One seed per failure class, so each is covered from the start rather
	// than found and minimized.
	valid := envelope.Append(nil, envelope.Header{Created: 1, Expiry: 2}, []byte("payload"))
	edit := func(f func(b []byte)) []byte {
		b := bytes.Clone(valid)
		f(b)
		return refinish(b)
	}
	f.Add(valid[:envelope.HeaderSize-1])                                    // truncated
	f.Add(edit(func(b []byte) { b[0] = 0x82 }))                             // foreign
	f.Add(edit(func(b []byte) { b[2] = 1 }))                                // another version
	f.Add(edit(func(b []byte) { b[3] = 0x80 }))                             // reserved flag bits
	f.Add(append(bytes.Clone(valid[:len(valid)-1]), valid[len(valid)-1]^1)) // checksum mismatch
	f.Add([]byte{})
	f.Add([]byte{0xC7, 0x7C, 2})
	f.Add(envelope.Append(nil, envelope.Header{Flags: envelope.FlagCompressed, Compressor: 9, Schema: 0xdeadbeef}, []byte("x")))
	f.Add([]byte(`{"not":"an envelope","but":"long enough to look like one"}`))
	f.Add(envelope.Append(nil, envelope.Header{Created: 5, Expiry: 6, Key: 0xdeadbeef}, []byte("bound")))
	f.Add(append([]byte{0xC7, 0x7C, 2, 0}, make([]byte, 40)...)) // a version 2 frame
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkDecode(t, frame)
		if len(frame) >= envelope.HeaderSize {
			checkDecode(t, refinish(bytes.Clone(frame)))
		}
	})
}

func checkDecode(t *testing.T, frame []byte) {
	t.Helper()
	h, payload, err := envelope.Decode(frame)
	if err != nil {
		if !errors.Is(err, envelope.ErrCorrupt) && !errors.Is(err, envelope.ErrOtherVersion) {
			t.Fatalf("Decode: error %v is neither ErrCorrupt nor ErrOtherVersion", err)
		}
		return
	}
	if again := envelope.Append(nil, h, payload); !bytes.Equal(again, frame) {
		t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, frame)
	}
}
