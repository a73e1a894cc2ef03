package promstats_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// handRecorder is what a user writes without the adapter: a Recorder over
// client_golang counters, bound to their labels once (no lookup per
// event). It is the baseline of the adapter's striped counters.
type handRecorder struct {
	counters []prometheus.Counter // by event
}

func newHandRecorder(reg prometheus.Registerer) *handRecorder {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hand_events_total", Help: "Events of the cache.",
	}, []string{"event"})
	reg.MustRegister(vec)
	h := &handRecorder{}
	for _, ev := range stats.Events() {
		h.counters = append(h.counters, vec.WithLabelValues(ev.String()))
	}
	return h
}

func (h *handRecorder) Add(ev stats.Event, n int) {
	if int(ev) < len(h.counters) {
		h.counters[ev].Add(float64(n))
	}
}

func (h *handRecorder) Observe(ev stats.Event, _ time.Duration) { h.Add(ev, 1) }

func (h *handRecorder) ObserveL2(stats.Op, stats.Outcome, time.Duration) {}

// BenchmarkGet_L1Hit measures an L1 hit with the Prometheus recorder
// beside the no-op recorder (the cache's default), the in-memory
// stats.Counter, and a Recorder written by hand over client_golang
// counters, on one goroutine and on every core.
func BenchmarkGet_L1Hit(b *testing.B) {
	const n = 1024
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	rec, _ := newRecorder(b)
	recorders := []struct {
		name string
		rec  stats.Recorder
	}{
		{"noop", nil},
		{"counter", &stats.Counter{}},
		{"prometheus", rec},
		{"client_golang-by-hand", newHandRecorder(prometheus.NewRegistry())},
	}
	ctx := context.Background()
	for _, r := range recorders {
		c, err := tiered.New(&tiered.Options[string, int]{Name: "bench", Stats: r.rec})
		if err != nil {
			b.Fatal(err)
		}
		for i, k := range keys {
			if err := c.Set(ctx, k, i); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(r.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := c.Get(ctx, keys[i%n]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(r.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					if _, err := c.Get(ctx, keys[i%n]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		_ = c.Close()
	}
}
