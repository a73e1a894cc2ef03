package hotlist

import (
	"cmp"
	"slices"
	"strings"
	"sync"
)

// halveEvery times the capacity is how many samples a Sketch takes between
// two halvings of its counts.
const halveEvery = 32

// Entry is a key and its read count (an estimate: at least the true count
// of the reads sampled since the key came in, halved as the Sketch ages).
type Entry struct {
	Key   string
	Count uint64
}

// Sketch keeps the most counted keys, at most its capacity of them. It is
// safe for concurrent use; every Add is a short critical section
// (O(log capacity)), and allocates only for a key it did not hold.
type Sketch struct {
	mu       sync.Mutex
	capacity int
	heap     []Entry        // a min-heap on Count: heap[0] is the next to give way
	index    map[string]int // key -> position in heap
	samples  int            // since the last halving
}

// NewSketch returns a Sketch of at most capacity keys (at least 1).
func NewSketch(capacity int) *Sketch {
	capacity = max(capacity, 1)
	return &Sketch{capacity: capacity, index: make(map[string]int)}
}

// Add counts one read of key. A key the Sketch does not hold takes the
// place of the least counted one when the Sketch is full, with that one's
// count plus one (space-saving).
func (s *Sketch) Add(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.samples++; s.samples >= halveEvery*s.capacity {
		s.samples = 0
		for i := range s.heap {
			s.heap[i].Count /= 2 // monotone: the heap stays a heap
		}
	}
	if i, ok := s.index[key]; ok {
		s.heap[i].Count++
		s.down(i)
		return
	}
	key = strings.Clone(key) // not a view of the caller's larger string
	if len(s.heap) < s.capacity {
		s.heap = append(s.heap, Entry{Key: key, Count: 1})
		s.index[key] = len(s.heap) - 1
		s.up(len(s.heap) - 1)
		return
	}
	delete(s.index, s.heap[0].Key)
	s.heap[0] = Entry{Key: key, Count: s.heap[0].Count + 1}
	s.index[key] = 0
	s.down(0)
}

// Top returns up to n entries, the most counted first (ties in key
// order).
func (s *Sketch) Top(n int) []Entry {
	s.mu.Lock()
	out := slices.Clone(s.heap)
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Entry) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	if len(out) > n {
		out = out[:max(n, 0)]
	}
	return out
}

// Len returns how many keys the Sketch holds.
func (s *Sketch) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.heap)
}

func (s *Sketch) less(i, j int) bool { return s.heap[i].Count < s.heap[j].Count }

func (s *Sketch) swap(i, j int) {
	s.heap[i], s.heap[j] = s.heap[j], s.heap[i]
	s.index[s.heap[i].Key] = i
	s.index[s.heap[j].Key] = j
}

func (s *Sketch) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			return
		}
		s.swap(i, p)
		i = p
	}
}

func (s *Sketch) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(s.heap) {
			return
		}
		m := l
		if r := l + 1; r < len(s.heap) && s.less(r, l) {
			m = r
		}
		if !s.less(m, i) {
			return
		}
		s.swap(i, m)
		i = m
	}
}
