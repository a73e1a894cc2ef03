// Package otelstats traces the calls of tiered caches with OpenTelemetry.
// It is a Go module of its own, so that OpenTelemetry reaches only the
// services that use it.
//
// A [Tracer] is a tiered/stats Tracer: pass it as the Tracer option of a
// cache. Every call of the cache (Get, GetMany, Set, ...) becomes a span
// named "tiercache.<op>" with the cache's name, the tier that answered
// (l1, l2, loader or none), whether the value was stale and how many keys
// the call handled; its loads, its waits for another instance's lease and
// the background refreshes it starts become spans of their own inside it.
// A refresh outlives the read that started it, and stays in its trace.
// Keys are never recorded: they may be personal data, and a trace
// backend indexes attributes.
//
//	tp := sdktrace.NewTracerProvider(...)
//	tr, err := otelstats.New(&otelstats.Options{TracerProvider: tp})
//	if err != nil { ... }
//	users, err := tiered.New(&tiered.Options[int64, User]{Name: "user", Tracer: tr, ...})
package otelstats
