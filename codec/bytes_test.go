package codec_test

import (
	"bytes"
	"testing"

	"github.com/tiercache/tiercache/codec"
)

func TestBytes_RoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    []byte
		want []byte // decoded
	}{
		{"nil", nil, []byte{}},
		{"empty", []byte{}, []byte{}},
		{"binary", []byte{0, 0xff, '\n'}, []byte{0, 0xff, '\n'}},
		{"large", random(100 << 10), random(100 << 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			back, enc := roundTrip[[]byte](t, codec.Bytes{}, tt.v)
			if !bytes.Equal(enc, tt.v) {
				t.Errorf("encoding: got %x, want %x", enc, tt.v)
			}
			if back == nil || !bytes.Equal(back, tt.want) {
				t.Errorf("decoded: got %#v, want %#v", back, tt.want)
			}
		})
	}
}

func TestBytes_Copies(t *testing.T) {
	t.Parallel()
	v := []byte("value")
	enc, _ := codec.Bytes{}.Marshal(nil, v)
	v[0] = 'X'
	if string(enc) != "value" {
		t.Errorf("Marshal aliases its input: %q", enc)
	}
	var back []byte
	if err := (codec.Bytes{}).Unmarshal(enc, &back); err != nil {
		t.Fatal(err)
	}
	enc[0] = 'Y'
	if string(back) != "value" {
		t.Errorf("Unmarshal aliases its input: %q", back)
	}
}

func TestString_RoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    string
	}{
		{"empty", ""},
		{"ascii", "hello"},
		{"utf8", "日本語"},
		{"invalid utf8", "\xff\xfe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			back, enc := roundTrip[string](t, codec.String{}, tt.v)
			if string(enc) != tt.v || back != tt.v {
				t.Errorf("got encoding %q and value %q, want %q", enc, back, tt.v)
			}
		})
	}
}

func TestString_UnmarshalCopies(t *testing.T) {
	t.Parallel()
	data := []byte("value")
	var s string
	if err := (codec.String{}).Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	data[0] = 'X'
	if s != "value" {
		t.Errorf("Unmarshal aliases its input: %q", s)
	}
}
