package otelstats_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
	"github.com/tiercache/tiercache/tiered/stats/otelstats"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// provider returns a tracer provider that keeps every span in memory and,
// with toStdout, also writes it to stdout with OpenTelemetry's stdout
// exporter.
func provider(t *testing.T, toStdout bool) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	t.Helper()
	mem := tracetest.NewInMemoryExporter()
	opts := []sdktrace.TracerProviderOption{sdktrace.WithSyncer(mem)}
	if toStdout {
		out, err := stdouttrace.New(stdouttrace.WithWriter(os.Stdout), stdouttrace.WithPrettyPrint())
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, sdktrace.WithSyncer(out))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, mem
}

func newTracer(t *testing.T, tp *sdktrace.TracerProvider) *otelstats.Tracer {
	t.Helper()
	tr, err := otelstats.New(&otelstats.Options{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func attr(s tracetest.SpanStub, key attribute.Key) attribute.Value {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// find returns the spans named name.
func find(spans tracetest.SpanStubs, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// TestTrace_MissLeaseWaitHit follows one request of instance b through a
// miss whose key instance a is loading (b waits for a's lease, then reads
// a's value from L2) and a hit of the same key in L1, and prints the trace
// with the stdout exporter.
func TestTrace_MissLeaseWaitHit(t *testing.T) {
	tp, mem := provider(t, true)
	ctx := context.Background()
	l2 := memstore.New(nil)
	defer func() { _ = l2.Close() }()
	hub := invalidate.NewHub()
	entered, release := make(chan struct{}), make(chan struct{})
	newCache := func(id string, tr stats.Tracer, st stats.Recorder) *tiered.Cache[int64, string] {
		c, err := tiered.New(&tiered.Options[int64, string]{
			Name: "user", L2: l2, Bus: hub.NewBus(id), Tracer: tr, Stats: st,
			Loader: loader.Func[int64, string](func(context.Context, int64) (string, error) {
				close(entered)
				<-release
				return "ada", nil
			}),
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := newCache("a", nil, nil)
	defer func() { _ = a.Close() }()
	var bstats stats.Counter
	b := newCache("b", newTracer(t, tp), &bstats)
	defer func() { _ = b.Close() }()
	waitFor(t, "subscriptions", func() bool { return a.Health().Subscribed && b.Health().Subscribed })

	loaded := make(chan error, 1)
	go func() {
		_, err := a.Get(ctx, 1) // takes the lease, loads until release
		loaded <- err
	}()
	<-entered

	tracer := tp.Tracer("test")
	rctx, request := tracer.Start(ctx, "GET /users/1")
	got := make(chan error, 1)
	go func() {
		v, err := b.Get(rctx, 1) // a miss; a holds the lease: b waits
		if err == nil && v != "ada" {
			err = fmt.Errorf("got %q", v)
		}
		got <- err
	}()
	waitFor(t, "b waiting for a's lease", func() bool { return bstats.Snapshot().Get(stats.LeaseWaited) == 1 })
	close(release)
	if err := <-loaded; err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if n := bstats.Snapshot().Get(stats.L2LateHit); n != 1 {
		t.Errorf("L2LateHit = %d after a read answered by another instance's load, want 1", n)
	}
	if v, err := b.Get(rctx, 1); err != nil || v != "ada" { // an L1 hit
		t.Fatalf("second Get: %q, %v", v, err)
	}
	request.End()

	spans := mem.GetSpans()
	gets, waits := find(spans, "tiercache.get"), find(spans, "tiercache.lease_wait")
	if len(gets) != 2 || len(waits) != 1 || len(find(spans, "tiercache.load")) != 0 {
		t.Fatalf("spans: %v", names(spans))
	}
	root := find(spans, "GET /users/1")[0]
	miss, hit := gets[0], gets[1]
	if miss.StartTime.After(hit.StartTime) {
		miss, hit = hit, miss
	}
	for _, s := range []tracetest.SpanStub{miss, hit} {
		if s.Parent.SpanID() != root.SpanContext.SpanID() || s.SpanContext.TraceID() != root.SpanContext.TraceID() {
			t.Errorf("%s is not a child of the request", s.Name)
		}
		if attr(s, otelstats.AttrCache).AsString() != "user" {
			t.Errorf("%s: cache %v", s.Name, attr(s, otelstats.AttrCache))
		}
	}
	if tier := attr(miss, otelstats.AttrTier).AsString(); tier != "l2" {
		t.Errorf("the first Get was answered by %q, want l2 (a's value, after the wait)", tier)
	}
	if tier := attr(hit, otelstats.AttrTier).AsString(); tier != "l1" {
		t.Errorf("the second Get was answered by %q, want l1", tier)
	}
	if waits[0].Parent.SpanID() != miss.SpanContext.SpanID() {
		t.Error("the lease wait is not a child of the first Get")
	}
	if waits[0].EndTime.After(miss.EndTime) || waits[0].StartTime.Before(miss.StartTime) {
		t.Error("the lease wait lies outside its Get")
	}
}

// TestTrace_Refresh: a background refresh started by a read stays in the
// read's trace, as a child of its span, with the load inside it.
func TestTrace_Refresh(t *testing.T) {
	tp, mem := provider(t, false)
	ctx := context.Background()
	l2 := memstore.New(nil) // the read finds the value in L2 if L1 has not taken it yet
	defer func() { _ = l2.Close() }()
	var now, loads atomic.Int64 // the clock (unix nanoseconds) and the loader calls
	now.Store(time.Unix(1_700_000_000, 0).UnixNano())
	c, err := tiered.New(&tiered.Options[int64, string]{
		Name: "user", TTL: time.Minute, Beta: 1e6, Tracer: newTracer(t, tp), L2: l2,
		Now: func() time.Time { return time.Unix(0, now.Load()) },
		Loader: loader.Func[int64, string](func(context.Context, int64) (string, error) {
			n := loads.Add(1)
			now.Add(int64(time.Second)) // the load takes a second: XFetch's delta
			return fmt.Sprint("v", n), nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.Get(ctx, 1); err != nil {
		t.Fatal(err)
	}
	now.Add(int64(50 * time.Second)) // near the expiry: with Beta 1e6 the next read refreshes
	rctx, request := tp.Tracer("test").Start(ctx, "request")
	if _, err := c.Get(rctx, 1); err != nil {
		t.Fatal(err)
	}
	request.End()
	waitFor(t, "the refresh's span", func() bool { return len(find(mem.GetSpans(), "tiercache.refresh")) == 1 })
	spans := mem.GetSpans()
	refresh := find(spans, "tiercache.refresh")[0]
	var get tracetest.SpanStub
	for _, g := range find(spans, "tiercache.get") {
		if g.Parent.SpanID() == find(spans, "request")[0].SpanContext.SpanID() {
			get = g
		}
	}
	if refresh.Parent.SpanID() != get.SpanContext.SpanID() || refresh.SpanContext.TraceID() != get.SpanContext.TraceID() {
		t.Fatalf("the refresh is not in its read's trace: %v", names(spans))
	}
	if attr(refresh, otelstats.AttrTier).AsString() != "loader" {
		t.Errorf("refresh tier %v", attr(refresh, otelstats.AttrTier))
	}
	var inside bool
	for _, l := range find(spans, "tiercache.load") {
		inside = inside || l.Parent.SpanID() == refresh.SpanContext.SpanID()
	}
	if !inside {
		t.Error("no load span inside the refresh")
	}
}

// TestTrace_Errors: a loader failure is the span's error; "not found" is
// an attribute, not an error.
func TestTrace_Errors(t *testing.T) {
	tp, mem := provider(t, false)
	boom := errors.New("boom")
	c, err := tiered.New(&tiered.Options[int64, string]{
		Name: "user", Tracer: newTracer(t, tp),
		Loader: loader.Func[int64, string](func(_ context.Context, id int64) (string, error) {
			if id == 0 {
				return "", tiered.ErrNotFound
			}
			return "", boom
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ctx := context.Background()
	if _, err := c.Get(ctx, 0); !errors.Is(err, tiered.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, 1); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	gets := find(mem.GetSpans(), "tiercache.get")
	if len(gets) != 2 {
		t.Fatalf("spans: %v", names(mem.GetSpans()))
	}
	if gets[0].Status.Code == codes.Error || !attr(gets[0], otelstats.AttrNotFound).AsBool() {
		t.Errorf("not found: status %v, attributes %v", gets[0].Status, gets[0].Attributes)
	}
	if gets[1].Status.Code != codes.Error || len(gets[1].Events) == 0 {
		t.Errorf("failure: status %v, events %v", gets[1].Status, gets[1].Events)
	}
	if _, err := otelstats.New(nil); !errors.Is(err, otelstats.ErrInvalidOptions) {
		t.Errorf("New(nil): %v", err)
	}
}

func names(spans tracetest.SpanStubs) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}

// waitFor polls cond until it holds, for at most 5 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
