package codec_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tiercache/tiercache/codec"
)

func TestJSON_RoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"struct", func(t *testing.T) { checkJSON(t, sampleUser(), `"name":"Ada Lovelace"`) }},
		{"zero struct", func(t *testing.T) { checkJSON(t, user{}, `"tags":null`) }},
		{"int", func(t *testing.T) { checkJSON(t, -7, "-7") }},
		{"string", func(t *testing.T) { checkJSON(t, "a\"b<", `"a\"b\u003c"`) }},
		{"slice", func(t *testing.T) { checkJSON(t, []float64{1.5, -2}, "[1.5,-2]") }},
		{"map", func(t *testing.T) { checkJSON(t, map[string]bool{"b": false, "a": true}, `{"a":true,"b":false}`) }},
		{"pointer", func(t *testing.T) { checkJSON(t, &address{City: "Oslo"}, `"city":"Oslo"`) }},
		{"nil pointer", func(t *testing.T) { checkJSON[*address](t, nil, "null") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t)
		})
	}
}

// checkJSON round-trips v and checks its encoding contains want.
func checkJSON[V any](t *testing.T, v V, want string) {
	t.Helper()
	back, enc := roundTrip[V](t, codec.JSON[V]{}, v)
	if !reflect.DeepEqual(back, v) {
		t.Errorf("round trip: got %#v, want %#v", back, v)
	}
	if !strings.Contains(string(enc), want) {
		t.Errorf("encoding %s does not contain %s", enc, want)
	}
}

func TestJSON_MarshalNilDst(t *testing.T) {
	t.Parallel()
	b, err := codec.JSON[int]{}.Marshal(nil, 12)
	if err != nil || string(b) != "12" {
		t.Errorf("Marshal(nil, 12): got %q, %v", b, err)
	}
}

func TestJSON_MarshalError(t *testing.T) {
	t.Parallel()
	out, err := codec.JSON[func()]{}.Marshal([]byte("keep"), func() {})
	if err == nil || string(out) != "keep" {
		t.Errorf("Marshal(func): got %q, %v; want dst unchanged and an error", out, err)
	}
}

func TestJSON_UnmarshalCorrupt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
	}{
		{"empty", ""},
		{"garbage", "\x00\xff\xfe"},
		{"truncated", `{"id":1,"name":"x`},
		{"trailing", `{"id":1} {}`},
		{"wrong type", `{"id":"one"}`},
		{"not an object", `[1,2]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var u user
			err := codec.JSON[user]{}.Unmarshal([]byte(tt.data), &u)
			if !errors.Is(err, codec.ErrCorrupt) {
				t.Fatalf("Unmarshal(%q): got %v, want ErrCorrupt", tt.data, err)
			}
		})
	}
}

func TestJSON_UnmarshalKeepsLibraryError(t *testing.T) {
	t.Parallel()
	var u user
	err := codec.JSON[user]{}.Unmarshal([]byte(`{`), &u)
	var syntax *json.SyntaxError
	if !errors.As(err, &syntax) {
		t.Errorf("Unmarshal: got %v, want a *json.SyntaxError inside", err)
	}
}

func TestJSON_UnmarshalRecoversPanic(t *testing.T) {
	t.Parallel()
	var p panicky
	err := codec.JSON[panicky]{}.Unmarshal([]byte(`{}`), &p)
	if !errors.Is(err, codec.ErrCorrupt) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Unmarshal: got %v, want ErrCorrupt carrying the panic", err)
	}
}
