package promstats

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tiercache/tiercache/tiered/stats"
)

// levelFamilies are the families read from the caches' levels at a scrape.
var levelFamilies = []*family{
	famL1Entries, famL1Cost, famL1MaxCost, famL1Evictions, famL1Rejections,
	famL2Down, famL1Off, famUnsettledNow,
}

// Describe sends the descriptions of every metric the Recorder exports.
func (r *Recorder) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range r.descs {
		ch <- d
	}
	for _, h := range r.hists {
		h.Describe(ch)
	}
	for _, g := range r.gauges {
		g.Describe(ch)
	}
}

// Collect reads every counter, histogram and gauge, and the levels of
// every cache that is open.
func (r *Recorder) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	caches := make([]*cacheRecorder, 0, len(r.caches)+1)
	if r.none != nil {
		caches = append(caches, r.none)
	}
	for _, c := range r.caches {
		caches = append(caches, c)
	}
	r.mu.Unlock()
	for _, c := range caches {
		r.collectCounters(ch, c)
		r.collectLevels(ch, c)
	}
	for _, h := range r.hists {
		h.Collect(ch)
	}
	for _, g := range r.gauges {
		g.Collect(ch)
	}
}

// collectCounters sends c's counters: every family while a cache of c's
// name is open (a dashboard sees 0, not nothing), and otherwise only what
// was counted. A recorder that no cache polls (the CDC engine's, the
// Recorder's own cache="", caches closed since) sends no zeros of
// families it never feeds.
func (r *Recorder) collectCounters(ch chan<- prometheus.Metric, c *cacheRecorder) {
	c.mu.Lock()
	open := len(c.pollers) > 0
	c.mu.Unlock()
	for ev, rt := range counterRoutes {
		n := c.count(ev)
		if n == 0 && !open {
			continue
		}
		ch <- prometheus.MustNewConstMetric(r.descs[rt.fam], prometheus.CounterValue, float64(n), rt.labelValues(c.name)...)
	}
	for op := range c.calls {
		for o := range c.calls[op] {
			// Calls are sent once they happened: 17 operations by 4
			// outcomes would be mostly zeros.
			if n := c.calls[op][o].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(r.descs[famL2Calls], prometheus.CounterValue, float64(n),
					c.name, stats.Op(op).String(), stats.Outcome(o).String())
			}
		}
	}
}

// collectLevels sends the levels of the caches of c's name that are open
// (added up, when several share the name).
func (r *Recorder) collectLevels(ch chan<- prometheus.Metric, c *cacheRecorder) {
	c.mu.Lock()
	reads := make([]func() stats.Levels, 0, len(c.pollers))
	for p := range c.pollers {
		reads = append(reads, p.levels)
	}
	c.mu.Unlock()
	if len(reads) == 0 {
		return
	}
	var sum stats.Levels
	var entries, cost, evictions, rejections, l2, down, off bool
	for _, read := range reads {
		lv := read()
		entries = addKnown(&sum.L1Entries, lv.L1Entries) || entries
		cost = addKnown(&sum.L1Cost, lv.L1Cost) || cost
		evictions = addKnown(&sum.L1Evictions, lv.L1Evictions) || evictions
		rejections = addKnown(&sum.L1Rejections, lv.L1Rejections) || rejections
		sum.L1MaxCost += lv.L1MaxCost
		sum.Unsettled += lv.Unsettled
		l2 = l2 || lv.L2
		down = down || lv.L2Down
		off = off || lv.L1Off
	}
	send := func(f *family, t prometheus.ValueType, v float64) {
		ch <- prometheus.MustNewConstMetric(r.descs[f], t, v, c.name)
	}
	if entries {
		send(famL1Entries, prometheus.GaugeValue, float64(sum.L1Entries))
	}
	if cost {
		send(famL1Cost, prometheus.GaugeValue, float64(sum.L1Cost))
		send(famL1MaxCost, prometheus.GaugeValue, float64(sum.L1MaxCost))
	}
	if evictions {
		send(famL1Evictions, prometheus.CounterValue, float64(sum.L1Evictions))
	}
	if rejections {
		send(famL1Rejections, prometheus.CounterValue, float64(sum.L1Rejections))
	}
	if l2 {
		send(famL2Down, prometheus.GaugeValue, b2f(down))
	}
	send(famL1Off, prometheus.GaugeValue, b2f(off))
	send(famUnsettledNow, prometheus.GaugeValue, float64(sum.Unsettled))
}

// addKnown adds v to *sum unless v is negative (unknown), and reports
// whether it did.
func addKnown(sum *int64, v int64) bool {
	if v < 0 {
		return false
	}
	*sum += v
	return true
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
