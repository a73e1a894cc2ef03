package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape is one read of /metrics: its text and its families by name.
type scrape struct {
	text     []byte
	families map[string]*dto.MetricFamily
}

// scrapeMetrics reads base/metrics in the text format, as Prometheus
// would (without asking for protobuf or OpenMetrics).
func scrapeMetrics(ctx context.Context, client *http.Client, base string) (*scrape, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape: %s: %s", resp.Status, text)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("scrape: parse: %w", err)
	}
	return &scrape{text: text, families: families}, nil
}

// familySum is what one family holds: its series, and the sum of their
// values (of their sample counts for histograms and summaries).
type familySum struct {
	Name   string
	Type   dto.MetricType
	Series int
	Sum    float64
}

// sums returns the families whose name starts with prefix, by name.
func (s *scrape) sums(prefix string) []familySum {
	var out []familySum
	for name, mf := range s.families {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		f := familySum{Name: name, Type: mf.GetType(), Series: len(mf.GetMetric())}
		for _, m := range mf.GetMetric() {
			f.Sum += sampleValue(mf.GetType(), m)
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b familySum) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// sampleValue is a series' value: its count for a histogram or summary.
func sampleValue(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	case dto.MetricType_SUMMARY:
		return float64(m.GetSummary().GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}

// value returns the sum of the series of family name whose labels include
// every pair of match.
func (s *scrape) value(name string, match map[string]string) float64 {
	mf := s.families[name]
	var sum float64
	for _, m := range mf.GetMetric() {
		if hasLabels(m, match) {
			sum += sampleValue(mf.GetType(), m)
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, match map[string]string) bool {
	found := 0
	for _, lp := range m.GetLabel() {
		if v, ok := match[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			found++
		}
	}
	return found == len(match)
}

// hits are the counts behind the two hit ratios: of the lookups (GETs),
// those answered by L1, and those answered by L2. The report reads them
// twice over the same GETs: from the cache's metrics (the difference of a
// scrape taken just before the load and one after it), and from the
// X-Cache headers that the generator received.
//
// The lookups and the L1 hits are equal, exactly:
//
//   - Between the two scrapes only the handler's Gets count lookups
//     (tiercache_requests_total{tier="l1"}: one per Get). Warming, whose
//     GetMany counts them too, ends before the first scrape; writes
//     (WriteThrough, WriteBehind, DeleteThrough), CDC evictions,
//     background refreshes, lease waits and the write-behind flusher count
//     none. The handler does not call GetMany.
//   - Every GET that ran Get is answered with an X-Cache header (l1, l2,
//     loader, or none for an error), and the generator receives every
//     answer: no request is cancelled once sent (its context is detached
//     from the run's; the server shuts down after the last scrape). A GET
//     the client gave up on (its 10 s timeout, counted as failed) would be
//     counted by the cache and not by the generator: the only way for the
//     two to differ, and the test checks that none failed.
//   - Get counts an L1 hit exactly when it answers from L1 (tiered/get.go);
//     the one exception, a value of L1 served by StaleIfError after its
//     load failed (counted as a miss), needs StaleIfError, which is off.
//
// The L2 answers are equal too: a Get answers from L2 either with its own
// read (tiercache_requests_total{tier="l2",result="hit"}) or, when that
// read missed, with a value stored in L2 meanwhile, found by the load it
// joined or waited for (another replica's, under a lease):
// tiercache_l2_late_hits_total. The metrics' L2 count is their sum.
type hits struct {
	Lookups, L1, L2 int64
}

// metricHits reads the hits of the product cache from a scrape:
// tiercache_requests_total{tier="l1"} (hit and miss) are the lookups,
// {tier="l1",result="hit"} the L1 hits, and {tier="l2",result="hit"} plus
// tiercache_l2_late_hits_total the answers from L2.
func (s *scrape) metricHits() hits {
	const name = "tiercache_requests_total"
	get := func(tier, result string) int64 {
		m := map[string]string{"cache": cacheName, "tier": tier}
		if result != "" {
			m["result"] = result
		}
		return int64(s.value(name, m))
	}
	late := int64(s.value("tiercache_l2_late_hits_total", map[string]string{"cache": cacheName}))
	return hits{Lookups: get("l1", ""), L1: get("l1", "hit"), L2: get("l2", "hit") + late}
}

func (h hits) minus(o hits) hits {
	return hits{Lookups: h.Lookups - o.Lookups, L1: h.L1 - o.L1, L2: h.L2 - o.L2}
}

// ratio formats n/of.
func ratio(n, of int64) string {
	if of == 0 {
		return fmt.Sprintf("%d/%d", n, of)
	}
	return fmt.Sprintf("%d/%d = %.4f", n, of, float64(n)/float64(of))
}
