package hitratio

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// letters returns the trace whose accesses are the letters of s.
func letters(s string) Trace {
	ids := make([]uint64, len(s))
	for i := range s {
		ids[i] = uint64(s[i])
	}
	return newTrace(s, ids)
}

func TestOPT(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		trace    string
		capacity int
		want     int
	}{
		{"", 2, 0},
		{"aaaa", 0, 0},
		{"aaaa", 1, 3},
		// Bypass: b (next use 3) is not admitted over a (next use 2); a
		// cache that must admit b scores 0.
		{"abab", 1, 1},
		// c is used again only at 8: it bypasses a cache of a (3) and b
		// (4), as do d and the last c. Hits: a at 3 and 6, b at 4, 7, 9.
		// Belady without bypass evicts b for c and scores 4.
		{"abcabdabcb", 2, 5},
		{"abcabdabcb", 3, 6},
		{"abcabdabcb", 4, 6},
	} {
		t.Run(tc.trace+"/"+strconv.Itoa(tc.capacity), func(t *testing.T) {
			t.Parallel()
			if got := OPT(letters(tc.trace), tc.capacity); got != tc.want {
				t.Errorf("OPT(%q, %d) = %d, want %d", tc.trace, tc.capacity, got, tc.want)
			}
		})
	}
}

// TestOPTExhaustive checks OPT against a search of every admission and
// eviction choice on short random traces, and against LRU.
func TestOPTExhaustive(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		n, keys, capacity := 1+r.IntN(14), 1+r.IntN(5), 1+r.IntN(3)
		b := make([]byte, n)
		for i := range b {
			b[i] = 'a' + byte(r.IntN(keys))
		}
		tr := letters(string(b))
		want := bestHits(tr, capacity)
		if got := OPT(tr, capacity); got != want {
			t.Fatalf("OPT(%q, %d) = %d, the best choice scores %d", b, capacity, got, want)
		}
		if lru := LRU(tr, capacity); lru > want {
			t.Fatalf("LRU(%q, %d) = %d, more than the best choice's %d", b, capacity, lru, want)
		}
	}
}

// bestHits returns the most hits any cache of capacity entries can score
// on t (a miss may be admitted, evicting any entry, or not), by search.
func bestHits(t Trace, capacity int) int {
	memo := make(map[[2]int]int)
	var best func(i int, cached uint64) int
	best = func(i int, cached uint64) int {
		if i == len(t.Accesses) {
			return 0
		}
		key := [2]int{i, int(cached)}
		if v, ok := memo[key]; ok {
			return v
		}
		bit := uint64(1) << t.Accesses[i]
		var v int
		switch {
		case cached&bit != 0:
			v = 1 + best(i+1, cached)
		default:
			v = best(i+1, cached) // bypass
			if popcount(cached) < capacity {
				v = max(v, best(i+1, cached|bit))
			}
			for k := range len(t.Keys) {
				if e := uint64(1) << k; cached&e != 0 {
					v = max(v, best(i+1, cached&^e|bit))
				}
			}
		}
		memo[key] = v
		return v
	}
	return best(0, 0)
}

func popcount(x uint64) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

func TestLRU(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		trace    string
		capacity int
		want     int
	}{
		{"", 2, 0},
		{"aaaa", 0, 0},
		{"aaaa", 1, 3},
		{"abab", 1, 0},
		{"abab", 2, 2},
		// a is read again before c comes: c evicts b, not a (FIFO would
		// evict a and score 1).
		{"abaca", 2, 2},
		// Every miss evicts the key needed next, but the last b.
		{"abcabdabcb", 2, 1},
		// a b c fill; a b hit; d evicts c; a b hit; c evicts d.
		{"abcabdabcb", 3, 5},
	} {
		t.Run(tc.trace+"/"+strconv.Itoa(tc.capacity), func(t *testing.T) {
			t.Parallel()
			if got := LRU(letters(tc.trace), tc.capacity); got != tc.want {
				t.Errorf("LRU(%q, %d) = %d, want %d", tc.trace, tc.capacity, got, tc.want)
			}
		})
	}
}
