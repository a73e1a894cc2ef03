package main

import (
	"context"
	"sync/atomic"

	"github.com/tiercache/tiercache/tiered/stats"
)

// tierTracer is a stats.Tracer that tells a handler which tier answered
// its Get: the handler puts a *tierHolder in the request's context
// (withTier), and the span of the Get it calls writes the tier there when
// it ends. Spans inside the Get (its load, its wait for another replica's
// lease, the background refresh it starts, which may outlive the request)
// and the calls of writes do not touch the holder. Every span goes on to
// next as well, when there is one (the OpenTelemetry tracer of -trace).
type tierTracer struct {
	next stats.Tracer // nil: none
}

var _ stats.Tracer = tierTracer{}

// opGet is stats.Call.Op of Cache.Get.
const opGet = "get"

// Start begins the span of call.
func (t tierTracer) Start(ctx context.Context, call stats.Call) (context.Context, stats.Span) {
	var next stats.Span
	if t.next != nil {
		ctx, next = t.next.Start(ctx, call)
	}
	h, _ := ctx.Value(tierKey{}).(*tierHolder)
	switch {
	case call.Op != opGet || h == nil:
		if next == nil {
			return ctx, noSpan{}
		}
		return ctx, next
	case next == nil:
		return ctx, h // no allocation on the request's path
	}
	return ctx, chainedSpan{h, next}
}

// tierKey is the context key of a request's *tierHolder.
type tierKey struct{}

// tierHolder receives the tier of one Get. It is written by the Get's
// span, on the Get's goroutine before Get returns; atomic all the same, so
// that a misbehaving tracer could never race with the handler.
type tierHolder struct{ tier atomic.Uint32 }

// withTier returns ctx carrying a new holder, and the holder.
func withTier(ctx context.Context) (context.Context, *tierHolder) {
	h := new(tierHolder)
	return context.WithValue(ctx, tierKey{}, h), h
}

// Tier returns what answered the Get: TierNone until its span ended.
func (h *tierHolder) Tier() stats.Tier { return stats.Tier(h.tier.Load()) }

// End records the tier of the Get (a *tierHolder is the Get's span when
// there is no other tracer).
func (h *tierHolder) End(e stats.SpanEnd) { h.tier.Store(uint32(e.Tier)) }

// chainedSpan ends the holder's span and the next tracer's.
type chainedSpan struct {
	h    *tierHolder
	next stats.Span
}

func (s chainedSpan) End(e stats.SpanEnd) {
	s.h.End(e)
	s.next.End(e)
}

// noSpan is the span of a call nobody traces.
type noSpan struct{}

func (noSpan) End(stats.SpanEnd) {}
