package tiered_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/l2"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// Tests of the reshaped core (issue 11, items 10, 13, 14).

// timingStore is a metrics wrapper written the tempting way: it embeds the
// store, so it inherits its Abilities but none of its optional methods.
type timingStore struct {
	l2.Store
	gets int
}

func (s *timingStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.gets++
	return s.Store.Get(ctx, key)
}

// Item 10: a wrapper that hides the store's abilities (tombstones, leases,
// tags) is refused by New, loudly, instead of losing them without a word;
// one that declares less than its inner store is taken at its word.
func TestNew_RefusesStoreThatHidesAbilities(t *testing.T) {
	t.Parallel()
	mem := memstore.New(nil)
	defer func() { _ = mem.Close() }()
	_, err := tiered.New(&tiered.Options[int64, User]{Name: "user", L2: &timingStore{Store: mem}})
	if !errors.Is(err, tiered.ErrIncompatibleStore) || !strings.Contains(err.Error(), "Conditional") {
		t.Fatalf("New with a wrapper that hides Conditional and Leaser: %v, want ErrIncompatibleStore naming them", err)
	}
	c, err := tiered.New(&tiered.Options[int64, User]{Name: "user", L2: plainStore{mem}, Loader: &countingLoader{}})
	if err != nil {
		t.Fatalf("New with a store that declares no optional ability: %v", err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Delete(context.Background(), 1); err != nil { // a plain delete, no tombstone
		t.Fatal(err)
	}
}

// perCache is a Recorder shared by several caches that keeps one Counter
// per cache name.
type perCache struct {
	mu sync.Mutex
	m  map[string]*stats.Counter
}

func (p *perCache) ForCache(name string) stats.Recorder {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = make(map[string]*stats.Counter)
	}
	c := &stats.Counter{}
	p.m[name] = c
	return c
}

func (p *perCache) Add(stats.Event, int) { panic("the cache recorded without asking ForCache") }
func (p *perCache) Observe(stats.Event, time.Duration) {
	panic("the cache recorded without asking ForCache")
}
func (p *perCache) ObserveL2(stats.Op, stats.Outcome, time.Duration) {
	panic("the cache recorded without asking ForCache")
}

// Item 13: everything a metrics adapter needs arrives as events: each L2
// call with its operation, outcome and duration, the bus's sends, the keys
// of batch loads; and a Recorder shared by several caches learns each
// cache's name.
func TestStats_Events(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := memstore.New(nil)
	defer func() { _ = mem.Close() }()
	hub := invalidate.NewHub()
	bus := hub.NewBus("a")
	defer func() { _ = bus.Close() }()
	rec := &perCache{}
	batch := loader.BatchFunc[int64, User](func(_ context.Context, ids []int64) (map[int64]User, error) {
		out := make(map[int64]User)
		for _, id := range ids {
			out[id] = user(id)
		}
		return out, nil
	})
	for _, name := range []string{"user", "team"} {
		c, err := tiered.New(&tiered.Options[int64, User]{Name: name, L2: mem, Bus: bus, Stats: rec, Loader: &countingLoader{}, BatchLoader: batch})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		if name != "user" {
			continue
		}
		if _, err := c.Get(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetMany(ctx, []int64{2, 3, 4}); err != nil {
			t.Fatal(err)
		}
		if err := c.Delete(ctx, 1); err != nil {
			t.Fatal(err)
		}
		mem.FailWith(errors.New("down"))
		_ = c.Delete(ctx, 2)
		mem.FailWith(nil)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.m) != 2 || rec.m["user"] == nil || rec.m["team"] == nil {
		t.Fatalf("ForCache was asked for %v, want user and team", rec.m)
	}
	s := rec.m["user"].Snapshot()
	for _, c := range []struct {
		op      stats.Op
		outcome stats.Outcome
		min     int64
	}{
		{stats.OpGet, stats.OK, 1}, // the miss, which took the lease (l2.LeaseReader)
		{stats.OpGetMany, stats.OK, 1},
		{stats.OpLease, stats.OK, 1}, // GetMany's misses
		{stats.OpSetLeased, stats.OK, 2},
		{stats.OpRevoke, stats.OK, 1},
		{stats.OpRevoke, stats.Failed, 1},
	} {
		if got := s.L2Calls(c.op, c.outcome); got < c.min {
			t.Errorf("L2 calls %v/%v = %d, want at least %d", c.op, c.outcome, got, c.min)
		}
	}
	if s.L2Duration(stats.OpGet) <= 0 {
		t.Error("no duration observed for the L2 gets")
	}
	if got := s.Get(stats.BatchLoadKeys); got != 3 {
		t.Errorf("BatchLoadKeys = %d, want 3", got)
	}
	if got := s.Get(stats.BusSent); got < 2 {
		t.Errorf("BusSent = %d, want the messages of both deletes", got)
	}
	if got := s.Get(stats.Unsettled); got != 1 {
		t.Errorf("Unsettled = %d, want 1", got)
	}
	if got := rec.m["team"].Snapshot().Get(stats.L1Miss); got != 0 {
		t.Errorf("the team cache counted %d misses of the user cache", got)
	}
}

// Item 14: a cache says whether it is ready and whether every part works.
func TestHealth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *tiered.Options[int64, User]) { o.L2Cooldown = time.Hour })
	h := f.cache.Health()
	if !h.Ready() || h.Err() != nil || !h.L2 || !h.L2Available || h.Bus {
		t.Fatalf("a new cache: %+v, %v", h, h.Err())
	}
	f.l2.FailWith(errors.New("down"))
	if _, err := f.cache.Get(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	h = f.cache.Health()
	if !h.Ready() || h.L2Available || h.Err() == nil || !strings.Contains(h.Err().Error(), "L2") {
		t.Fatalf("with L2 down: %+v, %v; want ready, L2 unavailable", h, h.Err())
	}
	_ = f.cache.Close()
	if h := f.cache.Health(); h.Ready() || !errors.Is(h.Err(), tiered.ErrClosed) {
		t.Fatalf("closed: %+v, %v", h, h.Err())
	}
}
