package hitratio

import "container/heap"

// OPT returns the hits of Belady's offline optimum with bypass on t, for a
// cache of capacity entries: on a miss, the key is admitted only if it is
// used again sooner than some cached key, which it then evicts (the cached
// key used furthest in the future). No policy that may refuse to admit a
// key, as TinyLFU does, can score more.
func OPT(t Trace, capacity int) int {
	if capacity <= 0 {
		return 0
	}
	n := len(t.Accesses)
	next := nextUses(t)
	// nextOf[k] is the next use of key k while it is cached, -1 otherwise.
	nextOf := make([]int64, len(t.Keys))
	for k := range nextOf {
		nextOf[k] = -1
	}
	// The heap holds next uses; an entry is live while it is its key's
	// nextOf. A next use names its key: the key accessed there, or, for
	// n+i (never used again after access i), the key of access i.
	h := &maxHeap{}
	keyAt := func(use int64) int32 {
		if use >= int64(n) {
			use -= int64(n)
		}
		return t.Accesses[use]
	}
	live := func(use int64) bool { return nextOf[keyAt(use)] == use }
	cached, hits := 0, 0
	for i, k := range t.Accesses {
		nu := next[i]
		if nextOf[k] >= 0 {
			hits++
			nextOf[k] = nu
			heap.Push(h, nu)
		} else {
			if cached == capacity {
				for !live((*h)[0]) {
					heap.Pop(h)
				}
				if (*h)[0] < nu { // every cached key is used before k: bypass
					continue
				}
				nextOf[keyAt(heap.Pop(h).(int64))] = -1
				cached--
			}
			nextOf[k] = nu
			heap.Push(h, nu)
			cached++
		}
		if h.Len() > 4*capacity+1024 {
			h.compact(live)
		}
	}
	return hits
}

// nextUses returns, for every access i of t, the index of the next access
// to the same key, or len(t.Accesses)+i when there is none: every value is
// distinct, and all "never" values come after every real one.
func nextUses(t Trace) []int64 {
	n := len(t.Accesses)
	next := make([]int64, n)
	last := make([]int64, len(t.Keys))
	for k := range last {
		last[k] = -1
	}
	for i := n - 1; i >= 0; i-- {
		k := t.Accesses[i]
		if last[k] >= 0 {
			next[i] = last[k]
		} else {
			next[i] = int64(n + i)
		}
		last[k] = int64(i)
	}
	return next
}

// maxHeap is a max-heap of next uses (container/heap).
type maxHeap []int64

func (h maxHeap) Len() int           { return len(h) }
func (h maxHeap) Less(i, j int) bool { return h[i] > h[j] }
func (h maxHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *maxHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *maxHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// compact drops the entries that are no longer live, so that the heap
// stays within a few times the cache's capacity.
func (h *maxHeap) compact(live func(int64) bool) {
	kept := (*h)[:0]
	for _, use := range *h {
		if live(use) {
			kept = append(kept, use)
		}
	}
	*h = kept
	heap.Init(h)
}
