package redisbus

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tiercache/tiercache/invalidate"
)

func TestRarely(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		at      time.Duration // since start
		ok      bool
		skipped int
	}{
		{0, true, 0}, // the first is logged
		{time.Second, false, 0},
		{59 * time.Second, false, 0},
		{time.Minute, true, 2}, // a minute later, with the count
		{time.Minute + time.Millisecond, false, 0},
		{10 * time.Minute, true, 1},
		{10*time.Minute + 59*time.Second, false, 0},
		{11 * time.Minute, true, 1},
	}
	var r rarely
	for i, tt := range tests {
		skipped, ok := r.allow(start.Add(tt.at))
		if ok != tt.ok || skipped != tt.skipped {
			t.Errorf("step %d, at %v: allow = %d, %v; want %d, %v", i, tt.at, skipped, ok, tt.skipped, tt.ok)
		}
	}
}

// The MAC costs no allocation, on either side: a subscription and a
// publisher reuse their hash states. It measures allocations, so it does
// not run in parallel.
func TestAuth_Allocs(t *testing.T) {
	keys := [][]byte{bytes.Repeat([]byte{'a'}, 32), bytes.Repeat([]byte{'b'}, 32)}
	signer := newAuth("tc:inv:user", keys[1:])
	verifier := newAuth("tc:inv:user", keys)
	msg := bytes.Repeat([]byte{'m'}, 500)
	buf := make([]byte, 0, 1024)
	if allocs := testing.AllocsPerRun(100, func() { buf = signer.sign(append(buf[:0], msg...)) }); allocs != 0 {
		t.Errorf("sign: %v allocs, want 0", allocs)
	}
	// Checked against both keys: the signer's is the second.
	if allocs := testing.AllocsPerRun(100, func() {
		if _, ok := verifier.verify(buf); !ok {
			t.Fatal("not verified")
		}
	}); allocs != 0 {
		t.Errorf("verify: %v allocs, want 0", allocs)
	}
}

// fuzzKeys are the keys of FuzzOpen: the opener accepts the first two.
var fuzzKeys = [][]byte{bytes.Repeat([]byte{'a'}, 16), bytes.Repeat([]byte{'b'}, 32), bytes.Repeat([]byte{'c'}, 16)}

const fuzzChannel = "tc:inv:user"

// fuzzSign returns body followed by its MAC under key.
func fuzzSign(key, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(fuzzChannel + "\x00"))
	h.Write(body)
	return append(bytes.Clone(body), h.Sum(nil)[:macSize]...)
}

// FuzzOpen feeds payloads to the receive path of a subscription with keys
// (size cap, MAC, decoding) and to one without. mode picks how the payload
// is made from body: as it is, signed with one of the accepted keys (so
// that the fuzzer reaches the decoder behind the MAC), or signed with
// another key. open must never panic, must refuse what it should (over the
// cap: errTooLarge; a MAC no key verifies: errForged), and must decode
// exactly what UnmarshalBinary decodes from the message behind the MAC.
func FuzzOpen(f *testing.F) {
	for _, m := range []invalidate.Message{
		{Origin: "a", Seq: 1, Namespace: "user", Keys: []string{"1", "2"}},
		{Origin: "a", Seq: 1 << 40, Sent: -1, Namespace: "user", Tags: []string{"t"}, Prefix: "p", Flush: true, Unsettled: true},
		{Namespace: "user", Keys: []string{string(bytes.Repeat([]byte{'k'}, 300))}},
	} {
		data, _ := m.MarshalBinary()
		for mode := range uint8(4) {
			f.Add(data, mode)
		}
	}
	f.Add([]byte{}, uint8(0))
	f.Add([]byte{}, uint8(1))
	f.Add(bytes.Repeat([]byte{0xa0}, 5000), uint8(1))
	f.Add([]byte{0x99, 0x01, 0xa0, 0x00, 0x00, 0xa0, 0x00, 0xdd, 0x00, 0x98, 0x96, 0x80}, uint8(2))
	const maxSize = 4096
	f.Fuzz(func(t *testing.T, body []byte, mode uint8) {
		payload := body
		switch mode % 4 {
		case 1:
			payload = fuzzSign(fuzzKeys[0], body)
		case 2:
			payload = fuzzSign(fuzzKeys[1], body)
		case 3:
			payload = fuzzSign(fuzzKeys[2], body)
		}
		keyed := opener{max: maxSize, auth: newAuth(fuzzChannel, fuzzKeys[:2])}
		plain := opener{max: maxSize}
		for _, o := range []*opener{&keyed, &plain} {
			var m invalidate.Message
			err := o.open(string(payload), &m)
			if len(payload) > maxSize {
				if !errors.Is(err, errTooLarge) {
					t.Fatalf("a payload of %d bytes: %v, want errTooLarge", len(payload), err)
				}
				continue
			}
			msg := payload
			if o.auth != nil {
				signed := len(payload) >= macSize && (bytes.Equal(payload, fuzzSign(fuzzKeys[0], payload[:len(payload)-macSize])) ||
					bytes.Equal(payload, fuzzSign(fuzzKeys[1], payload[:len(payload)-macSize])))
				if mode%4 == 1 || mode%4 == 2 {
					signed = true
				}
				if !signed {
					if !errors.Is(err, errForged) {
						t.Fatalf("open of a payload no key signed: %v, want errForged", err)
					}
					continue
				}
				msg = payload[:len(payload)-macSize]
			}
			if errors.Is(err, errForged) || errors.Is(err, errTooLarge) {
				t.Fatalf("open of a signed payload of %d bytes: %v", len(payload), err)
			}
			var want invalidate.Message
			wantErr := want.UnmarshalBinary(msg)
			if (err == nil) != (wantErr == nil) || err != nil && !errors.Is(err, invalidate.ErrMalformed) {
				t.Fatalf("open: %v; UnmarshalBinary of the message: %v", err, wantErr)
			}
			if !reflect.DeepEqual(m, want) {
				t.Fatalf("open decoded %+v, UnmarshalBinary %+v", m, want)
			}
		}
	})
}
