package tiered

import (
	"context"
	"errors"

	"github.com/tiercache/tiercache/tiered/stats"
)

// Tracing: with Options.Tracer set, every call of the cache is a span (see
// stats.Tracer), and loads, lease waits and refreshes are spans inside it.
// Without one, the only cost is the nil check at the top of each call.

// span starts the span of op, a call of this cache.
func (c *Cache[K, V]) span(ctx context.Context, op string) (context.Context, stats.Span) {
	return c.cfg.Tracer.Start(ctx, stats.Call{Cache: c.cfg.Name, Op: op})
}

// getTraced is Get inside a span.
func (c *Cache[K, V]) getTraced(ctx context.Context, key K) (V, error) {
	ctx, sp := c.span(ctx, "get")
	e, tier, err := c.get(ctx, key, nil)
	end := stats.SpanEnd{Tier: tier, Keys: 1}
	var v V
	if err == nil {
		v, err = e.result()
		end.Stale = e.expiry < c.cfg.Now().UnixMilli()
	}
	endSpan(sp, end, err)
	return v, err
}

// endSpan ends sp with end and the call's error: a "not found" or a miss
// without a loader is an answer, not an error of the call.
func endSpan(sp stats.Span, end stats.SpanEnd, err error) {
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrMiss) {
		end.NotFound = true
		err = nil
	}
	end.Err = err
	sp.End(end)
}

// tier is the tier that answered a read that got e from a load (its own,
// or one it joined): the loader, or L2 when the load found a value there
// (its second look, or another instance's value after a lease).
func (e *entry[V]) tier() stats.Tier {
	if e.loaded {
		return stats.TierLoader
	}
	return stats.TierL2
}

// spanName is the span name of an operation as errors name it.
func spanName(op string) string {
	switch op {
	case "set many":
		return "set_many"
	case "write-through":
		return "write_through"
	case "delete-through":
		return "delete_through"
	case "write-behind":
		return "write_behind"
	case "delete-behind":
		return "delete_behind"
	}
	return op
}

// endLoadSpan ends the span of a loader call with its outcomes: an error
// when the call (or, in a batch, some key) failed; not found when the one
// key of a single load does not exist.
func endLoadSpan[V any](sp stats.Span, out []loaderOut[V]) {
	end := stats.SpanEnd{Tier: stats.TierLoader, Keys: len(out)}
	var err error
	for _, o := range out {
		if o.err != nil && !errors.Is(o.err, ErrNotFound) {
			err = o.err
			break
		}
	}
	if err == nil && len(out) == 1 && out[0].err != nil {
		end.NotFound = true
	}
	end.Err = err
	sp.End(end)
}
