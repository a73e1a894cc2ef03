package hotlist_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tiercache/tiercache/tiered/internal/hotlist"
)

const maxKey = 1024

func TestEncodeDecode(t *testing.T) {
	t.Parallel()
	for _, list := range [][]hotlist.Entry{
		{},
		{{Key: "", Count: 0}},
		{{Key: "42", Count: 1 << 40}, {Key: "7", Count: 3}},
		{{Key: strings.Repeat("k", maxKey), Count: 1}},
	} {
		got, err := hotlist.Decode(hotlist.Encode(list), maxKey)
		if err != nil || !slices.Equal(got, list) {
			t.Fatalf("Decode(Encode(%v)) = %v, %v", list, got, err)
		}
	}
	for name, b := range map[string][]byte{
		"empty":          nil,
		"other version":  {2, 0},
		"no count":       {1},
		"count too big":  {1, 5, 0, 0},
		"key too long":   hotlist.Encode([]hotlist.Entry{{Key: strings.Repeat("k", maxKey+1)}}),
		"truncated key":  {1, 1, 5, 'a', 'b'},
		"no read count":  {1, 1, 1, 'a'},
		"bad read count": {1, 1, 1, 'a', 0x80},
		"trailing bytes": append(hotlist.Encode([]hotlist.Entry{{Key: "a"}}), 0),
	} {
		if _, err := hotlist.Decode(b, maxKey); !errors.Is(err, hotlist.ErrCorrupt) {
			t.Errorf("%s: Decode(%x) = %v, want ErrCorrupt", name, b, err)
		}
	}
}

// FuzzDecodeHotKeys feeds arbitrary bytes to Decode. It must never panic,
// every failure wraps ErrCorrupt, no key is longer than the limit, and a
// list it returns re-encodes to bytes that decode to the same list. The
// input is also read as keys (split at '\n'), encoded and decoded back.
func FuzzDecodeHotKeys(f *testing.F) {
	f.Add(hotlist.Encode(nil))
	f.Add(hotlist.Encode([]hotlist.Entry{{Key: "42", Count: 9}, {Key: "7", Count: 1}}))
	f.Add(hotlist.Encode([]hotlist.Entry{{Key: strings.Repeat("x", 300), Count: 1 << 62}}))
	f.Add([]byte{1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}) // an overflowing count
	f.Add([]byte("a\nb\n\nc"))
	f.Fuzz(func(t *testing.T, b []byte) {
		list, err := hotlist.Decode(b, maxKey)
		if err != nil {
			if !errors.Is(err, hotlist.ErrCorrupt) {
				t.Fatalf("Decode: %v, want ErrCorrupt", err)
			}
		} else {
			for _, e := range list {
				if len(e.Key) > maxKey {
					t.Fatalf("a key of %d bytes", len(e.Key))
				}
			}
			again, err := hotlist.Decode(hotlist.Encode(list), maxKey)
			if err != nil || !slices.Equal(again, list) {
				t.Fatalf("re-encoded list: %v, %v; want %v", again, err, list)
			}
		}
		var made []hotlist.Entry
		for i, k := range strings.Split(string(b), "\n") {
			if len(k) <= maxKey {
				made = append(made, hotlist.Entry{Key: k, Count: uint64(i) * 0x9E3779B97F4A7C15})
			}
		}
		got, err := hotlist.Decode(hotlist.Encode(made), maxKey)
		if err != nil || !slices.Equal(got, made) {
			t.Fatalf("Decode(Encode(%d entries)) = %d entries, %v", len(made), len(got), err)
		}
	})
}
