package l2

// Capacity is implemented by a [Store] that knows how many of its calls
// can be in flight at once before they wait inside the store (for a
// connection, say). A cache bounds its own calls to the store by it, so
// that calls beyond it wait where the cache can order them and end the
// wait (the tiered cache's Options.MaxL2Calls defaults to it).
type Capacity interface {
	// Capacity returns the number of calls, or 0 when the store does not
	// know it.
	Capacity() int
}
