package promstats_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/tiercache/tiercache/invalidate"
	"github.com/tiercache/tiercache/l1"
	"github.com/tiercache/tiercache/l2/memstore"
	"github.com/tiercache/tiercache/loader"
	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
	"github.com/tiercache/tiercache/tiered/stats/promstats"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newRecorder(t testing.TB) (*promstats.Recorder, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	rec, err := promstats.New(&promstats.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return rec, reg
}

// series returns the value of every sample of the registry, by
// "name{label=value,...}" (labels sorted, the cache label included);
// histograms give their _count.
func series(t testing.TB, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			name := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[name] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[name] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// TestRecorder_Caches runs two instances of a cache over one L2 and bus,
// and a second cache, through a Recorder: the counters match what the
// caches did, every series carries its cache's name, and the metrics pass
// client_golang's lint.
func TestRecorder_Caches(t *testing.T) {
	rec, reg := newRecorder(t)
	ctx := context.Background()
	mem := memstore.New(nil)
	defer func() { _ = mem.Close() }()
	hub := invalidate.NewHub()
	boom := errors.New("boom")
	newUsers := func(id string) *tiered.Cache[int64, string] {
		l1s, err := l1.NewRistretto(l1.Options{Metrics: true})
		if err != nil {
			t.Fatal(err)
		}
		c, err := tiered.New(&tiered.Options[int64, string]{
			Name: "user", L2: mem, Bus: hub.NewBus(id), L1: l1s, Stats: rec,
			Loader: loader.Func[int64, string](func(_ context.Context, id int64) (string, error) {
				switch {
				case id < 0:
					return "", boom
				case id == 0:
					return "", tiered.ErrNotFound
				}
				return fmt.Sprint("user-", id), nil
			}),
			BatchLoader: loader.BatchFunc[int64, string](func(_ context.Context, ids []int64) (map[int64]string, error) {
				out := make(map[int64]string, len(ids))
				for _, id := range ids {
					out[id] = fmt.Sprint("user-", id)
				}
				return out, nil
			}),
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := newUsers("a"), newUsers("b")
	defer func() { _ = a.Close() }()
	defer func() { _ = b.Close() }()
	waitFor(t, "both subscribed", func() bool { return a.Health().Subscribed && b.Health().Subscribed })
	// A ristretto L1 without its counters: it does not count entries.
	ordersL1, err := l1.NewRistretto(l1.Options{})
	if err != nil {
		t.Fatal(err)
	}
	orders, err := tiered.New(&tiered.Options[string, int]{Name: "order", L2: mem, Stats: rec, L1: ordersL1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = orders.Close() }()

	if _, err := a.Get(ctx, 1); err != nil { // a miss, loaded
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, 1); err != nil { // an L2 hit
		t.Fatal(err)
	}
	if err := a.Set(ctx, 2, "bob"); err != nil { // published; b drops key 2
		t.Fatal(err)
	}
	for range 2 {
		if _, err := a.Get(ctx, 2); err != nil { // L1 hits (Set waits for L1)
			t.Fatal(err)
		}
	}
	if _, err := a.Get(ctx, 0); !errors.Is(err, tiered.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, -1); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := a.GetMany(ctx, []int64{10, 11, 12}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to hear a's Set", func() bool {
		return series(t, reg)[`tiercache_invalidated_keys_total{cache=user}`] >= 1
	})
	if _, err := orders.Get(ctx, "x"); !errors.Is(err, tiered.ErrMiss) {
		t.Fatal(err)
	}

	got := series(t, reg)
	want := map[string]float64{
		`tiercache_requests_total{cache=user,result=hit,tier=l1}`:       2,
		`tiercache_requests_total{cache=user,result=miss,tier=l1}`:      7, // 1, 1 (b), 0, -1, 10, 11, 12
		`tiercache_requests_total{cache=user,result=hit,tier=l2}`:       1,
		`tiercache_requests_total{cache=user,result=miss,tier=l2}`:      6,
		`tiercache_requests_total{cache=order,result=miss,tier=l1}`:     1,
		`tiercache_requests_total{cache=order,result=miss,tier=l2}`:     1,
		`tiercache_load_duration_seconds{cache=user,result=success}`:    2, // key 1, and the batch
		`tiercache_load_duration_seconds{cache=user,result=not_found}`:  1,
		`tiercache_load_duration_seconds{cache=user,result=failure}`:    1,
		`tiercache_load_keys_total{cache=user}`:                         3,
		`tiercache_leases_total{cache=user,result=granted}`:             6, // 1, 0, -1, 10, 11, 12
		`tiercache_invalidations_received_total{cache=user}`:            1,
		`tiercache_invalidated_keys_total{cache=user}`:                  1,
		`tiercache_l1_flushes_total{cache=user,reason=subscribed}`:      2,
		`tiercache_l1_off{cache=user}`:                                  0,
		`tiercache_l2_down{cache=user}`:                                 0,
		`tiercache_l2_call_duration_seconds{cache=order,op=get}`:        1,
		`tiercache_l2_calls_total{cache=order,op=get,outcome=ok}`:       1,
		`tiercache_write_behind_queued_total{cache=user}`:               0,
		`tiercache_invalidations_published_total{cache=user,result=ok}`: 1,
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
	// Two instances of "user", each with a ristretto that counts its
	// entries: a holds at least key 2 (written by Set, which waits for L1).
	if got[`tiercache_l1_entries{cache=user}`] < 1 || got[`tiercache_l1_cost_bytes{cache=user}`] <= 0 ||
		got[`tiercache_l1_max_cost_bytes{cache=user}`] != 2*l1.DefaultMaxCost {
		t.Errorf("L1 levels: entries %v, cost %v, max %v", got[`tiercache_l1_entries{cache=user}`],
			got[`tiercache_l1_cost_bytes{cache=user}`], got[`tiercache_l1_max_cost_bytes{cache=user}`])
	}
	if _, ok := got[`tiercache_l1_entries{cache=order}`]; ok {
		t.Error("order's ristretto does not count entries, yet tiercache_l1_entries has it")
	}
	for name := range got {
		if !strings.Contains(name, "cache=user") && !strings.Contains(name, "cache=order") {
			t.Errorf("%s: a series of no cache", name)
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}

	// Closed caches stop being polled; their counters stay.
	_ = a.Close()
	_ = b.Close()
	got = series(t, reg)
	if _, ok := got[`tiercache_l1_entries{cache=user}`]; ok {
		t.Error("levels of closed caches are still collected")
	}
	if got[`tiercache_requests_total{cache=user,result=hit,tier=l1}`] != 2 {
		t.Error("counters of closed caches are lost")
	}
	if _, ok := got[`tiercache_write_behind_queued_total{cache=user}`]; ok {
		t.Error("a zero counter of closed caches is still sent")
	}
}

// TestRecorder_Events feeds every event, operation and gauge through the
// recorder of one cache and checks where each one lands.
func TestRecorder_Events(t *testing.T) {
	rec, reg := newRecorder(t)
	r := stats.ForCache(rec, "c")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				r.Add(stats.L1Hit, 1)
				r.Add(stats.WriteQueued, 2)
				r.Observe(stats.LoadSuccess, time.Millisecond)
				r.Observe(stats.EarlyRefresh, time.Millisecond) // no histogram: counted
				r.ObserveL2(stats.OpGet, stats.TimedOut, time.Millisecond)
			}
		}()
	}
	wg.Wait()
	g := r.(stats.Gauger)
	g.Gauge(stats.QueueDepth, 42)
	g.Gauge(stats.QueueOldest, int64(1500*time.Millisecond))
	r.Add(stats.Event(250), 1) // unknown events are ignored
	r.Observe(stats.Event(250), time.Second)
	r.ObserveL2(stats.Op(250), stats.OK, time.Second)
	g.Gauge(stats.Event(250), 1)
	rec.Add(stats.L2Hit, 3) // recorded on the Recorder itself: cache=""

	got := series(t, reg)
	for name, v := range map[string]float64{
		`tiercache_requests_total{cache=c,result=hit,tier=l1}`:     8000,
		`tiercache_write_behind_queued_total{cache=c}`:             16000,
		`tiercache_load_duration_seconds{cache=c,result=success}`:  8000,
		`tiercache_early_refreshes_total{cache=c}`:                 8000,
		`tiercache_l2_calls_total{cache=c,op=get,outcome=timeout}`: 8000,
		`tiercache_l2_call_duration_seconds{cache=c,op=get}`:       8000,
		`tiercache_write_behind_queue_depth{cache=c}`:              42,
		`tiercache_write_behind_oldest_seconds{cache=c}`:           1.5,
		`tiercache_requests_total{cache=,result=hit,tier=l2}`:      3,
	} {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
	if _, ok := got[`tiercache_requests_total{cache=,result=hit,tier=l1}`]; ok {
		t.Error(`cache="" sends counters it never counted`)
	}
	if _, ok := got[`tiercache_l2_calls_total{cache=c,op=get,outcome=ok}`]; ok {
		t.Error("an L2 outcome that never happened is sent")
	}

	// Levels of two caches of one name add up; a stopped poller is gone.
	p := r.(stats.Poller)
	stop1 := p.Poll(func() stats.Levels {
		return stats.Levels{L1Entries: 3, L1Cost: 300, L1MaxCost: 1000, L1Evictions: 5, L1Rejections: -1, L2: true, Unsettled: 2}
	})
	stop2 := p.Poll(func() stats.Levels {
		return stats.Levels{L1Entries: -1, L1Cost: 100, L1MaxCost: 1000, L1Evictions: 1, L1Rejections: -1, L2: true, L2Down: true, L1Off: true}
	})
	got = series(t, reg)
	for name, v := range map[string]float64{
		`tiercache_l1_entries{cache=c}`:         3,
		`tiercache_l1_cost_bytes{cache=c}`:      400,
		`tiercache_l1_max_cost_bytes{cache=c}`:  2000,
		`tiercache_l1_evictions_total{cache=c}`: 6,
		`tiercache_l2_down{cache=c}`:            1,
		`tiercache_l1_off{cache=c}`:             1,
		`tiercache_unsettled_keys{cache=c}`:     2,
	} {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
	if _, ok := got[`tiercache_l1_rejections_total{cache=c}`]; ok {
		t.Error("rejections sent though no store counts them")
	}
	stop1()
	stop2()
	if _, ok := series(t, reg)[`tiercache_l1_cost_bytes{cache=c}`]; ok {
		t.Error("levels sent after both pollers stopped")
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestNew_Invalid(t *testing.T) {
	if _, err := promstats.New(nil); !errors.Is(err, promstats.ErrInvalidOptions) {
		t.Errorf("New(nil): %v", err)
	}
	reg := prometheus.NewRegistry()
	if _, err := promstats.New(&promstats.Options{Registerer: reg, Buckets: []float64{1, 1}}); !errors.Is(err, promstats.ErrInvalidOptions) {
		t.Errorf("New with buckets 1, 1: %v", err)
	}
	if _, err := promstats.New(&promstats.Options{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	var already prometheus.AlreadyRegisteredError
	if _, err := promstats.New(&promstats.Options{Registerer: reg}); !errors.As(err, &already) {
		t.Errorf("a second Recorder on one registry: %v", err)
	}
}

// TestAlloc_L1Hit: the Prometheus recorder adds no allocation to an L1 hit.
func TestAlloc_L1Hit(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts; make test runs this without it")
	}
	rec, _ := newRecorder(t)
	c, err := tiered.New(&tiered.Options[string, int]{Name: "n", Stats: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	ctx := context.Background()
	if err := c.Set(ctx, "k", 1); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(1000, func() { _, _ = c.Get(ctx, "k") }); a != 0 {
		t.Fatalf("L1 hit with the Prometheus recorder: %v allocs, want 0", a)
	}
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
