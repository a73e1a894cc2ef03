package stats_test

import (
	"fmt"

	"github.com/tiercache/tiercache/tiered/stats"
)

func ExampleCounter() {
	var c stats.Counter // pass &c as tiered.Options.Stats
	c.Add(stats.L1Hit, 3)
	c.Add(stats.L1Miss, 1)
	s := c.Snapshot()
	fmt.Println(s.Get(stats.L1Hit), s.HitRatio(stats.L1Hit))
	// Output: 3 0.75
}
