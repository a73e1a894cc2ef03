package otelstats

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tiercache/tiercache/tiered/stats"
)

// ScopeName is the instrumentation scope of the spans: the adapter's
// import path.
const ScopeName = "github.com/tiercache/tiercache/tiered/stats/otelstats"

// The attributes of the spans.
const (
	AttrCache = attribute.Key("tiercache.cache") // the cache's name
	AttrTier  = attribute.Key("tiercache.tier")  // l1, l2, loader or none
	AttrStale = attribute.Key("tiercache.stale") // the value was past its expiry
	AttrKeys  = attribute.Key("tiercache.keys")  // keys the call handled
	// AttrNotFound: the key has no value (not an error of the span).
	AttrNotFound = attribute.Key("tiercache.not_found")
)

// ErrInvalidOptions is wrapped by the errors of New.
var ErrInvalidOptions = errors.New("otelstats: invalid options")

// Options configures a [Tracer].
type Options struct {
	// TracerProvider makes the tracer. Required: the adapter never reads
	// OpenTelemetry's global provider itself (pass otel.GetTracerProvider()
	// to use it).
	TracerProvider trace.TracerProvider
}

// Tracer starts an OpenTelemetry span for each traced call of a cache.
type Tracer struct {
	tracer trace.Tracer
}

var _ stats.Tracer = (*Tracer)(nil)

// New returns a Tracer over opts.TracerProvider.
func New(opts *Options) (*Tracer, error) {
	if opts == nil || opts.TracerProvider == nil {
		return nil, fmt.Errorf("%w: a TracerProvider is required", ErrInvalidOptions)
	}
	return &Tracer{tracer: opts.TracerProvider.Tracer(ScopeName)}, nil
}

// Start begins the span of call, a child of the span in ctx if there is
// one.
func (t *Tracer) Start(ctx context.Context, call stats.Call) (context.Context, stats.Span) {
	ctx, s := t.tracer.Start(ctx, "tiercache."+call.Op,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(AttrCache.String(call.Cache)))
	return ctx, span{s}
}

// span ends an OpenTelemetry span with what the call reported.
type span struct{ s trace.Span }

// End records how the call went and ends the span. A "not found" answer
// is an attribute, not an error: the cache worked.
func (s span) End(e stats.SpanEnd) {
	if !s.s.IsRecording() {
		s.s.End()
		return
	}
	attrs := make([]attribute.KeyValue, 0, 4)
	if e.Tier != stats.TierNone {
		attrs = append(attrs, AttrTier.String(e.Tier.String()))
	}
	if e.Stale {
		attrs = append(attrs, AttrStale.Bool(true))
	}
	if e.Keys > 0 {
		attrs = append(attrs, AttrKeys.Int(e.Keys))
	}
	if e.NotFound {
		attrs = append(attrs, AttrNotFound.Bool(true))
	}
	s.s.SetAttributes(attrs...)
	if e.Err != nil {
		s.s.RecordError(e.Err)
		s.s.SetStatus(codes.Error, e.Err.Error())
	}
	s.s.End()
}
