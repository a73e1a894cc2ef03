package tiered_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// spanLog is a stats.Tracer that records every span it ends, and which
// span each one was started in.
type spanLog struct {
	mu    sync.Mutex
	spans []loggedSpan
}

type loggedSpan struct {
	call   stats.Call
	parent string // the Op of the span in the context, "" for none
	end    stats.SpanEnd
}

type spanKey struct{}

type logSpan struct {
	log  *spanLog
	call stats.Call
	par  string
}

func (l *spanLog) Start(ctx context.Context, call stats.Call) (context.Context, stats.Span) {
	parent, _ := ctx.Value(spanKey{}).(string)
	return context.WithValue(ctx, spanKey{}, call.Op), &logSpan{l, call, parent}
}

func (s *logSpan) End(e stats.SpanEnd) {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	s.log.spans = append(s.log.spans, loggedSpan{s.call, s.par, e})
}

// take returns the spans ended so far and forgets them.
func (l *spanLog) take() []loggedSpan {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.spans
	l.spans = nil
	return out
}

func TestTracer_Spans(t *testing.T) {
	var log spanLog
	f := newFixture(t, func(o *tiered.Options[int64, User]) { o.Tracer = &log })
	ctx := context.Background()
	check := func(what string, want ...loggedSpan) {
		t.Helper()
		got := log.take()
		// Child spans end before their parents; compare as sets of spans.
		for _, w := range want {
			i := slices.IndexFunc(got, func(g loggedSpan) bool {
				return g.call == w.call && g.parent == w.parent && g.end.Tier == w.end.Tier &&
					g.end.Keys == w.end.Keys && g.end.NotFound == w.end.NotFound && (g.end.Err == nil) == (w.end.Err == nil)
			})
			if i < 0 {
				t.Errorf("%s: no span %+v in %+v", what, w, got)
				continue
			}
			got = slices.Delete(got, i, i+1)
		}
		if len(got) > 0 {
			t.Errorf("%s: spans not expected: %+v", what, got)
		}
	}
	call := func(op string) stats.Call { return stats.Call{Cache: "user", Op: op} }

	if _, err := f.cache.Get(ctx, 1); err != nil {
		t.Fatal(err)
	}
	check("a miss",
		loggedSpan{call("get"), "", stats.SpanEnd{Tier: stats.TierLoader, Keys: 1}},
		loggedSpan{call("load"), "get", stats.SpanEnd{Tier: stats.TierLoader, Keys: 1}})
	_ = f.cache.Close() // a new instance on the same L2: its read comes from L2
	g := newFixture(t, func(o *tiered.Options[int64, User]) { o.Tracer = &log })
	g.l2, g.clock = f.l2, f.clock
	c, err := tiered.New(&tiered.Options[int64, User]{Name: "user", L2: f.l2, Loader: g.loader, Tracer: &log, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if _, err := c.Get(ctx, 1); err != nil {
		t.Fatal(err)
	}
	check("an L2 hit", loggedSpan{call("get"), "", stats.SpanEnd{Tier: stats.TierL2, Keys: 1}})
	if err := c.Set(ctx, 2, user(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, 2); err != nil {
		t.Fatal(err)
	}
	check("Set, then an L1 hit",
		loggedSpan{call("set"), "", stats.SpanEnd{Keys: 1}},
		loggedSpan{call("get"), "", stats.SpanEnd{Tier: stats.TierL1, Keys: 1}})
	g.loader.setErr(tiered.ErrNotFound)
	if _, err := c.Get(ctx, 3); !errors.Is(err, tiered.ErrNotFound) {
		t.Fatal(err)
	}
	check("not found",
		loggedSpan{call("get"), "", stats.SpanEnd{Tier: stats.TierLoader, Keys: 1, NotFound: true}},
		loggedSpan{call("load"), "get", stats.SpanEnd{Tier: stats.TierLoader, Keys: 1, NotFound: true}})
	boom := errors.New("boom")
	g.loader.setErr(boom)
	if _, err := c.Get(ctx, 4); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	check("a failure",
		loggedSpan{call("get"), "", stats.SpanEnd{Keys: 1, Err: boom}},
		loggedSpan{call("load"), "get", stats.SpanEnd{Tier: stats.TierLoader, Keys: 1, Err: boom}})
	g.loader.setErr(nil)
	if _, err := c.GetMany(ctx, []int64{1, 2}); err != nil {
		t.Fatal(err)
	}
	check("GetMany from L1", loggedSpan{call("get_many"), "", stats.SpanEnd{Tier: stats.TierL1, Keys: 2}})
	if _, err := c.GetMany(ctx, []int64{5, 6, 7}); err != nil {
		t.Fatal(err)
	}
	spans := log.take()
	if i := slices.IndexFunc(spans, func(s loggedSpan) bool { return s.call.Op == "get_many" }); i < 0 || spans[i].end.Tier != stats.TierLoader || spans[i].end.Keys != 3 {
		t.Errorf("GetMany of misses: %+v", spans)
	}
	for _, s := range spans {
		if s.call.Op == "load" && s.parent != "get_many" {
			t.Errorf("a load of GetMany outside its span: %+v", s)
		}
	}
	if err := c.SetMany(ctx, map[int64]User{8: user(8), 9: user(9)}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, 8, 9); err != nil {
		t.Fatal(err)
	}
	check("SetMany and Delete",
		loggedSpan{call("set_many"), "", stats.SpanEnd{Keys: 2}},
		loggedSpan{call("delete"), "", stats.SpanEnd{Keys: 2}})
	_ = c.Close()
	if _, err := c.Get(ctx, 1); !errors.Is(err, tiered.ErrClosed) {
		t.Fatal(err)
	}
	check("a closed cache", loggedSpan{call("get"), "", stats.SpanEnd{Err: tiered.ErrClosed, Keys: 1}})
}
