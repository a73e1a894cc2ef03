package hotlist_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tiercache/tiercache/tiered/internal/hotlist"
)

func keys(es []hotlist.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Key
	}
	return out
}

func TestSketch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		capacity int
		reads    []string
		top      int
		want     []string
	}{
		{"most read first", 4, []string{"a", "b", "b", "c", "c", "c"}, 3, []string{"c", "b", "a"}},
		{"ties in key order", 4, []string{"b", "a", "c"}, 3, []string{"a", "b", "c"}},
		{"top shorter than held", 4, []string{"a", "b", "b"}, 1, []string{"b"}},
		{"top longer than held", 4, []string{"a"}, 10, []string{"a"}},
		// Full: d takes the least counted place (a's, count 1) with count 2.
		{"a new key replaces the least counted", 2, []string{"a", "b", "b", "b", "d"}, 2, []string{"b", "d"}},
		{"nothing read", 4, nil, 3, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := hotlist.NewSketch(tc.capacity)
			for _, k := range tc.reads {
				s.Add(k)
			}
			if got := keys(s.Top(tc.top)); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("Top(%d) = %v, want %v", tc.top, got, tc.want)
			}
		})
	}
}

// A Zipf-distributed stream over many more keys than the capacity: the
// sketch never holds more than its capacity, and its top keys are the most
// read ones, in order.
func TestSketch_ZipfBounded(t *testing.T) {
	t.Parallel()
	const capacity = 40
	s := hotlist.NewSketch(capacity)
	z := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.2, 1, 100_000)
	for range 200_000 { // many halvings (every 1,280 reads)
		s.Add(fmt.Sprint(z.Uint64()))
		if s.Len() > capacity {
			t.Fatalf("holds %d keys, capacity %d", s.Len(), capacity)
		}
	}
	if got := keys(s.Top(3)); fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("Top(3) = %v, want [0 1 2]", got)
	}
}

// A key the sketch holds costs no allocation to count again.
func TestSketch_AddHeldKeyDoesNotAllocate(t *testing.T) {
	s := hotlist.NewSketch(8)
	s.Add("k")
	if a := testing.AllocsPerRun(1000, func() { s.Add("k") }); a != 0 {
		t.Fatalf("Add of a held key: %v allocs, want 0", a)
	}
}
