package stats

import "context"

// Tracer starts a span for each call of a cache (Get, GetMany, Set, ...),
// and, inside them, for its loads, its waits for another instance's lease
// and its background refreshes. A cache without one (the default) starts
// no span and pays nothing. The OpenTelemetry adapter is a module of its
// own (tiered/stats/otelstats).
//
// Start is called on the cache's hot path, from many goroutines: it must
// be safe for concurrent use. The context it returns carries the span to
// the calls made within it (the loader's, and the background refresh's,
// which outlives the caller's cancellation but keeps its values).
type Tracer interface {
	Start(ctx context.Context, call Call) (context.Context, Span)
}

// Call names a traced call: the cache's name and the operation ("get",
// "get_many", "set", "set_many", "delete", "load", "lease_wait",
// "refresh", "write_through", "write_behind").
type Call struct {
	Cache, Op string
}

// Span is a call begun by [Tracer.Start]. The cache calls End once.
type Span interface {
	End(SpanEnd)
}

// SpanEnd is how a traced call ended.
type SpanEnd struct {
	// Tier is what answered a read (TierNone for writes, and for a read
	// that failed or missed without a loader).
	Tier Tier
	// Stale: the value served was past its expiry (stale-while-revalidate
	// or stale-if-error).
	Stale bool
	// Keys is how many keys the call handled (GetMany, SetMany, loads).
	Keys int
	// NotFound: the read's answer is that the key has no value (the
	// loader's ErrNotFound, or ErrMiss without a loader). It is not an
	// error of the call: Err is nil then.
	NotFound bool
	// Err is the call's error, nil on success.
	Err error
}

// Tier is the part of a cache that answered a read.
type Tier uint8

// The tiers.
const (
	// TierNone: nothing answered (an error, or a miss without a loader).
	TierNone Tier = iota
	// TierL1: the in-process tier.
	TierL1
	// TierL2: the shared tier, read by this call (or by a wait for another
	// instance's load, whose value it read there).
	TierL2
	// TierLoader: a load, this call's own or one it joined.
	TierLoader
)

var tierNames = [...]string{TierNone: "none", TierL1: "l1", TierL2: "l2", TierLoader: "loader"}

// String returns the tier's name: "none", "l1", "l2" or "loader".
func (t Tier) String() string {
	if int(t) < len(tierNames) {
		return tierNames[t]
	}
	return "unknown"
}
