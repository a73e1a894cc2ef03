package tiered

import "time"

// lookup is one key on its way through a read that missed L1: what the
// read found out so far, for the judgement of what L2 holds and for the
// load that may follow.
type lookup[K comparable, V any] struct {
	key K
	k   string // the L1 key
	h   uint64 // its hash (generations)
	gen uint64 // its generation, noted before the lookup went on (see generations)
	// ended is the count of the loads of its slot that had ended when the
	// lookup began (see generations.ended): when it moved on, a load
	// looks at L2 again before it calls the loader.
	ended uint64
	// seen is what L2 held when it held nothing to serve: the condition of
	// a load's write (see l2.Conditional).
	seen observed
	// stale is the freshest expired entry found in either tier, which may
	// stand in for a failed load (StaleIfError).
	stale *entry[V]
	// The read's GetOptions: ttl and l1ttl replace Options.TTL and L1TTL
	// for what it stores (0: they do not); noL1: it puts nothing into L1;
	// tags are added to what it loads.
	ttl, l1ttl time.Duration
	noL1       bool
	tags       []string
}

// observed is what a reader found in L2 where it found no value to serve.
type observed struct {
	ok    bool   // L2 answered; false: it was skipped, failed, or is not to be trusted for the key
	frame []byte // what it held (a tombstone, an expired value, another schema's value); nil: nothing
	// foreign: frame was written with another schema. A load does not
	// write over it: that would make two versions of a service replace
	// each other's values in a loop.
	foreign bool
	// leased: the read found nothing and took the key's lease for the
	// cache's read token (see Cache.readToken): the load holds it.
	leased bool
}

// writable reports whether a load that saw o may write its value to L2
// (conditionally on o.frame).
func (o observed) writable() bool { return o.ok && !o.foreign }

// newLookup starts the lookup of key, whose L1 key is k, noting its
// generation. It returns a value, so that a read that L2 answers does not
// allocate one.
func (c *Cache[K, V]) newLookup(key K, k string, stale *entry[V]) lookup[K, V] {
	h := c.gens.hash(k)
	return lookup[K, V]{key: key, k: k, h: h, gen: c.gens.load(h), ended: c.gens.ended(h), stale: stale}
}

// keepStale remembers e, an expired entry, when it is fresher than the one
// the lookup has.
func (lk *lookup[K, V]) keepStale(e *entry[V]) {
	if lk.stale == nil || e.expiry > lk.stale.expiry {
		lk.stale = e
	}
}
