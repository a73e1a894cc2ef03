package promstats_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/tiercache/tiercache/tiered"
	"github.com/tiercache/tiercache/tiered/stats"
)

// BenchmarkGet_L1Hit measures an L1 hit with the Prometheus recorder
// beside the no-op recorder (the cache's default) and the in-memory
// stats.Counter, on one goroutine and on every core.
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
