package invalidate_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/tiercache/tiercache/invalidate"
)

// FuzzMessage_UnmarshalBinary feeds arbitrary bytes to UnmarshalBinary. It
// must never panic; every failure must wrap ErrMalformed and leave the
// message reset; whatever decodes must re-encode, in no more bytes (the
// encoder writes the shortest forms), to an encoding that decodes to the
// same message and encodes to the same bytes again.
func FuzzMessage_UnmarshalBinary(f *testing.F) {
	for _, tt := range messages() {
		if data, err := tt.m.MarshalBinary(); err == nil && len(data) < 1024 {
			f.Add(data)
		}
	}
	// One seed per kind of failure, and the non-shortest forms.
	f.Add([]byte{})
	f.Add([]byte{0x90})
	f.Add(wire(fHeader, 0x99, 0x02))
	f.Add(append(wire(-1), 0x00))
	f.Add(wire(fOrigin, 0xdb, 0xff, 0xff, 0xff, 0xff))
	f.Add(wire(fKeys, 0xdd, 0xff, 0xff, 0xff, 0xff))
	f.Add(wire(fKeys, 0x92, 0xa1, 'a', 0x07))
	f.Add(wire(fFlags, 0x03))
	f.Add(wire(fSent, 0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0))
	f.Add(wire(fSeq, 0xd1, 0, 5))
	f.Add(wire(fHeader, 0xdd, 0, 0, 0, 9, 1))
	f.Add(wire(fKeys, 0xdd, 0, 0, 0, 2, 0xa1, 'a', 0xd9, 1, 'b'))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m invalidate.Message
		if err := m.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, invalidate.ErrMalformed) {
				t.Fatalf("error %q does not wrap ErrMalformed", err)
			}
			if !reflect.DeepEqual(normalize(m), invalidate.Message{}) {
				t.Fatalf("message not reset after %q: %+v", err, m)
			}
			return
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary of a decoded message: %v", err)
		}
		if len(again) > len(data) {
			t.Errorf("re-encoding is longer: %d bytes, input %d", len(again), len(data))
		}
		var m2 invalidate.Message
		if err := m2.UnmarshalBinary(again); err != nil {
			t.Fatalf("decoding the re-encoding %x: %v", again, err)
		}
		if !reflect.DeepEqual(normalize(m), normalize(m2)) {
			t.Fatalf("re-encoding changed the message:\n got %+v\nwant %+v", m2, m)
		}
		if third, _ := m2.MarshalBinary(); string(third) != string(again) {
			t.Fatalf("encoding is not stable: %x, then %x", again, third)
		}
	})
}
