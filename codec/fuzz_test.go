package codec_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/tiercache/tiercache/codec"
)

// FuzzMsgpackUnmarshal feeds arbitrary bytes to Msgpack.Unmarshal, typed and
// untyped. It must never panic; whatever decodes into a user must re-encode
// to bytes that decode and re-encode to the same bytes.
func FuzzMsgpackUnmarshal(f *testing.F) {
	for _, v := range []any{sampleUser(), user{}, map[string]any{"id": "x", "tags": []any{1, nil}}, []any{}, nil} {
		data, err := msgpack.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01})                   // array32 of 4G elements
	f.Add([]byte{0x81, 0xa4, 't', 'a', 'g', 's', 0xdc, 0xff, 0xff})     // tags: array16 of 64K
	f.Add([]byte{0xc7, 0x0c, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) // malformed time extension
	f.Add([]byte{0xc1})
	// Found by this target: a bin32 header declaring 2.9 GB inside a map,
	// which msgpack allocated before reading (the fuzz worker died).
	f.Add([]byte("\x920\x82\xa20\x9a\xc6\xaf\xf7\xba*Y\x1d00\xa400J0\x7f"))
	f.Add([]byte{0x81, 0xa4, 't', 'a', 'g', 's', 0xdb, 0xff, 0xff, 0xff, 0xff}) // str32 of 4 GiB
	f.Fuzz(func(t *testing.T, data []byte) {
		var a any
		if err := (codec.Msgpack[any]{}).Unmarshal(data, &a); err != nil && !errors.Is(err, codec.ErrCorrupt) {
			t.Fatalf("Unmarshal into any: error %v does not wrap ErrCorrupt", err)
		}

		var b []byte
		if err := (codec.Msgpack[[]byte]{}).Unmarshal(data, &b); err != nil && !errors.Is(err, codec.ErrCorrupt) {
			t.Fatalf("Unmarshal into []byte: error %v does not wrap ErrCorrupt", err)
		}

		c := codec.Msgpack[user]{}
		var u user
		if err := c.Unmarshal(data, &u); err != nil {
			if !errors.Is(err, codec.ErrCorrupt) {
				t.Fatalf("Unmarshal: error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		enc1, err := c.Marshal(nil, u)
		if err != nil {
			t.Fatalf("Marshal of a decoded value: %v", err)
		}
		var u2 user
		if err := c.Unmarshal(enc1, &u2); err != nil {
			t.Fatalf("Unmarshal of a re-encoded value %x: %v", enc1, err)
		}
		enc2, err := c.Marshal(nil, u2)
		if err != nil {
			t.Fatalf("second Marshal: %v", err)
		}
		if !bytes.Equal(enc1, enc2) {
			t.Fatalf("re-encoding is unstable:\n%x\n%x", enc1, enc2)
		}
	})
}

// FuzzJSONUnmarshal feeds arbitrary bytes to JSON.Unmarshal. It must never
// panic; whatever decodes must re-encode stably.
func FuzzJSONUnmarshal(f *testing.F) {
	for _, v := range []any{sampleUser(), user{}} {
		data, err := codec.JSON[any]{}.Marshal(nil, v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"id":1e400}`))
	f.Add([]byte(`{"name":"\ud800","tags":[null,"x"],"address":{"zip":-0}}`))
	f.Add([]byte(`[[[[[[[[[[]]]]]]]]]]`))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := codec.JSON[user]{}
		var u user
		if err := c.Unmarshal(data, &u); err != nil {
			if !errors.Is(err, codec.ErrCorrupt) {
				t.Fatalf("Unmarshal: error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		enc1, err := c.Marshal(nil, u)
		if err != nil {
			t.Fatalf("Marshal of a decoded value: %v", err)
		}
		var u2 user
		if err := c.Unmarshal(enc1, &u2); err != nil {
			t.Fatalf("Unmarshal of a re-encoded value %s: %v", enc1, err)
		}
		enc2, err := c.Marshal(nil, u2)
		if err != nil {
			t.Fatalf("second Marshal: %v", err)
		}
		if !bytes.Equal(enc1, enc2) {
			t.Fatalf("re-encoding is unstable:\n%s\n%s", enc1, enc2)
		}
	})
}

// FuzzS2Decompress feeds arbitrary bytes to S2.Decompress. It must never
// panic, must keep dst's prefix, and whatever decodes must survive a
// compress and decompress round trip.
func FuzzS2Decompress(f *testing.F) {
	f.Add(s2.Encode(nil, nil))
	f.Add(s2.Encode(nil, []byte("hello, hello, hello, hello")))
	f.Add(s2.Encode(nil, compressible(2000)))
	f.Add(s2.EncodeBetter(nil, compressible(3000)))
	f.Add(s2.EncodeSnappy(nil, compressible(1000)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, src []byte) {
		c := codec.S2{MaxDecodedLen: 1 << 20} // keep the fuzzer's memory in check
		prefix := []byte("pre")
		out, err := c.Decompress(prefix, src)
		if err != nil {
			if !errors.Is(err, codec.ErrCorrupt) && !errors.Is(err, codec.ErrTooLarge) {
				t.Fatalf("Decompress: error %v wraps neither ErrCorrupt nor ErrTooLarge", err)
			}
			if !bytes.Equal(out, prefix) {
				t.Fatalf("Decompress error: dst changed to %q", out)
			}
			return
		}
		if !bytes.HasPrefix(out, prefix) {
			t.Fatalf("Decompress lost dst's prefix: %q", out[:min(len(out), 3)])
		}
		dec := out[len(prefix):]
		if len(dec) > c.MaxDecodedLen {
			t.Fatalf("Decompress returned %d bytes, above MaxDecodedLen", len(dec))
		}
		again, err := c.Decompress(nil, c.Compress(nil, dec))
		if err != nil {
			t.Fatalf("round trip of decoded data: %v", err)
		}
		if !bytes.Equal(again, dec) {
			t.Fatalf("round trip of decoded data differs")
		}
	})
}
