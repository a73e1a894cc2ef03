package hitratio

import "container/list"

// LRU returns the hits of a least-recently-used cache of capacity entries
// on t, read-through: every miss inserts its key, evicting the least
// recently used one when the cache is full.
func LRU(t Trace, capacity int) int {
	if capacity <= 0 {
		return 0
	}
	order := list.New() // most recently used first; values are keys (int32)
	where := make(map[int32]*list.Element, capacity)
	hits := 0
	for _, k := range t.Accesses {
		if e, ok := where[k]; ok {
			hits++
			order.MoveToFront(e)
			continue
		}
		if order.Len() == capacity {
			oldest := order.Back()
			delete(where, order.Remove(oldest).(int32))
		}
		where[k] = order.PushFront(k)
	}
	return hits
}
