package tiered_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// XFetch in simulated time (testing/synctest: time.Now and time.Sleep are
// fake, and a sleep returns as soon as every goroutine is blocked): one key
// read 1,000 times per second, a loader that takes 1 s, a 60 s TTL. Every
// value must be replaced before it expires, by one load (two at most), and
// no read after the first may wait for a load.
func TestXFetch_RefreshesBeforeExpiry(t *testing.T) {
	t.Parallel()
	const expiries = 100
	synctest.Test(t, func(t *testing.T) {
		r := replayHotKey(t, 0, expiries)
		inTime, early := 0, time.Duration(0)
		for i := range expiries {
			expiry := r.loads[i].end.Add(xfetchTTL)
			if !r.loads[i+1].end.After(expiry) {
				inTime++
			}
			early += expiry.Sub(r.loads[i+1].end)
		}
		t.Logf("%d reads over %v; %d loads (%d early refreshes); %d of %d values replaced before they expired, on average %v before; reads that waited after the first: %d (longest %v)",
			r.reads, r.span, len(r.loads), r.stats.Get(stats.EarlyRefresh), inTime, expiries,
			early/expiries, r.waited, r.longest)
		if inTime < 99 {
			t.Errorf("%d of %d values replaced before they expired, want at least 99", inTime, expiries)
		}
		if r.waited > 0 {
			t.Errorf("%d reads after the first waited for a load (longest %v)", r.waited, r.longest)
		}
		if got := r.stats.Get(stats.EarlyRefresh); got != int64(len(r.loads)-1) {
			t.Errorf("%d early refreshes counted for %d loads after the first", got, len(r.loads)-1)
		}
		// Loads never overlap, and more than two loads in one value's
		// lifetime would show as two loads ending less than half a TTL
		// apart.
		for i := 1; i < len(r.loads); i++ {
			if r.loads[i].start.Before(r.loads[i-1].end) {
				t.Errorf("load %d started before load %d ended: two loads at once", i, i-1)
			}
			if gap := r.loads[i].end.Sub(r.loads[i-1].end); gap < xfetchTTL/2 {
				t.Errorf("loads %d and %d ended %v apart: more than two loads in one expiry window", i-1, i, gap)
			}
		}
	})
}

// The control: without early refresh, every expiry makes one reader wait
// for the load.
func TestXFetch_OffEveryExpiryWaits(t *testing.T) {
	t.Parallel()
	const expiries = 3
	synctest.Test(t, func(t *testing.T) {
		r := replayHotKey(t, -1, expiries)
		t.Logf("Beta -1: %d reads, %d loads, %d reads waited (longest %v)", r.reads, len(r.loads), r.waited, r.longest)
		if r.waited != expiries || r.longest != xfetchLoadTime {
			t.Errorf("%d reads waited (longest %v), want %d waiting %v each", r.waited, r.longest, expiries, xfetchLoadTime)
		}
		if n := r.stats.Get(stats.EarlyRefresh); n != 0 {
			t.Errorf("%d early refreshes with Beta -1", n)
		}
	})
}

const (
	xfetchTTL      = time.Minute
	xfetchLoadTime = time.Second
)

type hotKeyReplay struct {
	loads   []timedLoad
	reads   int
	span    time.Duration
	waited  int           // reads after the first that took time
	longest time.Duration // the longest of them
	stats   stats.Snapshot
}

type timedLoad struct{ start, end time.Time }

// replayHotKey reads one key every millisecond of simulated time until
// expiries+1 values have been loaded (run it inside a synctest bubble).
// The loader takes xfetchLoadTime, values live xfetchTTL, and the random
// numbers of XFetch come from a fixed seed.
func replayHotKey(t *testing.T, beta float64, expiries int) hotKeyReplay {
	ctx := context.Background()
	var (
		mu    sync.Mutex
		loads []timedLoad
	)
	ld := loader.Func[int64, User](func(ctx context.Context, id int64) (User, error) {
		start := time.Now()
		time.Sleep(xfetchLoadTime)
		mu.Lock()
		loads = append(loads, timedLoad{start, time.Now()})
		mu.Unlock()
		return user(id), nil
	})
	rng := rand.New(rand.NewPCG(1, 2))
	var rngMu sync.Mutex
	store := memstore.New(&memstore.Options{Now: time.Now})
	defer func() { _ = store.Close() }()
	var counter stats.Counter
	c, err := tiered.New(&tiered.Options[int64, User]{
		Name: "user", L1: &expiringL1{}, L2: store, Loader: ld, Stats: &counter,
		TTL: xfetchTTL, L1TTL: 2 * xfetchTTL, Now: time.Now, Beta: beta,
		Rand: func() float64 { rngMu.Lock(); defer rngMu.Unlock(); return rng.Float64() },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()

	var r hotKeyReplay
	begin := time.Now()
	limit := begin.Add(time.Duration(expiries+2) * xfetchTTL) // bounds the loop
	for time.Now().Before(limit) {
		start := time.Now()
		if _, err := c.Get(ctx, 1); err != nil {
			t.Fatalf("read %d: %v", r.reads, err)
		}
		if d := time.Since(start); r.reads > 0 && d > 0 {
			r.waited++
			r.longest = max(r.longest, d)
		}
		r.reads++
		mu.Lock()
		n := len(loads)
		mu.Unlock()
		if n > expiries {
			break
		}
		time.Sleep(time.Millisecond)
	}
	r.span = time.Since(begin)
	synctest.Wait() // a refresh under way finishes
	mu.Lock()
	r.loads = loads
	mu.Unlock()
	if len(r.loads) <= expiries {
		t.Fatalf("%d loads in %d reads, want more than %d", len(r.loads), r.reads, expiries)
	}
	r.stats = counter.Snapshot()
	return r
}

// expiringL1 is an L1 that drops entries when their TTL ends, by time.Now
// (fake in a synctest bubble), like ristretto.
type expiringL1 struct {
	mu sync.Mutex
	m  map[string]expiringEntry
}

type expiringEntry struct {
	v        any
	deadline time.Time
}

func (l *expiringL1) Get(k string) (any, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[k]
	if !ok || !time.Now().Before(e.deadline) {
		return nil, false
	}
	return e.v, true
}

func (l *expiringL1) Set(k string, v any, _ int64, ttl time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]expiringEntry{}
	}
	l.m[k] = expiringEntry{v, time.Now().Add(ttl)}
	return true
}

func (l *expiringL1) Wait() {}
func (l *expiringL1) Delete(k string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, k)
}
func (l *expiringL1) Clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.m)
}
func (l *expiringL1) Close() {}
