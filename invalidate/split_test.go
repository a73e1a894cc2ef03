package invalidate_test

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tiercache/tiercache/invalidate"
)

// TestMessage_EncodedLen measures allocations: it does not run in
// parallel.
func TestMessage_EncodedLen(t *testing.T) {
	for _, tt := range messages() {
		data, err := tt.m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if got := tt.m.EncodedLen(); got != len(data) {
			t.Errorf("%s: EncodedLen = %d, want %d", tt.name, got, len(data))
		}
	}
	m := benchMessage()
	if allocs := testing.AllocsPerRun(100, func() { _ = m.EncodedLen() }); allocs != 0 {
		t.Errorf("EncodedLen: %v allocs, want 0", allocs)
	}
}

func TestMessage_Split(t *testing.T) {
	t.Parallel()
	// stamped returns m as a bus measures it: Seq and Sent at their
	// longest.
	stamped := func(m invalidate.Message) invalidate.Message {
		m.Origin, m.Seq, m.Sent = "instance-1", math.MaxUint64, math.MinInt64
		return m
	}
	tests := []struct {
		name   string
		m      invalidate.Message
		max    int
		pieces int // 0: any number above 1
	}{
		{"fits", stamped(invalidate.Message{Namespace: "users", Keys: numbered("user:", 10), Flush: true}), 4096, 1},
		{"fits exactly", stamped(invalidate.Message{Namespace: "users", Keys: numbered("user:", 10)}), -1, 1},
		{"one byte over", stamped(invalidate.Message{Namespace: "users", Keys: numbered("user:", 10)}), -2, 2},
		{"many keys", stamped(invalidate.Message{Namespace: "users", Keys: numbered("user:", 10_000)}), 4096, 0},
		{"long keys", stamped(invalidate.Message{Namespace: "users", Keys: repeated(100, 1024)}), 4096, 34},
		{"keys and tags", stamped(invalidate.Message{
			Namespace: "users", Keys: numbered("k", 500), Tags: numbered("tag:", 500), Unsettled: true,
		}), 1000, 0},
		{"tags only", stamped(invalidate.Message{Namespace: "users", Tags: numbered("tag:", 2000)}), 4096, 0},
		{"flush and prefix go first", stamped(invalidate.Message{
			Namespace: "users", Keys: numbered("k", 2000), Prefix: strings.Repeat("p", 3000), Flush: true, Wake: true,
		}), 4096, 0},
		{"a prefix that leaves no room for a key", stamped(invalidate.Message{
			Namespace: "users", Keys: repeated(3, 1024), Prefix: strings.Repeat("p", 4000),
		}), 4096, 2},
		// The list headers grow at 16 and 65536 elements.
		{"16 one-byte keys", stamped(invalidate.Message{Keys: numbered("", 16)}), -2, 2},
		{"70000 keys", stamped(invalidate.Message{Keys: numbered("", 70_000)}), 300_000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			limit := tt.max
			if limit < 0 { // relative to the message's own length
				limit += 1 + tt.m.EncodedLen()
			}
			pieces, err := tt.m.Split(limit)
			if err != nil {
				t.Fatal(err)
			}
			checkSplit(t, &tt.m, limit, pieces)
			switch {
			case tt.pieces == 0 && len(pieces) < 2:
				t.Errorf("%d pieces, want several", len(pieces))
			case tt.pieces != 0 && len(pieces) != tt.pieces:
				t.Errorf("%d pieces, want %d", len(pieces), tt.pieces)
			}
		})
	}
}

func TestMessage_Split_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		m    invalidate.Message
		max  int
		want string
	}{
		{"a key too long", invalidate.Message{Keys: []string{"a", strings.Repeat("k", 5000), "b"}}, 4096,
			"a key of 5000 bytes does not fit"},
		{"a tag too long", invalidate.Message{Keys: []string{"a"}, Tags: []string{strings.Repeat("t", 5000)}}, 4096,
			"a tag of 5000 bytes does not fit"},
		{"a prefix too long", invalidate.Message{Keys: []string{"a"}, Prefix: strings.Repeat("p", 5000)}, 4096,
			"without keys or tags it takes 5012"},
		{"a namespace too long", invalidate.Message{Namespace: strings.Repeat("n", 5000)}, 4096,
			"without keys or tags it takes 5012"},
		{"no room", invalidate.Message{Keys: []string{"a"}}, 0, "without keys or tags it takes 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pieces, err := tt.m.Split(tt.max)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "invalidate: ") {
				t.Fatalf("Split = %d pieces, %v; want an error containing %q", len(pieces), err, tt.want)
			}
		})
	}
}

// TestMessage_Split_Independent checks that appending to a piece (a bus
// merging keys into it) does not write over the next piece.
func TestMessage_Split_Independent(t *testing.T) {
	t.Parallel()
	m := invalidate.Message{Namespace: "users", Keys: numbered("user:", 1000)}
	pieces, err := m.Split(1024)
	if err != nil || len(pieces) < 2 {
		t.Fatalf("Split = %d pieces, %v; want several", len(pieces), err)
	}
	second := slices.Clone(pieces[1].Keys)
	pieces[0].Keys = append(pieces[0].Keys, "extra")
	if !slices.Equal(pieces[1].Keys, second) {
		t.Errorf("appending to the first piece changed the second: %v", pieces[1].Keys[:3])
	}
}

// checkSplit checks the pieces of m, split for limit bytes: each fits, and
// all but the last are full (the next key or tag would not fit); together
// they name m's keys and tags in order; Flush and Prefix are in the first
// only, Unsettled and Wake in each.
func checkSplit(t *testing.T, m *invalidate.Message, limit int, pieces []invalidate.Message) {
	t.Helper()
	if len(pieces) == 0 {
		t.Fatal("no pieces")
	}
	var keys, tags []string
	for i, p := range pieces {
		data, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > limit {
			t.Errorf("piece %d: %d bytes, more than %d", i, len(data), limit)
		}
		want := *m
		want.Keys, want.Tags = p.Keys, p.Tags
		if i > 0 {
			want.Flush, want.Prefix = false, ""
		}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("piece %d = %+v, want the fields %+v", i, p, want)
		}
		if len(p.Tags) > 0 && len(keys)+len(p.Keys) < len(m.Keys) {
			t.Errorf("piece %d has tags before the last key", i)
		}
		keys = append(keys, p.Keys...)
		tags = append(tags, p.Tags...)
		if i < len(pieces)-1 && (len(keys) < len(m.Keys) || len(tags) < len(m.Tags)) {
			more := p
			if len(keys) < len(m.Keys) {
				more.Keys = append(slices.Clip(p.Keys), m.Keys[len(keys)])
			} else {
				more.Tags = append(slices.Clip(p.Tags), m.Tags[len(tags)])
			}
			if more.EncodedLen() <= limit {
				t.Errorf("piece %d is not full: its next element would fit", i)
			}
		}
	}
	if !slices.Equal(keys, m.Keys) || !slices.Equal(tags, m.Tags) {
		t.Errorf("the pieces name %d keys and %d tags, want the %d and %d of the message, in order",
			len(keys), len(tags), len(m.Keys), len(m.Tags))
	}
}

// repeated returns n keys of size bytes, each different.
func repeated(n, size int) []string {
	keys := numbered("", n)
	for i, k := range keys {
		keys[i] = k + strings.Repeat("x", size-len(k))
	}
	return keys
}
