package invalidate_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tiercache/tiercache/invalidate"
)

// FuzzMessage_UnmarshalBinary feeds arbitrary bytes to UnmarshalBinary. It
// must never panic; every failure must wrap ErrMalformed and leave the
// message reset; whatever decodes names no more keys and tags than data
// has bytes (a claimed count is bounded by the input), and must re-encode,
// in no more bytes (the encoder writes the shortest forms) and in exactly
// EncodedLen bytes, to an encoding that decodes to the same message and
// encodes to the same bytes again.
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
	// Ten million keys, or tags, claimed in a few bytes.
	f.Add(wire(fKeys, 0xdd, 0x00, 0x98, 0x96, 0x80, 0xa0, 0xa0))
	f.Add(wire(fTags, 0xdd, 0x00, 0x98, 0x96, 0x80, 0xa0))
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
		if n := len(m.Keys) + len(m.Tags); n > len(data) {
			t.Fatalf("%d keys and tags decoded from %d bytes", n, len(data))
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary of a decoded message: %v", err)
		}
		if n := m.EncodedLen(); n != len(again) {
			t.Errorf("EncodedLen = %d, the encoding has %d bytes", n, len(again))
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

// FuzzMessage_Split splits the messages that arbitrary bytes decode to at
// an arbitrary size: Split must never panic, and either fail or return
// pieces that each fit, are full, and together name the message's keys and
// tags in order (see checkSplit).
func FuzzMessage_Split(f *testing.F) {
	for _, tt := range messages() {
		if data, err := tt.m.MarshalBinary(); err == nil && len(data) < 1024 {
			f.Add(data, uint16(len(data)/2))
		}
	}
	many := invalidate.Message{Namespace: "users", Keys: numbered("user:", 60), Tags: numbered("t", 20), Prefix: "p", Flush: true}
	data, _ := many.MarshalBinary()
	f.Add(data, uint16(100))
	f.Add(data, uint16(30))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		var m invalidate.Message
		if m.UnmarshalBinary(data) != nil {
			return
		}
		pieces, err := m.Split(int(limit))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalidate: cannot split") {
				t.Fatalf("Split error %q", err)
			}
			// Only when the first piece does not fit without keys or
			// tags, or one of them does not fit a piece of its own.
			first := m
			first.Keys, first.Tags = nil, nil
			fits := first.EncodedLen() <= int(limit)
			rest := first
			rest.Flush, rest.Prefix = false, ""
			for _, ss := range [][]string{m.Keys, m.Tags} {
				for _, s := range ss {
					one := rest
					one.Keys = []string{s}
					fits = fits && one.EncodedLen() <= int(limit)
				}
			}
			if fits {
				t.Fatalf("Split(%d) = %q, but every part fits", limit, err)
			}
			return
		}
		checkSplit(t, &m, int(limit), pieces)
	})
}
