package l1

// Usage is what a [Store] holds and what it dropped, for metrics.
type Usage struct {
	// Entries is how many entries the store holds, -1 when it does not
	// count them.
	Entries int64
	// Cost is the total cost of the entries; MaxCost the store's capacity.
	Cost, MaxCost int64
	// Evictions counts the entries dropped to make room or because they
	// expired (Delete and Clear excluded); Rejections the Sets the
	// admission policy refused. Both count from the store's creation.
	Evictions, Rejections int64
}

// Meter is implemented by a [Store] that reports its [Usage]. Usage may
// take the store's locks: call it per scrape, not per request.
type Meter interface {
	Usage() Usage
}
